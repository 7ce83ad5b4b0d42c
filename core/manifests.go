package core

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"iter"
	"mime"
	"slices"
	"strings"
	"sync"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Manifest media types berth stores.
const (
	MediaTypeOCIManifest        = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex           = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeOCIEmpty           = "application/vnd.oci.empty.v1+json"

	// MaxManifestSize is ECR's limit on a manifest's size.
	MaxManifestSize = 4 << 20
)

func isIndexType(mt string) bool { return mt == MediaTypeOCIIndex || mt == MediaTypeDockerManifestList }

func isManifestType(mt string) bool {
	switch mt {
	case MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		return true
	}
	return false
}

// nonDistributable layers are, by design, not pushed to the registry.
func nonDistributable(mt string) bool {
	return strings.Contains(mt, ".nondistributable.") || strings.Contains(mt, ".rootfs.foreign.")
}

type rawDescriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	Data         []byte            `json:"data,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type rawManifest struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *rawDescriptor    `json:"config"`
	Layers        []rawDescriptor   `json:"layers"`
	Manifests     []rawDescriptor   `json:"manifests"`
	Subject       *rawDescriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

func invalidManifest(format string, args ...any) error {
	return Errorf(KindManifestInvalid, "manifest invalid: "+format, args...)
}

func (d *rawDescriptor) descriptor(what string) (Descriptor, error) {
	dg, err := ParseDigest(d.Digest)
	if err != nil {
		return Descriptor{}, invalidManifest("%s has an invalid digest '%s'", what, d.Digest)
	}
	if d.Size < 0 {
		return Descriptor{}, invalidManifest("%s has a negative size", what)
	}
	if d.Data != nil && (int64(len(d.Data)) != d.Size || dg.Algorithm().FromBytes(d.Data) != dg) {
		return Descriptor{}, invalidManifest("%s has data that does not match its digest and size", what)
	}
	return Descriptor{MediaType: d.MediaType, Digest: dg, Size: d.Size, ArtifactType: d.ArtifactType, Annotations: d.Annotations}, nil
}

// ParseManifest checks that body is a manifest or index berth can store and
// extracts what core tracks. contentType is the client's declared media type
// (may be empty).
func ParseManifest(body []byte, contentType string) (Manifest, error) {
	var raw rawManifest
	if err := decodeManifest(body, &raw); err != nil {
		return Manifest{}, err
	}
	return raw.manifest(body, contentType)
}

// decodeManifest decodes a manifest's JSON, by readManifestJSON when it
// takes the body, by encoding/json otherwise.
func decodeManifest(body []byte, raw *rawManifest) error {
	if readManifestJSON(body, raw) {
		return nil
	}
	*raw = rawManifest{}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(raw); err != nil {
		return invalidManifest("not valid JSON: %v", err)
	}
	if dec.More() {
		return invalidManifest("trailing data after the JSON document")
	}
	return nil
}

// manifest checks a decoded manifest (ParseManifest's rules).
func (raw *rawManifest) manifest(body []byte, contentType string) (Manifest, error) {
	if raw.SchemaVersion == nil || *raw.SchemaVersion != 2 {
		return Manifest{}, invalidManifest("schemaVersion must be 2")
	}
	ct := declaredType(contentType)
	mt := raw.MediaType
	switch {
	case isManifestType(ct) && mt != "" && mt != ct:
		return Manifest{}, invalidManifest("mediaType '%s' does not match Content-Type '%s'", mt, ct)
	case isManifestType(ct):
		mt = ct
	case mt == "" && raw.Manifests != nil:
		mt = MediaTypeOCIIndex
	case mt == "" && raw.Config != nil:
		mt = MediaTypeOCIManifest
	}
	if !isManifestType(mt) {
		return Manifest{}, invalidManifest("unsupported manifest media type '%s'", mt)
	}
	m := Manifest{MediaType: mt, Size: int64(len(body)), ArtifactType: raw.ArtifactType, Annotations: raw.Annotations}
	if isIndexType(mt) {
		if raw.Config != nil || raw.Layers != nil {
			return Manifest{}, invalidManifest("an index has no config or layers")
		}
		for i := range raw.Manifests {
			d, err := raw.Manifests[i].descriptor("manifests entry")
			if err != nil {
				return Manifest{}, err
			}
			m.Children = append(m.Children, d)
		}
	} else {
		if raw.Config == nil {
			return Manifest{}, invalidManifest("an image manifest needs a config")
		}
		if raw.Manifests != nil {
			return Manifest{}, invalidManifest("an image manifest has no manifests list")
		}
		cfg, err := raw.Config.descriptor("config")
		if err != nil {
			return Manifest{}, err
		}
		m.Config = &cfg
		for i := range raw.Layers {
			d, err := raw.Layers[i].descriptor("layer")
			if err != nil {
				return Manifest{}, err
			}
			m.Layers = append(m.Layers, d)
		}
		if m.ArtifactType == "" && mt == MediaTypeOCIManifest {
			m.ArtifactType = cfg.MediaType
		}
	}
	if raw.Subject != nil {
		s, err := raw.Subject.descriptor("subject")
		if err != nil {
			return Manifest{}, err
		}
		m.Subject = &s
	}
	return m, nil
}

// declaredType is the media type a Content-Type declares, as
// mime.ParseMediaType reads it, when that is a manifest type ("" or another
// type otherwise: only a manifest type is used). A type without parameters
// is read without ParseMediaType, which allocates a map for them: what it
// would answer is the type in lower case, without space, which can only be
// a manifest type if it is valid.
func declaredType(contentType string) string {
	if plainASCII(contentType) {
		return strings.TrimSpace(strings.ToLower(contentType))
	}
	ct, _, _ := mime.ParseMediaType(contentType)
	return ct
}

// IsDigestReference tells a digest reference from a tag (tags cannot hold ':').
func IsDigestReference(ref string) bool { return strings.Contains(ref, ":") }

// PutManifestInput is a manifest push.
type PutManifestInput struct {
	Reference   string   // a tag, or the digest the body must hash to
	ContentType string   // the declared media type, may be empty
	Body        []byte   // the exact bytes; only read (a caller may pass a string's)
	Tags        []string // further tags to point at the manifest
	// RejectUnchanged makes a push that stores nothing new (the manifest is
	// there and every tag already points at it) fail with KindImageAlreadyExists.
	RejectUnchanged bool
	// Create says why a missing repository may be created for the push
	// (through the creation templates); empty means CreateOnPush.
	Create CreateReason
	// AllowMissing stores the manifest even when blobs or child manifests it
	// names are not in the repository yet: a pull-through cache fetches them
	// when they are first asked for.
	AllowMissing bool
	// RequireMediaType refuses a body that names no media type of its own
	// when ContentType is empty, before anything else is judged: ECR's
	// PutImage refuses to guess (aws/aws-cli#8620,
	// aws/containers-roadmap#1873, containers/image#584), with an
	// InvalidParameter error in its words.
	RequireMediaType bool
}

// PutManifest validates and stores a manifest and moves its tags, all in one
// transaction. The Image it returns is the stored record, without its tags
// and parents (ResolveImage lists those).
func (r *Registry) PutManifest(ctx context.Context, reg RegistryID, repo string, in PutManifestInput) (Image, error) {
	// What the push works on lives in one variable: the transaction's
	// function below shares it, which puts it on the heap, once rather than
	// field by field.
	var p struct {
		raw    rawManifest
		m      Manifest
		img    Image
		repo   Repository
		events []Event
		tags   [2]string
		again  bool // the manifest was in the repository already
	}
	// A manifest pushed again is not parsed again (manifestmemo.go).
	sum, memo := memoLookup(in.Body, in.ContentType)
	// The body is decoded once: here when its media type must be judged
	// first, below otherwise.
	decoded := false
	if in.RequireMediaType && in.ContentType == "" {
		var declares bool
		if memo != nil {
			declares = memo.declaresType
		} else {
			decoded = len(in.Body) <= MaxManifestSize && readManifestJSON(in.Body, &p.raw)
			if !decoded {
				p.raw = rawManifest{}
			}
			declares = decoded && p.raw.MediaType != "" || !decoded && declaresMediaType(in.Body)
		}
		if !declares {
			return Image{}, InvalidParameter("ImageManifest", "Invalid JSON syntax")
		}
	}
	if len(in.Body) > MaxManifestSize {
		return Image{}, Errorf(KindManifestTooLarge, "manifest is %d bytes; the limit is %d", len(in.Body), MaxManifestSize)
	}
	tags := in.Tags
	var dg digest.Digest
	if IsDigestReference(in.Reference) {
		want, err := ParseDigest(in.Reference)
		if err != nil {
			return Image{}, err
		}
		if dg = sum; want.Algorithm() != digest.SHA256 || sum == "" {
			dg = digestOf(want.Algorithm(), in.Body)
		}
		if dg != want {
			return Image{}, Errorf(KindDigestInvalid, "manifest digest %s does not match the content (%s)", want, dg)
		}
	} else {
		if dg = sum; dg == "" {
			dg = digestOf(digest.SHA256, in.Body)
		}
		tags = append(append(p.tags[:0], in.Reference), tags...) // p's array: no allocation of its own
	}
	for _, t := range tags {
		if !ValidTag(t) {
			return Image{}, Errorf(KindTagInvalid, "invalid tag '%s'", t)
		}
	}
	if memo != nil {
		p.m = memo.m
	} else {
		if !decoded {
			if err := decodeManifest(in.Body, &p.raw); err != nil {
				return Image{}, err
			}
		}
		var err error
		if p.m, err = p.raw.manifest(in.Body, in.ContentType); err != nil {
			return Image{}, err
		}
	}
	m := &p.m
	m.Digest = dg
	tags = slices.Compact(tags)

	push := r.event(ctx, EventPush, reg, repo)
	push.Digest, push.MediaType, push.ArtifactType, push.Size, push.Tags = dg, m.MediaType, m.ArtifactType, m.Size, tags
	if len(tags) > 0 {
		push.Tag = tags[0]
	}
	if m.Subject != nil {
		push.Subject = m.Subject.Digest
	}
	if err := r.bus.check(ctx, push); err != nil {
		return Image{}, err
	}
	reason := in.Create
	if reason == "" {
		reason = CreateOnPush
	}
	// The repository as the push finds it (read into p.repo by
	// updateCreatingRead, in the push's transaction): its settings judge tag
	// moves, and the push event carries them, so that subscribers deciding
	// whether they want it (scan on push, a lifecycle policy) need not read
	// the repository again.
	created, err := r.updateCreatingRead(ctx, reg, repo, reason, &p.repo, func(tx kv.Tx) error {
		p.img, p.events = Image{}, nil // a Batch may run this more than once
		if !in.AllowMissing {
			if err := checkReferences(tx, reg, repo, m); err != nil {
				return err
			}
		}
		st, err := r.storeManifestTx(ctx, tx, reg, repo, m, in.Body, tags, &p.repo)
		if err != nil {
			return err
		}
		if in.RejectUnchanged && !st.changed {
			return Errorf(KindImageAlreadyExists, "Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'", dg, strings.Join(tags, ","), repo, reg.Account)
		}
		p.img, p.events, p.again = st.image, st.events, st.existed
		return nil
	})
	if err != nil {
		return Image{}, err
	}
	if p.again && memo == nil && sum != "" {
		memoPut(sum, in.ContentType, in.Body, &p.m, p.raw.MediaType != "")
	}
	r.publishAll(ctx, created)
	push.Repo = &p.repo
	r.bus.publish(ctx, push)
	r.publishAll(ctx, p.events)
	return p.img, nil
}

// declaresMediaType reports whether a body that readManifestJSON does not
// take names its media type, as json.Unmarshal reads it. One that is not
// JSON at all counts as naming one: ParseManifest judges and words it.
func declaresMediaType(body []byte) bool {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return true
	}
	return m.MediaType != ""
}

func (r *Registry) publishAll(ctx context.Context, events []Event) {
	for _, e := range events {
		r.bus.publish(ctx, e)
	}
}

// stored is what storeManifestTx did.
type stored struct {
	image   Image
	events  []Event // tag moves, and a restore
	changed bool    // anything new: the manifest, a tag, a restore
	existed bool    // the manifest was stored already
}

// storeManifestTx writes a parsed manifest and its exact bytes into repo and
// points tags at it, keeping the indexes (tags, referrers, parents) in step.
// A manifest already there keeps its times and storage class; pushing an
// archived image again restores it, as in ECR. Tags that move must be
// mutable in the repository, whose record settings is when the caller has
// read it already (nil: read here if a tag moves).
func (r *Registry) storeManifestTx(ctx context.Context, tx kv.Tx, reg RegistryID, repo string, m *Manifest, body []byte, tags []string, settings *Repository) (stored, error) {
	dg := m.Digest
	keys := newKeyBuf(reg, repo)
	var old imageRecord
	prevRec := recordPart(tx.Get(bManifests, keys.item(string(dg))))
	existed := prevRec != nil
	if existed {
		if err := decodePushedRecord(prevRec, &old); err != nil {
			return stored{}, corrupt("image", itemKey(reg, repo, string(dg)), err) // a record that cannot be read is never silently replaced
		}
	}
	st := stored{changed: !existed, existed: existed}
	now := r.clock.Now()
	size, err := imageSizeTx(tx, reg, repo, m, true)
	if err != nil {
		return stored{}, err
	}
	img := Image{Digest: dg, MediaType: m.MediaType, ArtifactType: m.ArtifactType, Size: m.Size, ImageSize: size,
		Subject: m.Subject, Annotations: m.Annotations, PushedAt: now}
	if m.Config != nil {
		img.ConfigMediaType = m.Config.MediaType
	}
	if existed {
		img.PushedAt, img.LastPulledAt = old.PushedAt, old.LastPulledAt
		img.Archived, img.ArchivedAt, img.ActivatedAt = old.Archived, old.ArchivedAt, old.ActivatedAt
		if img.Archived {
			img.Archived, img.ActivatedAt, st.changed = false, now, true
			st.events = append(st.events, r.imageEvent(ctx, EventImageRestored, reg, repo, &img))
		}
	}
	// Where each tag points now, read once: the check below and the moves
	// after it both need it.
	var prevs [4]digest.Digest
	prev := prevs[:0]
	for _, t := range tags {
		p := digest.Digest(tx.Get(bTags, keys.item(t)))
		prev = append(prev, p)
		if p == dg {
			continue
		}
		st.changed = true
		if p == "" {
			continue
		}
		if settings == nil {
			settings = new(Repository)
			if err := getRepo(tx, reg, repo, settings); err != nil {
				return stored{}, err
			}
		}
		if settings.TagImmutable(t) {
			return stored{}, Errorf(KindImageTagImmutable, "The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the tag is immutable.", t, repo)
		}
	}
	// The record was read above: compared with that, not read again (and
	// not encoded when its fields are the same, as a retag finds them). The
	// bytes stored with it are the content of its digest, so the same.
	if rec := recordOf(&img); !existed || !sameRecord(&old, &rec) {
		enc, err := encodeRecord(&rec)
		if err != nil {
			return stored{}, err
		}
		if !existed || !bytes.Equal(prevRec, enc) {
			if err := tx.Put(bManifests, keys.item(string(dg)), appendImageValue(make([]byte, 0, len(enc)+len(sep)+len(body)), enc, body)); err != nil {
				return stored{}, err
			}
		}
	}
	if m.Subject != nil {
		if err := putChanged(tx, existed, bReferrers, keys.item(string(m.Subject.Digest), string(dg)), nil); err != nil {
			return stored{}, err
		}
	}
	for _, c := range m.Children {
		if err := putChanged(tx, existed, bParents, keys.item(string(c.Digest), string(dg)), nil); err != nil {
			return stored{}, err
		}
	}
	var dgBytes []byte // the tags' value, made once
	for i, t := range tags {
		if prev[i] == dg {
			continue
		}
		if dgBytes == nil {
			dgBytes = []byte(dg)
		}
		if err := moveTag(tx, &keys, t, prev[i], dg, dgBytes); err != nil {
			return stored{}, err
		}
		if slices.Contains(tags[:i], t) {
			continue // moved already (tags were compacted, not deduplicated)
		}
		e := r.imageEvent(ctx, EventTag, reg, repo, &img)
		e.Tag, e.PreviousDigest = t, prev[i]
		st.events = append(st.events, e)
	}
	// Tags are left out: listing them costs in proportion to how many the
	// image has, and a push that adds the thousandth tag must not pay for
	// the other 999 (ResolveImage lists them).
	st.image = img
	return st, nil
}

// keyBuf builds the keys of one repository's items (itemKey's) in one
// buffer. A transaction's Get, Put and Delete keep no key they are given
// (Put copies it), so a push's dozen keys need one allocation, not one
// each; but each key must be used before the next is built.
type keyBuf struct {
	b []byte
	n int // the length of reg|repo|
}

func newKeyBuf(reg RegistryID, repo string) keyBuf {
	b := appendRepoKey(make([]byte, 0, len(reg.Account)+len(reg.Region)+len(repo)+3*len(sep)+2*72+16), reg, repo)
	b = append(b, sep...)
	return keyBuf{b: b, n: len(b)}
}

// item is itemKey(reg, repo, parts...), valid until the next call.
func (k *keyBuf) item(parts ...string) []byte {
	b := k.b[:k.n]
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep...)
		}
		b = append(b, p...)
	}
	k.b = b
	return b
}

// blobs is Blobs without a slice: the config, then the layers that are not
// non-distributable.
func (m *Manifest) blobs() iter.Seq[Descriptor] {
	return func(yield func(Descriptor) bool) {
		if m.Config != nil && !yield(*m.Config) {
			return
		}
		for _, l := range m.Layers {
			if !nonDistributable(l.MediaType) && !yield(l) {
				return
			}
		}
	}
}

// digestOf is alg.FromBytes(b), for sha256 in one allocation (go-digest
// formats with fmt.Sprintf, in six): every push hashes its manifest.
func digestOf(alg digest.Algorithm, b []byte) digest.Digest {
	if alg != digest.SHA256 {
		return alg.FromBytes(b)
	}
	sum := sha256.Sum256(b)
	var s [len("sha256:") + 2*sha256.Size]byte
	copy(s[:], "sha256:")
	hex.Encode(s[len("sha256:"):], sum[:])
	return digest.Digest(s[:])
}

// putChanged puts value unless the manifest existed and key holds it
// already: pushing a stored manifest again (under a new tag, as a build of
// unchanged content does) then writes its tags and nothing else, and a
// commit on disk has fewer pages to write.
func putChanged(tx kv.Tx, existed bool, bucket string, key, value []byte) error {
	if existed {
		if old := tx.Get(bucket, key); old != nil && bytes.Equal(old, value) {
			return nil
		}
	}
	return tx.Put(bucket, key, value)
}

// checkReferences requires every blob and child manifest m names to be in the
// repository (subjects may dangle, as the spec allows).
func checkReferences(tx kv.Tx, reg RegistryID, repo string, m *Manifest) error {
	var ref []byte
	for d := range m.blobs() {
		ref = appendBlobRefKey(ref[:0], d.Digest, reg, repo)
		if tx.Get(bBlobRefs, ref) == nil {
			return Errorf(KindManifestBlobMissing, "blob %s referenced by the manifest is not in the repository", d.Digest)
		}
	}
	if len(m.Children) == 0 {
		return nil // an image: no key buffer to build
	}
	keys := newKeyBuf(reg, repo)
	for _, c := range m.Children {
		if tx.Get(bManifests, keys.item(string(c.Digest))) == nil {
			return Errorf(KindManifestChildMissing, "manifest %s referenced by the index is not in the repository", c.Digest)
		}
	}
	return nil
}

// manifestNotFound is built without fmt: a HEAD of a manifest not pushed
// yet (sent before every manifest push) ends here, and Sprintf's boxed
// arguments were half of its allocations.
func manifestNotFound(repo, ref string) error {
	return &Error{Kind: KindManifestNotFound, Message: "manifest '" + ref + "' is not in repository '" + repo + "'"}
}

// resolve turns a tag or digest into the digest of a stored manifest.
func resolve(tx kv.Tx, reg RegistryID, repo, ref string) (digest.Digest, error) {
	if err := getRepo(tx, reg, repo, nil); err != nil {
		return "", err
	}
	var dg digest.Digest
	if IsDigestReference(ref) {
		d, err := ParseDigest(ref)
		if err != nil {
			return "", err
		}
		dg = d
	} else {
		if !ValidTag(ref) {
			return "", Errorf(KindTagInvalid, "invalid tag '%s'", ref)
		}
		dg = digest.Digest(tx.Get(bTags, itemKey(reg, repo, ref)))
		if dg == "" {
			return "", manifestNotFound(repo, ref)
		}
	}
	if tx.Get(bManifests, itemKey(reg, repo, string(dg))) == nil {
		return "", manifestNotFound(repo, ref)
	}
	return dg, nil
}

// acceptable reports whether a client that accepts the given media types can
// take mt. An empty list, */*, or a list naming no manifest type accepts all.
func acceptable(mt string, accept []string) bool {
	named := false
	for _, a := range accept {
		for rest := a; rest != ""; {
			var part string
			part, rest, _ = strings.Cut(rest, ",")
			t := strings.TrimSpace(part)
			if t == mt && isManifestType(mt) {
				// As clients send it: a manifest type is in lower case, so
				// ParseMediaType would answer t itself.
				return true
			}
			if plainASCII(t) {
				// What ParseMediaType answers for a type without parameters,
				// without its parsing: the type in lower case, which can only
				// be equal to a valid type if it is one.
				t = strings.ToLower(t)
			} else {
				t, _, _ = mime.ParseMediaType(t)
			}
			if t == mt || t == "*/*" {
				return true
			}
			named = named || isManifestType(t)
		}
	}
	return !named
}

// plainASCII reports whether s is ASCII without a ';' (no parameters); the
// rest (Unicode's lower case, parameters) is left to mime.ParseMediaType.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == ';' {
			return false
		}
	}
	return true
}

// StatManifest returns a manifest's record without serving it (HEAD).
func (r *Registry) StatManifest(ctx context.Context, reg RegistryID, repo, ref string, accept []string) (Image, error) {
	img, _, err := r.readManifest(ctx, reg, repo, ref, accept, false)
	return img, err
}

// GetManifest serves a manifest's exact bytes; it is a pull. The bytes may
// be shared with other callers (they are remembered between pulls): a caller
// must not change them.
func (r *Registry) GetManifest(ctx context.Context, reg RegistryID, repo, ref string, accept []string) (Image, []byte, error) {
	img, body, err := r.readManifest(ctx, reg, repo, ref, accept, true)
	if err != nil {
		return img, nil, err
	}
	ev := r.imageEvent(ctx, EventPull, reg, repo, &img)
	if !IsDigestReference(ref) {
		ev.Tag = ref
	}
	if err := r.bus.check(ctx, ev); err != nil {
		return Image{}, nil, err
	}
	// The last-pulled time is core's own bookkeeping, noted here rather than
	// through the bus, so that a pull wakes no goroutine unless a subscriber
	// asked for pull events.
	r.recordPull(&ev) // by pointer: an Event is some 300 bytes
	r.bus.publish(ctx, ev)
	return img, body, nil
}

// readManifest reads a manifest by tag or digest; a miss is first offered
// to the Upstream (a pull-through cache), and read again if it found one.
func (r *Registry) readManifest(ctx context.Context, reg RegistryID, repo, ref string, accept []string, withBody bool) (Image, []byte, error) {
	img, body, err := r.readStoredManifest(reg, repo, ref, withBody)
	if err == nil && !IsDigestReference(ref) {
		img, body = r.refreshTag(ctx, reg, repo, ref, img, body, withBody)
	}
	if missing(err) {
		if again, ferr := r.fetchMissingManifest(ctx, reg, repo, ref); ferr != nil {
			err = ferr
		} else if again {
			img, body, err = r.readStoredManifest(reg, repo, ref, withBody)
		}
	}
	if err != nil {
		return Image{}, nil, err
	}
	if img.Archived {
		return Image{}, nil, Errorf(KindImageArchived, "The image with digest '%s' is archived and cannot be pulled. Restore it to the STANDARD storage class first.", img.Digest)
	}
	if !acceptable(img.MediaType, accept) {
		return Image{}, nil, Errorf(KindManifestNotAcceptable, "manifest '%s' has media type '%s', which is not among the accepted media types", ref, img.MediaType)
	}
	return img, body, nil
}

// readStoredManifest is resolve and getImage (without links) in one: every
// manifest GET and HEAD comes here, so the keys it reads are built in one
// buffer (the repository's key, extended by the tag's, then by the
// digest's), the image record is read once, and what the transaction fills
// in is pooled (manifestRead), with the transaction's function bound once.
func (r *Registry) readStoredManifest(reg RegistryID, repo, ref string, withBody bool) (Image, []byte, error) {
	m := manifestReads.Get().(*manifestRead)
	m.reg, m.repo, m.ref, m.withBody, m.cache, m.pulls = reg, repo, ref, withBody, &r.manifests, &r.pulls
	m.key = appendRepoKey(m.buf[:0], reg, repo)
	m.repoKey = len(m.key)
	err := r.kv.View(m.fn)
	img, body := m.img, m.body
	*m = manifestRead{fn: m.fn} // nothing of this read kept alive by the pool
	manifestReads.Put(m)
	return img, body, err
}

// manifestRead is one readStoredManifest: its question, its key buffer and
// its answer.
type manifestRead struct {
	reg       RegistryID
	repo, ref string
	withBody  bool
	cache     *manifestCache
	pulls     *pullTimes
	key       []byte
	repoKey   int // key[:repoKey] is the repository's key
	img       Image
	body      []byte
	rec       imageRecord
	buf       [160]byte         // room for most keys: account, region, name and a sha256 digest
	fn        func(kv.Tx) error // read
}

var manifestReads = sync.Pool{New: func() any {
	m := new(manifestRead)
	m.fn = m.read
	return m
}}

// worthKeeping reports whether the cache should keep what this GET read: a
// record never pulled is rewritten when its first pull's time is written
// (within pullFlushDelay), and an entry made from it would then never be
// used again. Such a record is kept only from its second pull on (a pull
// loop); a pull of each child of an index, once each, keeps nothing.
func (m *manifestRead) worthKeeping(dg digest.Digest) bool {
	return !m.rec.LastPulledAt.IsZero() || m.pulls.noted(m.reg, m.repo, dg)
}

// missing answers a read that found no manifest as resolve does: the
// repository first (it does not exist), then the reason given.
func (m *manifestRead) missing(tx kv.Tx, err error) error {
	if tx.Get(bRepos, m.key[:m.repoKey]) == nil {
		return repoNotFound(m.reg, m.repo)
	}
	return err
}

// read looks the repository up only when the manifest is not found: a
// repository's manifests and tags are deleted with it, in one transaction,
// so a manifest found is in a repository that exists.
func (m *manifestRead) read(tx kv.Tx) error {
	snap := snapshotOf(tx)
	if snap != 0 {
		// The repository's key, extended by the reference: what byRef
		// remembers reads by.
		m.key = append(append(m.key, sep...), m.ref...)
		if e := m.cache.atSnapshot(m.key, snap); e != nil {
			m.img, m.body = e.img, e.body
			return nil
		}
		m.key = m.key[:m.repoKey]
	}
	var dg digest.Digest
	if IsDigestReference(m.ref) {
		d, err := ParseDigest(m.ref)
		if err != nil {
			return m.missing(tx, err)
		}
		dg = d
	} else if !ValidTag(m.ref) {
		return m.missing(tx, Errorf(KindTagInvalid, "invalid tag '%s'", m.ref))
	}
	m.key = append(m.key, sep...)
	in := len(m.key)
	if dg == "" {
		if dg = digest.Digest(tx.Get(bTags, append(m.key, m.ref...))); dg == "" {
			return m.missing(tx, manifestNotFound(m.repo, m.ref))
		}
	}
	m.key = append(m.key[:in], dg...)
	v := tx.Get(bManifests, m.key)
	if v == nil {
		return m.missing(tx, manifestNotFound(m.repo, m.ref))
	}
	b := recordPart(v)
	e := m.cache.get(m.key, b)
	if e != nil {
		m.img, m.body = e.img, e.body
	} else {
		if err := decodeRecord(b, &m.rec); err != nil {
			return corrupt("image", m.key, err)
		}
		m.img = m.rec.image(dg)
		if !m.withBody {
			return nil
		}
		if m.body = bytes.Clone(bodyPart(v)); m.body != nil && m.worthKeeping(dg) {
			e = m.cache.put(m.key, b, m.img, m.body)
		}
	}
	if snap != 0 && e != nil {
		m.cache.remember(string(m.key[:m.repoKey])+sep+m.ref, snap, m.key, e)
	}
	return nil
}

// DeleteManifest removes a manifest (by digest) and every tag that points to
// it, or, given a tag, only that tag.
func (r *Registry) DeleteManifest(ctx context.Context, reg RegistryID, repo, ref string) error {
	if !IsDigestReference(ref) {
		return r.DeleteTag(ctx, reg, repo, ref)
	}
	dg, err := ParseDigest(ref)
	if err != nil {
		return err
	}
	ev := r.event(ctx, EventDelete, reg, repo)
	ev.Target, ev.Digest = TargetManifest, dg
	if err := r.bus.check(ctx, ev); err != nil {
		return err
	}
	var events []Event
	err = r.kv.Update(func(tx kv.Tx) error {
		if _, err := resolve(tx, reg, repo, ref); err != nil {
			return err
		}
		if parent := firstParent(tx, reg, repo, dg); parent != "" {
			return Errorf(KindManifestReferenced, "manifest %s is referenced by the manifest list %s", dg, parent)
		}
		events, err = r.deleteManifestTx(ctx, tx, reg, repo, dg)
		return err
	})
	if err != nil {
		return err
	}
	r.publishAll(ctx, events)
	return nil
}

// deleteManifestTx removes a stored manifest and the tags that point at it,
// inside the caller's transaction, and returns the events to publish: one
// per tag, then the manifest's. The caller has checked that no index lists it.
func (r *Registry) deleteManifestTx(ctx context.Context, tx kv.Tx, reg RegistryID, repo string, dg digest.Digest) ([]Event, error) {
	img, found, err := getImage(tx, reg, repo, dg, true)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, manifestNotFound(repo, string(dg))
	}
	key := itemKey(reg, repo, string(dg))
	var events []Event
	for _, t := range img.Tags {
		if err := removeTag(tx, reg, repo, t, dg); err != nil {
			return nil, err
		}
		e := r.event(ctx, EventDelete, reg, repo)
		e.Target, e.Tag, e.Digest = TargetTag, t, dg
		events = append(events, e)
	}
	if img.Subject != nil {
		if err := tx.Delete(bReferrers, itemKey(reg, repo, string(img.Subject.Digest), string(dg))); err != nil {
			return nil, err
		}
	}
	m, err := storedManifest(tx, reg, repo, &img)
	if err != nil {
		return nil, err
	}
	for _, c := range m.Children {
		if err := tx.Delete(bParents, itemKey(reg, repo, string(c.Digest), string(dg))); err != nil {
			return nil, err
		}
	}
	if err := deleteImageDataTx(tx, reg, repo, dg); err != nil {
		return nil, err
	}
	if err := tx.Delete(bManifests, key); err != nil {
		return nil, err
	}
	del := r.imageEvent(ctx, EventDelete, reg, repo, &img)
	del.Target, del.Tags = TargetManifest, img.Tags
	return append(events, del), nil
}

func firstParent(tx kv.Tx, reg RegistryID, repo string, child digest.Digest) (parent string) {
	tx.Scan(bParents, itemKey(reg, repo, string(child), ""), nil, func(k, v []byte) bool {
		parent = lastPart(k)
		return false
	})
	return parent
}

// DeleteTag removes a tag; the manifest stays.
func (r *Registry) DeleteTag(ctx context.Context, reg RegistryID, repo, tag string) error {
	if !ValidTag(tag) {
		// resolve would take a digest for a manifest and report success
		// while deleting nothing.
		return Errorf(KindTagInvalid, "invalid tag '%s'", tag)
	}
	ev := r.event(ctx, EventDelete, reg, repo)
	ev.Target, ev.Tag = TargetTag, tag
	if err := r.bus.check(ctx, ev); err != nil {
		return err
	}
	err := r.kv.Update(func(tx kv.Tx) error {
		dg, err := resolve(tx, reg, repo, tag)
		if err != nil {
			return err
		}
		ev.Digest = dg
		return removeTag(tx, reg, repo, tag, dg)
	})
	if err == nil {
		r.bus.publish(ctx, ev)
	}
	return err
}

// ListTags lists a repository's tags in lexical order.
func (r *Registry) ListTags(ctx context.Context, reg RegistryID, repo string, p Page) (tags []string, more bool, err error) {
	err = r.kv.View(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, repo, nil); err != nil {
			return err
		}
		pre := inRepo(reg, repo)
		return tx.Scan(bTags, pre, after(pre, p.Last), func(k, v []byte) bool {
			if p.N > 0 && len(tags) == p.N {
				more = true
				return false
			}
			tags = append(tags, string(k[len(pre):]))
			return true
		})
	})
	return tags, more, err
}

// Referrers lists the images whose subject is dg, optionally only those of
// one artifact type, in digest order. A repository that does not exist has
// no referrers: the spec wants an empty list, not an error, for any unknown
// subject.
func (r *Registry) Referrers(ctx context.Context, reg RegistryID, repo string, dg digest.Digest, artifactType string) ([]Image, error) {
	out := []Image{}
	err := r.kv.View(func(tx kv.Tx) error {
		var keys []string
		tx.Scan(bReferrers, itemKey(reg, repo, string(dg), ""), nil, func(k, v []byte) bool {
			keys = append(keys, lastPart(k))
			return true
		})
		for _, ref := range keys {
			img, found, err := getImage(tx, reg, repo, digest.Digest(ref), false)
			if err != nil {
				return err
			}
			if found && (artifactType == "" || img.ArtifactType == artifactType) {
				out = append(out, img)
			}
		}
		return nil
	})
	return out, err
}

// imageSizeTx is what ECR reports as imageSizeInBytes for m: an image's
// layers; for a manifest list, "the max size of all manifests in the list"
// (the model's ImageDetail.imageSizeInBytes), each child counted as an
// image of the repository. A child that is not there yet (a pull-through
// cache fetches it later) counts by its descriptor's size. fromRecords
// takes a child image's size from its record (see childSizeTx).
func imageSizeTx(tx kv.Tx, reg RegistryID, repo string, m *Manifest, fromRecords bool) (int64, error) {
	if !m.IsIndex() {
		return m.layersSize(), nil
	}
	var largest int64
	for _, c := range m.Children {
		size, err := childSizeTx(tx, reg, repo, c, 0, fromRecords)
		if err != nil {
			return 0, err
		}
		largest = max(largest, size)
	}
	if largest == 0 {
		largest = m.Size
	}
	return largest, nil
}

// childSizeTx sizes one manifest an index lists. The stored media type is
// the child's, whatever the index's descriptor says. An image's size is what
// its record says when fromRecords — the size it was stored with, from the
// same bytes, which an index of a thousand images need not parse again —
// and from its stored bytes while a layout upgrade rewrites the records
// (one not rewritten yet may not hold it); an index's is recomputed from
// its children, which may have arrived since it was stored.
func childSizeTx(tx kv.Tx, reg RegistryID, repo string, c Descriptor, depth int, fromRecords bool) (int64, error) {
	child, found, err := getImage(tx, reg, repo, c.Digest, false)
	if err != nil {
		return 0, err
	}
	if !found || depth > 8 {
		return c.Size, nil
	}
	if fromRecords && !isIndexType(child.MediaType) {
		return child.ImageSize, nil
	}
	m, err := storedManifest(tx, reg, repo, &child)
	if err != nil {
		return 0, err
	}
	if !m.IsIndex() {
		return m.layersSize(), nil
	}
	var largest int64
	for _, cc := range m.Children {
		size, err := childSizeTx(tx, reg, repo, cc, depth+1, fromRecords)
		if err != nil {
			return 0, err
		}
		largest = max(largest, size)
	}
	return largest, nil
}
