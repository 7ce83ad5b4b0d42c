package core

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// plainStringByBytes is plainString as it was written first, a byte at a
// time: the reference the word-at-a-time one must agree with.
func plainStringByBytes(b []byte) ([]byte, int, bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, 0, false
	}
	ascii := true
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s := b[1:i]
			return s, i + 1, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, 0, false
}

// plainString agrees with a byte-at-a-time reading on strings holding each
// byte that matters (quote, backslash, control characters, the edges of
// ASCII, UTF-8 valid and not) at every position of strings up to 40 bytes,
// with and without their closing quote, and with what follows it.
func TestPlainStringAgreesWithAByteAtATimeReading(t *testing.T) {
	specials := []string{`"`, `\`, `\"`, "\x00", "\x1f", "\t", " ", "\x7f", "\x80", "\xff", "é", "\xc3", "\xe2\x80", "\U0001F600", "a"}
	base := strings.Repeat("application/vnd.oci.image.manifest.v1+json", 2)
	n := 0
	for l := range 41 {
		for at := 0; at <= l; at++ {
			for _, c := range specials {
				body := base[:at] + c + base[at:l]
				for _, tail := range []string{``, `"`, `","x":1}`, `\"`} {
					b := []byte(`"` + body + tail)
					wantS, wantI, wantOK := plainStringByBytes(b)
					r := jsonScan{b: b}
					s, ok := r.plainString()
					if ok != wantOK || ok && (!bytes.Equal(s, wantS) || r.i != wantI) {
						t.Fatalf("%q: %q %v at %d, want %q %v at %d", b, s, ok, r.i, wantS, wantOK, wantI)
					}
					n++
				}
			}
		}
	}
	if n < 10000 {
		t.Fatalf("%d cases", n)
	}
}
