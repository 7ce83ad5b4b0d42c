package core

import "unicode/utf8"

// jsonScan is the cursor the hand-written JSON readers share (image records,
// manifests): each reads the JSON its writers produce and reports false on
// anything else, which then goes to encoding/json.
type jsonScan struct {
	b []byte
	i int
}

func (r *jsonScan) next(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// plainString reads a string without escapes or control characters, in
// valid UTF-8 (encoding/json would replace invalid bytes), returning its
// bytes.
func (r *jsonScan) plainString() ([]byte, bool) {
	if !r.next('"') {
		return nil, false
	}
	start, ascii := r.i, true
	for ; r.i < len(r.b); r.i++ {
		switch c := r.b[r.i]; {
		case c == '"':
			s := r.b[start:r.i]
			r.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}
