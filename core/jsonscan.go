package core

import (
	"bytes"
	"unicode/utf8"
)

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
// bytes. Its end is found with IndexByte and its bytes checked eight at a
// time: a DescribeImages page reads some 600 strings of records.
func (r *jsonScan) plainString() ([]byte, bool) {
	if !r.next('"') {
		return nil, false
	}
	j := bytes.IndexByte(r.b[r.i:], '"')
	if j < 0 {
		return nil, false
	}
	s := r.b[r.i : r.i+j]
	r.i += j + 1
	// A backslash anywhere (an escape, or the one before an escaped quote)
	// or a control character: not plain.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	var high uint64
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// A byte's high bit ends set in (y-ones)&^y iff some byte of y is 0,
		// in (x-0x20*ones)&^x iff some byte of x is < 0x20 (both exact as a
		// whole, not byte by byte).
		b := x ^ '\\'*ones
		if ((x-0x20*ones)&^x|(b-ones)&^b)&highs != 0 {
			return nil, false
		}
		high |= x
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == '\\' || c < 0x20 {
			return nil, false
		}
		high |= uint64(s[i])
	}
	return s, high&highs == 0 || utf8.Valid(s)
}
