package scan

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends o encoded as JSON, with the fields and names encoding/json would give it.
// It exists for the plugin's speed in the sandbox, where encoding/json's reflection and
// byte-at-a-time escaping cost more than the scan (see osv.DecodeArray): strings that need no
// escaping, nearly all of them, are copied whole.
func (o *Output) AppendJSON(b []byte) []byte {
	// One allocation of about the right size: growing by copies costs loops in the sandbox.
	size := 256 + len(o.Description)
	for i := range o.Findings {
		f := &o.Findings[i]
		size += 96 + len(f.Name) + len(f.Description) + len(f.URI) + len(f.Severity)
		for _, a := range f.Attributes {
			size += 24 + len(a.Key) + len(a.Value)
		}
	}
	b = slices.Grow(b, size)
	b = append(b, `{"status":`...)
	b = appendString(b, o.Status)
	b = append(b, `,"description":`...)
	b = appendString(b, o.Description)
	if o.OS != nil {
		b = append(b, `,"os":{"id":`...)
		b = appendString(b, o.OS.ID)
		b = append(b, `,"versionId":`...)
		b = appendString(b, o.OS.VersionID)
		b = append(b, `,"ecosystem":`...)
		b = appendString(b, o.OS.Ecosystem)
		b = append(b, '}')
	}
	b = append(b, `,"packages":`...)
	b = strconv.AppendInt(b, int64(o.Packages), 10)
	b = append(b, `,"findings":`...)
	if o.Findings == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range o.Findings {
			if i > 0 {
				b = append(b, ',')
			}
			b = o.Findings[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func (f *Finding) appendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, f.Name)
	if f.Description != "" {
		b = append(b, `,"description":`...)
		b = appendString(b, f.Description)
	}
	if f.URI != "" {
		b = append(b, `,"uri":`...)
		b = appendString(b, f.URI)
	}
	b = append(b, `,"severity":`...)
	b = appendString(b, f.Severity)
	b = append(b, `,"attributes":`...)
	if f.Attributes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, a := range f.Attributes {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"key":`...)
			b = appendString(b, a.Key)
			b = append(b, `,"value":`...)
			b = appendString(b, a.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. Strings that are printable ASCII without '"' or
// '\', nearly all, are copied whole; the test, eight bytes at a time, is written out here
// rather than called: a call per string costs a check in the sandbox.
func appendString(b []byte, s string) []byte {
	const (
		ones   = 0x0101010101010101
		highs  = 0x8080808080808080
		spaces = 0x2020202020202020
		quotes = 0x2222222222222222
		slashs = 0x5c5c5c5c5c5c5c5c
	)
	b = append(b, '"')
	// hasZero is non-zero when some byte of w is zero.
	hasZero := func(w uint64) uint64 { return (w - ones) &^ w & highs }
	var bad uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		bad |= w&highs | (w-spaces)&^w&highs | hasZero(w^quotes) | hasZero(w^slashs)
	}
	if bad == 0 {
		for ; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
				bad = 1
				break
			}
		}
	}
	if bad == 0 {
		b = append(b, s...)
		return append(b, '"')
	}
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}
