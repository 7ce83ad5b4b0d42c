package core

import (
	"bytes"
	"strconv"
)

// readManifestJSON decodes body into raw exactly as a json.Decoder's Decode
// (followed by nothing but space) would, for the shape clients and
// registries write: members named as the fields are (unknown ones skipped),
// strings without escapes, integers, descriptors as objects. Every push
// parses its manifest, and encoding/json's reflection was the largest share
// of a small one's cost. It reports false on anything else, valid JSON or
// not; raw is then to be thrown away and the body decoded by encoding/json,
// whose answer or error stands. So what it takes must be exactly what
// encoding/json makes of it; FuzzReadManifestJSON holds it to that.
func readManifestJSON(body []byte, raw *rawManifest) bool {
	r := manifestReader{jsonScan{b: body}}
	r.space()
	if !r.manifest(raw) {
		return false
	}
	r.space()
	return r.i == len(r.b)
}

// manifestReader reads a manifest as clients write it (see jsonScan).
type manifestReader struct{ jsonScan }

// The members encoding/json would bind to rawManifest's and rawDescriptor's
// fields. A member named otherwise is skipped only when it is plain ASCII
// and no case-insensitive match for any of them (encoding/json binds those
// too; and a non-ASCII name may fold into one, as the Kelvin sign does).
var (
	manifestFields   = []string{"schemaVersion", "mediaType", "artifactType", "config", "layers", "manifests", "subject", "annotations"}
	descriptorFields = []string{"mediaType", "digest", "size", "data", "artifactType", "annotations"}
)

// maxSkipDepth bounds the nesting of skipped values (encoding/json allows
// 10,000): deeper ones are left to encoding/json.
const maxSkipDepth = 64

func (r *manifestReader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// object reads an object, calling member with each member's name and the
// reader at its value; member reads the value and reports whether it took
// it. seen, one bit per known name, refuses a name given twice (encoding/json
// would merge or overwrite).
func (r *manifestReader) object(member func(name []byte) bool) bool {
	if !r.next('{') {
		return false
	}
	r.space()
	if r.next('}') {
		return true
	}
	for {
		r.space()
		name, ok := r.plainString()
		if !ok {
			return false
		}
		r.space()
		if !r.next(':') {
			return false
		}
		r.space()
		if !member(name) {
			return false
		}
		r.space()
		switch {
		case r.next(','):
		case r.next('}'):
			return true
		default:
			return false
		}
	}
}

func (r *manifestReader) str(into *string) bool {
	s, ok := r.plainString()
	*into = string(s)
	return ok
}

// mediaType is str for a media type: the common ones are not copied.
func (r *manifestReader) mediaType(into *string) bool {
	s, ok := r.plainString()
	*into = mediaTypeString(s)
	return ok
}

// schemaVersion2 is what nearly every manifest's schemaVersion points to
// (rawManifest's pointer is only read).
var schemaVersion2 = 2

// integer reads an integer as encoding/json reads one into an int64 (and
// an int, on 64-bit platforms): no fraction or exponent; up to 18 digits,
// so that it cannot overflow (longer ones are left to encoding/json).
func (r *manifestReader) integer() (int64, bool) {
	neg := r.next('-')
	start := r.i
	var n int64
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		n = n*10 + int64(r.b[r.i]-'0')
		r.i++
	}
	digits := r.i - start
	if digits == 0 || digits > 18 || r.b[start] == '0' && digits > 1 {
		return 0, false
	}
	if r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// bit is the index of name among known, or -1.
func bit(name []byte, known []string) int {
	for i, k := range known {
		if string(name) == k {
			return i
		}
	}
	return -1
}

// skippable reports whether encoding/json would ignore a member so named.
func skippable(name []byte, known []string) bool {
	for _, c := range name {
		if c >= 0x80 {
			return false
		}
	}
	for _, k := range known {
		if bytes.EqualFold(name, []byte(k)) {
			return false
		}
	}
	return true
}

// members reads an object whose known members are fields, calling read
// with the index of each one met; an unknown member is skipped when
// encoding/json would not bind it either (skippable), and a known one given
// twice is refused (encoding/json would merge or overwrite).
func (r *manifestReader) members(fields []string, read func(field int) bool) bool {
	var seen uint
	return r.object(func(name []byte) bool {
		b := bit(name, fields)
		if b < 0 {
			return skippable(name, fields) && r.skip(0)
		}
		if seen&(1<<b) != 0 {
			return false
		}
		seen |= 1 << b
		return read(b)
	})
}

func (r *manifestReader) manifest(raw *rawManifest) bool {
	return r.members(manifestFields, func(b int) bool {
		switch b {
		case 0:
			n, ok := r.integer()
			if !ok || int64(int(n)) != n {
				return false
			}
			if n == 2 {
				raw.SchemaVersion = &schemaVersion2
			} else {
				v := int(n)
				raw.SchemaVersion = &v
			}
			return true
		case 1:
			return r.mediaType(&raw.MediaType)
		case 2:
			return r.mediaType(&raw.ArtifactType)
		case 3:
			raw.Config = new(rawDescriptor)
			return r.descriptor(raw.Config)
		case 4:
			return r.descriptors(&raw.Layers)
		case 5:
			return r.descriptors(&raw.Manifests)
		case 6:
			raw.Subject = new(rawDescriptor)
			return r.descriptor(raw.Subject)
		default:
			return r.annotations(&raw.Annotations)
		}
	})
}

func (r *manifestReader) descriptor(d *rawDescriptor) bool {
	return r.members(descriptorFields, func(b int) bool {
		switch b {
		case 0:
			return r.mediaType(&d.MediaType)
		case 1:
			return r.str(&d.Digest)
		case 2:
			n, ok := r.integer()
			d.Size = n
			return ok
		case 3:
			return false // base64: left to encoding/json
		case 4:
			return r.mediaType(&d.ArtifactType)
		default:
			return r.annotations(&d.Annotations)
		}
	})
}

// descriptors reads an array of descriptor objects; an empty one is an
// empty slice, not nil, as encoding/json makes it.
func (r *manifestReader) descriptors(into *[]rawDescriptor) bool {
	if !r.next('[') {
		return false
	}
	out := []rawDescriptor{}
	r.space()
	if r.next(']') {
		*into = out
		return true
	}
	for {
		r.space()
		out = append(out, rawDescriptor{})
		if !r.descriptor(&out[len(out)-1]) {
			return false
		}
		r.space()
		switch {
		case r.next(','):
		case r.next(']'):
			*into = out
			return true
		default:
			return false
		}
	}
}

// annotations reads an object of strings into a new map; a name given
// twice keeps its last value, as encoding/json's map assignment does.
func (r *manifestReader) annotations(into *map[string]string) bool {
	m := map[string]string{}
	*into = m
	return r.object(func(name []byte) bool {
		v, ok := r.plainString()
		m[string(name)] = string(v)
		return ok
	})
}

// skip reads any JSON value, checking it as encoding/json's scanner would,
// and keeps nothing.
func (r *manifestReader) skip(depth int) bool {
	if r.i >= len(r.b) || depth > maxSkipDepth {
		return false
	}
	switch c := r.b[r.i]; {
	case c == '"':
		return r.skipString()
	case c == '{':
		r.i++
		r.space()
		if r.next('}') {
			return true
		}
		for {
			r.space()
			if !r.skipString() {
				return false
			}
			r.space()
			if !r.next(':') {
				return false
			}
			r.space()
			if !r.skip(depth + 1) {
				return false
			}
			r.space()
			switch {
			case r.next(','):
			case r.next('}'):
				return true
			default:
				return false
			}
		}
	case c == '[':
		r.i++
		r.space()
		if r.next(']') {
			return true
		}
		for {
			r.space()
			if !r.skip(depth + 1) {
				return false
			}
			r.space()
			switch {
			case r.next(','):
			case r.next(']'):
				return true
			default:
				return false
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return r.skipNumber()
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(r.b[r.i:], []byte(lit)) {
			r.i += len(lit)
			return true
		}
	}
	return false
}

// skipString reads a string with any valid escapes; bytes that are not
// UTF-8 are taken, as encoding/json's scanner takes them.
func (r *manifestReader) skipString() bool {
	if !r.next('"') {
		return false
	}
	for r.i < len(r.b) {
		c := r.b[r.i]
		r.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if r.i >= len(r.b) {
				return false
			}
			e := r.b[r.i]
			r.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if r.i+4 > len(r.b) {
					return false
				}
				if _, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 16); err != nil {
					return false
				}
				r.i += 4
			default:
				return false
			}
		}
	}
	return false
}

// skipNumber takes JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *manifestReader) skipNumber() bool {
	digits := func() int {
		n := 0
		for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	r.next('-')
	if !r.next('0') && digits() == 0 {
		return false
	}
	if r.next('.') && digits() == 0 {
		return false
	}
	if r.next('e') || r.next('E') {
		if !r.next('+') {
			r.next('-')
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
