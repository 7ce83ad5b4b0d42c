package oci

import (
	"encoding/json"
	"testing"
)

// TestErrorBodyIsEncodingJSONs: the hand-written error body has exactly
// the bytes encoding/json gives the same document, plain or not.
func TestErrorBodyIsEncodingJSONs(t *testing.T) {
	cases := [][]ociError{
		nil,
		{{Code: "MANIFEST_UNKNOWN", Message: "manifest 'sha256:abc' is not in repository 'a/b'"}},
		{{Code: "NAME_UNKNOWN", Message: `repository "x" <not> & found`}},
		{{Code: "DENIED", Message: "back\\slash, tab\t, newline\n, é, \u2028, \x7f"}},
		{{Code: "UNSUPPORTED", Message: "with detail", Detail: map[string]any{"n": 1}}},
		{{Code: "A", Message: "one"}, {Code: "B", Message: "two"}},
		{{Code: "A", Message: "one"}, {Code: "B", Message: "<two>"}},
		{{Code: "", Message: ""}},
	}
	for _, errs := range cases {
		want, err := json.Marshal(errorBody{errs})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		if got := appendErrorBody([]byte("kept"), errs); string(got) != "kept"+string(want) {
			t.Errorf("%+v:\n got %s\nwant %s", errs, got[4:], want)
		}
	}
}
