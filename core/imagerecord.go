package core

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/plainjson"
	"github.com/opencontainers/go-digest"
)

// imageRecord is what the manifests bucket holds per image: small, so that
// walking a repository of many images decodes little. What a manifest lists
// (layers, children) is read from its bytes when it is needed.
type imageRecord struct {
	MediaType       string            `json:"mediaType"`
	Size            int64             `json:"size"`
	ArtifactType    string            `json:"artifactType,omitempty"`
	ImageSize       int64             `json:"imageSize"`
	ConfigMediaType string            `json:"configMediaType,omitempty"`
	Subject         *Descriptor       `json:"subject,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
	PushedAt        time.Time         `json:"pushedAt"`
	LastPulledAt    time.Time         `json:"lastPulledAt,omitzero"`
	Archived        bool              `json:"archived,omitempty"`
	ArchivedAt      time.Time         `json:"archivedAt,omitzero"`
	ActivatedAt     time.Time         `json:"activatedAt,omitzero"`
}

func recordOf(img *Image) imageRecord {
	return imageRecord{MediaType: img.MediaType, Size: img.Size, ArtifactType: img.ArtifactType, ImageSize: img.ImageSize,
		ConfigMediaType: img.ConfigMediaType, Subject: img.Subject, Annotations: img.Annotations, PushedAt: img.PushedAt,
		LastPulledAt: img.LastPulledAt, Archived: img.Archived, ArchivedAt: img.ArchivedAt, ActivatedAt: img.ActivatedAt}
}

func (rec *imageRecord) image(dg digest.Digest) Image {
	return Image{Digest: dg, MediaType: rec.MediaType, Size: rec.Size, ArtifactType: rec.ArtifactType, ImageSize: rec.ImageSize,
		ConfigMediaType: rec.ConfigMediaType, Subject: rec.Subject, Annotations: rec.Annotations, PushedAt: rec.PushedAt,
		LastPulledAt: rec.LastPulledAt, Archived: rec.Archived, ArchivedAt: rec.ArchivedAt, ActivatedAt: rec.ActivatedAt}
}

// sameRecord reports whether b's fields are a's, so that b encodes to a's
// encoding: a push of a stored manifest (a retag) rebuilds the record it
// read, and need not encode it to find it unchanged. Times are compared
// with ==, as copied values: two instants written alike but held apart
// (another location) count as different, and are then encoded and
// compared as bytes.
func sameRecord(a, b *imageRecord) bool {
	return a.MediaType == b.MediaType && a.Size == b.Size && a.ArtifactType == b.ArtifactType && a.ImageSize == b.ImageSize &&
		a.ConfigMediaType == b.ConfigMediaType && sameDescriptor(a.Subject, b.Subject) && maps.Equal(a.Annotations, b.Annotations) &&
		a.PushedAt == b.PushedAt && a.LastPulledAt == b.LastPulledAt && a.Archived == b.Archived &&
		a.ArchivedAt == b.ArchivedAt && a.ActivatedAt == b.ActivatedAt
}

func sameDescriptor(a, b *Descriptor) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.MediaType == b.MediaType && a.Digest == b.Digest && a.Size == b.Size && a.ArtifactType == b.ArtifactType &&
		maps.Equal(a.Annotations, b.Annotations)
}

// decodeRecord decodes an image record exactly as json.Unmarshal would.
// Records are read far more often than written (a DescribeImages page
// decodes 100, a lifecycle pass every one), and encoding/json's reflection
// was most of the cost of walking a repository; so the shape putJSON writes
// (compact, known keys once each, strings without escapes) is read here
// directly, and anything else goes to encoding/json, which then decides.
func decodeRecord(b []byte, rec *imageRecord) error {
	b = recordPart(b) // an image's value holds its manifest's bytes after it
	*rec = imageRecord{}
	if (&recordReader{jsonScan: jsonScan{b: b}}).record(rec) {
		return nil
	}
	return decodeRecordJSON(b, rec)
}

// lastPushedRecord is the last stored record a push decoded, with its bytes:
// a push of a stored manifest under a new tag (ECR's retag, a CI pipeline's
// unchanged image) finds the same record again, and decoding it was ≈ 3% of
// such a push's instructions. A record is a function of its bytes, so the
// entry never goes stale; registries may share it.
var lastPushedRecord atomic.Pointer[rememberedRecord]

type rememberedRecord struct {
	b   []byte // the memo's own copy
	rec imageRecord
}

// decodePushedRecord is decodeRecord of a record part (recordPart) for a
// push, which only reads it: the record may share its annotations and
// subject with other pushes of the same bytes.
func decodePushedRecord(b []byte, rec *imageRecord) error {
	if last := lastPushedRecord.Load(); last != nil && bytes.Equal(last.b, b) {
		*rec = last.rec
		return nil
	}
	if err := decodeRecord(b, rec); err != nil {
		return err
	}
	lastPushedRecord.Store(&rememberedRecord{b: bytes.Clone(b), rec: *rec})
	return nil
}

// decodeRecordJSON is decodeRecord's encoding/json path. It decodes into a
// record of its own, so that only this path allocates one: a caller's
// record, passed on to json.Unmarshal, would be on the heap on every path.
func decodeRecordJSON(b []byte, rec *imageRecord) error {
	v := new(imageRecord)
	err := json.Unmarshal(b, v)
	*rec = *v
	return err
}

// decodeStorageClass reads only what an image record says of its storage
// class (archived, activatedAt) into id: what a listing of ids filters on.
// The rest of the record is checked for its shape but not kept, so that
// reading it allocates nothing; a record the reader does not take is
// decoded whole, by decodeRecord, which then decides.
func decodeStorageClass(b []byte, id *ImageID) error {
	b = recordPart(b)
	var rec imageRecord // stays on the stack: the fallback decodes into its own
	if (&recordReader{jsonScan: jsonScan{b: b}, skim: true}).record(&rec) {
		id.Archived, id.ActivatedAt = rec.Archived, rec.ActivatedAt
		return nil
	}
	full := new(imageRecord)
	if err := decodeRecord(b, full); err != nil {
		return err
	}
	id.Archived, id.ActivatedAt = full.Archived, full.ActivatedAt
	return nil
}

// saysNoStorageClass reports, from its ends alone, that an image record as
// the store holds it says nothing of a storage class (not archived, no
// activatedAt): what a listing of ids wants of nearly every image, without
// reading the whole record (decodeStorageClass's skim was a fifth of a
// ListImages call). Every stored record is written by appendRecord (a
// push, a storage class change, pull times) or json.Marshal (its fallback,
// and an upgrade: schema.go): the same bytes, whose members
// come in imageRecord's order, which no layout since 2 has changed
// (layout 1's records are rewritten on upgrade). The storage class is its
// last three members, after pushedAt and lastPulledAt; so a record that
// begins as those do and whose last member is pushedAt or lastPulledAt has
// none. Reading its last member from the end is exact for valid JSON: the
// record ends with a string closing the outer object; the last quote before
// that string's closing one is its opening quote when a colon is before it
// (an escaped quote has a backslash before it), and the name before the
// colon is delimited by unescaped quotes (a comma before the first, no
// quote within). false says nothing: decodeStorageClass then
// reads the record. A record not written so (hand-made, or damaged in
// between) may be taken for one without a storage class; readers of whole
// records (DescribeImages, BatchGetImage, the iterator) still report it.
func saysNoStorageClass(rec []byte) bool {
	const start, pushed, pulled = `{"mediaType":"`, `,"pushedAt":`, `,"lastPulledAt":`
	// Compared as strings of constant length: a few loads, no call.
	n := len(rec) - 2
	if n < len(start) || rec[n] != '"' || rec[n+1] != '}' || string(rec[:len(start)]) != start {
		return false
	}
	// q: the last quote before the closing one, the last value's opening
	// quote if a colon is before it. A time is 20 to 35 bytes: it is
	// looked for forwards in the last 40 (IndexByte is vectorized,
	// LastIndexByte a loop of a byte at a time), then before them.
	q, from := -1, max(0, n-40)
	for at := from; ; {
		j := bytes.IndexByte(rec[at:n], '"')
		if j < 0 {
			break
		}
		q, at = at+j, at+j+1
	}
	if q < 0 {
		q = bytes.LastIndexByte(rec[:from], '"')
	}
	if q < len(pushed) || q == n-1 {
		return false
	}
	return string(rec[q-len(pushed):q]) == pushed || q >= len(pulled) && string(rec[q-len(pulled):q]) == pulled
}

// recordReader reads the JSON putJSON writes for an imageRecord. Each method
// reports false on anything it does not handle, valid JSON or not. A
// skimming reader keeps only the storage class (archived, activatedAt).
type recordReader struct {
	jsonScan
	skim bool
}

// key reads a member's name. Only the names below are taken, plain ASCII
// all, so a name is its bytes up to the next quote: one with an escape, a
// control character or other bytes matches none of them.
func (r *recordReader) key() ([]byte, bool) {
	if !r.next('"') {
		return nil, false
	}
	j := bytes.IndexByte(r.b[r.i:], '"')
	if j < 0 {
		return nil, false
	}
	k := r.b[r.i : r.i+j]
	r.i += j + 1
	return k, true
}

// value reads a string value, or skims one that is not kept: a string
// without escapes ends at the next quote.
func (r *recordReader) value() ([]byte, bool) {
	if !r.skim {
		return r.plainString()
	}
	if !r.next('"') {
		return nil, false
	}
	j := bytes.IndexByte(r.b[r.i:], '"')
	if j < 0 || bytes.IndexByte(r.b[r.i:r.i+j], '\\') >= 0 {
		return nil, false
	}
	r.i += j + 1
	return nil, true
}

// int reads an integer as encoding/json would into an int64.
func (r *recordReader) int() (int64, bool) {
	start := r.i
	r.next('-')
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i == digits || r.b[digits] == '0' && r.i-digits > 1 {
		return 0, false
	}
	if r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
	return n, err == nil
}

// time reads a time through time.Time's own UnmarshalJSON, as encoding/json
// does; skipping, only as a string.
func (r *recordReader) time(t *time.Time, skip bool) bool {
	start := r.i
	if skip {
		_, ok := r.value()
		return ok
	}
	if _, ok := r.plainString(); !ok {
		return false
	}
	return t.UnmarshalJSON(r.b[start:r.i]) == nil
}

func (r *recordReader) bool() (bool, bool) {
	switch {
	case bytes.HasPrefix(r.b[r.i:], []byte("true")):
		r.i += 4
		return true, true
	case bytes.HasPrefix(r.b[r.i:], []byte("false")):
		r.i += 5
		return false, true
	}
	return false, false
}

// strings reads an object of strings into a new map.
func (r *recordReader) strings() (map[string]string, bool) {
	if !r.next('{') {
		return nil, false
	}
	var m map[string]string
	if !r.skim {
		m = map[string]string{}
	}
	if r.next('}') {
		return m, true
	}
	for {
		k, ok := r.value()
		if !ok || !r.next(':') {
			return nil, false
		}
		v, ok := r.value()
		if !ok {
			return nil, false
		}
		if !r.skim {
			m[string(k)] = string(v)
		}
		if r.next('}') {
			return m, true
		}
		if !r.next(',') {
			return nil, false
		}
	}
}

// descriptor hands a subject's object to encoding/json: rare, and nested.
func (r *recordReader) descriptor() (*Descriptor, bool) {
	if r.i == len(r.b) || r.b[r.i] != '{' {
		return nil, false
	}
	start, depth, in := r.i, 0, false
	for ; r.i < len(r.b); r.i++ {
		c := r.b[r.i]
		switch {
		case in && c == '\\':
			r.i++
		case c == '"':
			in = !in
		case in:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				r.i++
				if r.skim {
					return nil, json.Valid(r.b[start:r.i])
				}
				d := new(Descriptor)
				return d, json.Unmarshal(r.b[start:r.i], d) == nil
			}
		}
	}
	return nil, false
}

// mediaTypeString is string(b), without a copy for the media types nearly
// every record names: a page of images reads three per image.
func mediaTypeString(b []byte) string {
	switch string(b) {
	case MediaTypeOCIManifest:
		return MediaTypeOCIManifest
	case MediaTypeOCIIndex:
		return MediaTypeOCIIndex
	case MediaTypeDockerManifest:
		return MediaTypeDockerManifest
	case MediaTypeDockerManifestList:
		return MediaTypeDockerManifestList
	case mediaTypeOCIConfig:
		return mediaTypeOCIConfig
	case mediaTypeDockerConfig:
		return mediaTypeDockerConfig
	case MediaTypeOCIEmpty:
		return MediaTypeOCIEmpty
	case mediaTypeOCILayerGzip:
		return mediaTypeOCILayerGzip
	case mediaTypeDockerLayerGzip:
		return mediaTypeDockerLayerGzip
	}
	return string(b)
}

const (
	mediaTypeOCIConfig    = "application/vnd.oci.image.config.v1+json"
	mediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json"
	// the layers of nearly every image a manifest lists
	mediaTypeOCILayerGzip    = "application/vnd.oci.image.layer.v1.tar+gzip"
	mediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// The keys of an imageRecord, to see each once.
const (
	keyMediaType = 1 << iota
	keySize
	keyArtifactType
	keyImageSize
	keyConfigMediaType
	keySubject
	keyAnnotations
	keyPushedAt
	keyLastPulledAt
	keyArchived
	keyArchivedAt
	keyActivatedAt
)

func (r *recordReader) record(rec *imageRecord) bool {
	if !r.next('{') {
		return false
	}
	if r.next('}') {
		return r.i == len(r.b)
	}
	seen := 0
	for {
		k, ok := r.key()
		if !ok || !r.next(':') {
			return false
		}
		var key int
		var s []byte
		switch string(k) {
		case "mediaType":
			key = keyMediaType
			if s, ok = r.value(); ok && !r.skim {
				rec.MediaType = mediaTypeString(s)
			}
		case "size":
			key = keySize
			rec.Size, ok = r.int()
		case "artifactType":
			key = keyArtifactType
			if s, ok = r.value(); ok && !r.skim {
				rec.ArtifactType = mediaTypeString(s)
			}
		case "imageSize":
			key = keyImageSize
			rec.ImageSize, ok = r.int()
		case "configMediaType":
			key = keyConfigMediaType
			if s, ok = r.value(); ok && !r.skim {
				rec.ConfigMediaType = mediaTypeString(s)
			}
		case "subject":
			key = keySubject
			rec.Subject, ok = r.descriptor()
		case "annotations":
			key = keyAnnotations
			rec.Annotations, ok = r.strings()
		case "pushedAt":
			key = keyPushedAt
			ok = r.time(&rec.PushedAt, r.skim)
		case "lastPulledAt":
			key = keyLastPulledAt
			ok = r.time(&rec.LastPulledAt, r.skim)
		case "archived":
			key = keyArchived
			rec.Archived, ok = r.bool()
		case "archivedAt":
			key = keyArchivedAt
			ok = r.time(&rec.ArchivedAt, r.skim)
		case "activatedAt":
			key = keyActivatedAt
			ok = r.time(&rec.ActivatedAt, false)
		default:
			return false // encoding/json ignores unknown keys and matches keys without regard to case
		}
		if !ok || seen&key != 0 {
			return false
		}
		seen |= key
		if r.next('}') {
			return r.i == len(r.b)
		}
		if !r.next(',') {
			return false
		}
	}
}

// encodeRecord is json.Marshal(rec), written directly when every string is
// plain (printable ASCII that encoding/json writes as it is), as nearly
// every record is: each push writes one, and encoding/json's reflection
// was a noticeable share of a small push. Anything else is left to
// encoding/json. TestEncodeRecordIsJSONMarshal holds it to that.
func encodeRecord(rec *imageRecord) ([]byte, error) {
	if b, ok := appendRecord(make([]byte, 0, 320), rec); ok {
		return b, nil
	}
	v := *rec // on the heap on this path only (see decodeRecordJSON)
	return json.Marshal(&v)
}

func appendPlain(b []byte, name, s string) ([]byte, bool) {
	b = append(b, name...)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), plainjson.String(s)
}

func appendInt(b []byte, name string, n int64) []byte {
	return strconv.AppendInt(append(b, name...), n, 10)
}

// appendTime writes a time as time.Time's MarshalJSON does.
func appendTime(b []byte, name string, t time.Time) ([]byte, bool) {
	b = append(append(b, name...), '"')
	b, err := t.AppendText(b)
	return append(b, '"'), err == nil
}

// appendStrings writes a map of strings as encoding/json does: keys in
// byte order.
func appendStrings(b []byte, name string, m map[string]string) ([]byte, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, name...)
	ok := true
	for i, k := range keys {
		sep := ","
		if i == 0 {
			sep = "{"
		}
		var okk, okv bool
		b, okk = appendPlain(b, sep, k)
		b, okv = appendPlain(b, ":", m[k])
		ok = ok && okk && okv
	}
	return append(b, '}'), ok
}

func appendDescriptor(b []byte, name string, d *Descriptor) ([]byte, bool) {
	b, ok := appendPlain(b, name+`{"mediaType":`, d.MediaType)
	b, ok2 := appendPlain(b, `,"digest":`, string(d.Digest))
	b = appendInt(b, `,"size":`, d.Size)
	ok3, ok4 := true, true
	if d.ArtifactType != "" {
		b, ok3 = appendPlain(b, `,"artifactType":`, d.ArtifactType)
	}
	if len(d.Annotations) > 0 {
		b, ok4 = appendStrings(b, `,"annotations":`, d.Annotations)
	}
	return append(b, '}'), ok && ok2 && ok3 && ok4
}

// appendRecord writes rec's fields in imageRecord's order, leaving out what
// its tags omit.
func appendRecord(b []byte, rec *imageRecord) ([]byte, bool) {
	all := true
	note := func(nb []byte, ok bool) {
		b, all = nb, all && ok
	}
	note(appendPlain(b, `{"mediaType":`, rec.MediaType))
	b = appendInt(b, `,"size":`, rec.Size)
	if rec.ArtifactType != "" {
		note(appendPlain(b, `,"artifactType":`, rec.ArtifactType))
	}
	b = appendInt(b, `,"imageSize":`, rec.ImageSize)
	if rec.ConfigMediaType != "" {
		note(appendPlain(b, `,"configMediaType":`, rec.ConfigMediaType))
	}
	if rec.Subject != nil {
		note(appendDescriptor(b, `,"subject":`, rec.Subject))
	}
	if len(rec.Annotations) > 0 {
		note(appendStrings(b, `,"annotations":`, rec.Annotations))
	}
	note(appendTime(b, `,"pushedAt":`, rec.PushedAt))
	if !rec.LastPulledAt.IsZero() {
		note(appendTime(b, `,"lastPulledAt":`, rec.LastPulledAt))
	}
	if rec.Archived {
		b = append(b, `,"archived":true`...)
	}
	if !rec.ArchivedAt.IsZero() {
		note(appendTime(b, `,"archivedAt":`, rec.ArchivedAt))
	}
	if !rec.ActivatedAt.IsZero() {
		note(appendTime(b, `,"activatedAt":`, rec.ActivatedAt))
	}
	return append(b, '}'), all
}
