package ecr

import (
	"encoding/json"
	"strings"
	"testing"
)

// str writes what json.Marshal writes for a string with any byte that needs
// care (each byte encoding/json escapes, one either side of each boundary
// the eight-byte fast path tests, the start of a multi-byte character) at
// every position of strings up to 40 bytes long, and for plain strings of
// every length.
func TestStrMatchesEncodingJSONAtEveryPosition(t *testing.T) {
	specials := []string{"\"", "\\", "<", ">", "&", "\x00", "\x1f", "\n", "\x7f", " ", "!", "#", "%", "'", ";", "=", "?", "[", "]",
		"\x80", "\xff", "é", "\u2028", "\u2029", "\U0001F600", "\xe2\x80"}
	check := func(s string) {
		t.Helper()
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		w := &jsonw{}
		w.str(s)
		if string(w.b) != string(want) {
			t.Fatalf("str(%q) = %s, want %s", s, w.b, want)
		}
	}
	plain := "sha256:0123456789abcdef-ABCDEF_xyz.tag/name:+~@`{|}^$*()"
	for n := range 41 {
		base := strings.Repeat(plain, 2)[:n]
		check(base)
		for at := 0; at <= n; at++ {
			for _, c := range specials {
				check(base[:at] + c + base[at:])
			}
		}
	}
	// Every single byte, alone and in an eight-byte word.
	for c := range 256 {
		check(string([]byte{byte(c)}))
		check("abcdefg" + string([]byte{byte(c)}) + "hijklmnop")
	}
}

// plainPrefix stops at the first byte str does not write as it is, and not
// before.
func TestPlainPrefixStopsAtTheFirstByteThatNeedsCare(t *testing.T) {
	for c := range 256 {
		for at := range 20 {
			s := strings.Repeat("a", at) + string([]byte{byte(c)}) + strings.Repeat("b", 20)
			want := len(s)
			if c >= 0x80 || !plainByte[c] {
				want = at
			}
			if got := plainPrefix(s); got != want {
				t.Fatalf("plainPrefix(%q) = %d, want %d", s, got, want)
			}
		}
	}
}
