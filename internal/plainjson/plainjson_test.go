package plainjson

import (
	"encoding/json"
	"testing"
)

// A string called plain is written by encoding/json unchanged between
// quotes, for every byte on its own and inside others. (The converse need
// not hold: String refuses DEL and all non-ASCII, which only costs its
// callers their fallback to encoding/json.)
func TestAPlainStringIsOneEncodingJSONWritesUnchanged(t *testing.T) {
	cases := []string{"", "sha256:abc", "MANIFEST_UNKNOWN", "a b/c-d_e.f", "x\u2028y", "é", "<a>", "tab\there"}
	for c := 0; c < 256; c++ {
		cases = append(cases, string([]byte{byte(c)}), "ok"+string([]byte{byte(c)})+"ok")
	}
	for _, s := range cases {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if String(s) && string(b) != `"`+s+`"` {
			t.Errorf("String(%q) is true, but encoding/json writes %s", s, b)
		}
	}
	for _, s := range []string{"", "sha256:abc", "MANIFEST_UNKNOWN", "manifest tagged 'latest' is unknown"} {
		if !String(s) {
			t.Errorf("String(%q) is false, want true", s)
		}
	}
}
