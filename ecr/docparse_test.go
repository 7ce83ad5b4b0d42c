package ecr

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

var docSamples = []string{
	`{}`, `{"repositoryName":"app","maxResults":100,"nextToken":"abc"}`, ` { "a" : [ 1 , -2.5e3 , true , false , null , {} , [] ] } `,
	`{"imageManifest":"{\"schemaVersion\":2,\"mediaType\":\"x\"}\n"}`, `{"s":"\u00e9\u2028\ud83d\ude00\/\b\f\n\r\t\\"}`,
	`{"a":1,"a":2}`, `{"n":0}`, `{"n":-0.0e+0}`, `{"n":01}`, `{"n":1.}`, `{"n":.5}`, `{"n":-}`, `{"n":1e}`, `{"n":1e999}`,
	`{"a":tru}`, `{"a":nul}`, `{"a":1,}`, `{"a":1`, `{"a" 1}`, `[1,]`, `[1 2]`, `{"a":"b"}x`, `{"a":"b"} `, `""`, `null`, `1`,
	"{\"a\":\"\x01\"}", `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\ud800"}`, `{"a":"\udc00\ud800"}`, `{"a":"\ud800\u0041"}`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, "\ufeff{}", `{"é":"ü"}`, ``, ` `,
}

// parseDoc takes a body only when encoding/json (a Decoder with
// UseNumber, nothing but space after the value) takes it, and then decodes
// the same document.
func checkDoc(t *testing.T, b []byte) {
	if checkText(b) != nil {
		return // refused before decoding
	}
	got, ok := parseDoc(b)
	if !ok {
		return // encoding/json decides
	}
	var want any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil || len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		t.Fatalf("%q: taken, but encoding/json says %v (offset %d)", b, err, dec.InputOffset())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", b, got, want)
	}
}

func TestParseDocAgreesWithEncodingJSON(t *testing.T) {
	taken := 0
	for _, s := range docSamples {
		checkDoc(t, []byte(s))
		if _, ok := parseDoc([]byte(s)); ok {
			taken++
		}
	}
	if taken < 12 {
		t.Fatalf("only %d samples taken: the fast path is not the usual one", taken)
	}
}

func FuzzParseDocAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range docSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDoc(t, b) })
}
