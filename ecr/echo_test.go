package ecr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// A string's literal is kept for an answer to repeat only when it is what
// jsonw.str writes for the string: plain ASCII and the escapes str uses.
func TestAStringIsEchoedOnlyWhenItsLiteralIsWhatTheAnswerWrites(t *testing.T) {
	for _, c := range []struct {
		literal string
		echoed  bool
	}{
		{`"{\"a\":\"b\"}"`, true},
		{`"a\\b\nc\td\re\bf\fg\""`, true},
		{`"x\"<y"`, false},      // str writes \u003c
		{`"x\">y"`, false},      // \u003e
		{`"x\"&y"`, false},      // \u0026
		{`"<\"y"`, false},       // before the first escape
		{`"x\"\u003cy"`, false}, // str writes its own \u escapes (lower case, and only some)
		{`"x\"\/y"`, false},     // str writes '/' as it is
		{`"x\"é"`, false},       // non-ASCII: str checks it
		{"\"x\\\"\u2028\"", false},
	} {
		p := docParser{b: []byte(c.literal)}
		s, ok := p.str()
		if !ok {
			t.Fatalf("%s: not read", c.literal)
		}
		if got := p.echo.literal != nil; got != c.echoed {
			t.Errorf("%s: echoed %v, want %v", c.literal, got, c.echoed)
			continue
		}
		if c.echoed {
			want, _ := json.Marshal(s)
			if string(p.echo.literal) != string(want) || p.echo.s != s {
				t.Errorf("%s: echo %q for %q, json.Marshal writes %s", c.literal, p.echo.literal, p.echo.s, want)
			}
		}
	}
}

// PutImage answers the manifest as encoding/json writes it, however the
// request escaped it: the literal is repeated only when it is the same.
func TestPutImageAnswersTheManifestAsEncodingJSONWritesIt(t *testing.T) {
	h := newTestHandler(t)
	post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "", "")
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for i, c := range []struct {
		annotation string              // the manifest's annotation value, as JSON text
		literal    func(string) string // the request's literal of the manifest
	}{
		{`plain`, quote},
		{`a<b>c&d`, quote}, // json.Marshal escapes them in the request too
		{`a<b>c&d`, func(m string) string {
			return `"` + strings.ReplaceAll(quote(m)[1:len(quote(m))-1], `\u003c`, `<`) + `"`
		}},
		{`a/b`, func(m string) string { return strings.ReplaceAll(quote(m), `/`, `\/`) }},
		{`é`, quote},
		{"\u2028", func(m string) string { return strings.ReplaceAll(quote(m), `\u2028`, "\u2028") }},
		{`x`, func(m string) string { return strings.ReplaceAll(quote(m), `\"`, `\u0022`) }},
		{`x`, func(m string) string { return strings.ReplaceAll(quote(m), `{`, `\u007B`) }},
	} {
		manifest := fmt.Sprintf("{\n\t\"schemaVersion\": 2,\n\t\"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n\t\"manifests\": [],\n\t\"annotations\": {\"n\": \"%d\", \"v\": \"%s\"}\n}", i, c.annotation)
		body := fmt.Sprintf(`{"repositoryName":"app","imageTag":"t%d","imageManifest":%s}`, i, c.literal(manifest))
		rec, out := post(t, h, "PutImage", body, "", "")
		if rec.Code != 200 {
			t.Fatalf("%s: %d %v", body, rec.Code, out)
		}
		if want := `"imageManifest":` + quote(manifest) + `,`; !bytes.Contains(rec.Body.Bytes(), []byte(want)) {
			t.Errorf("request %s\nanswer %s\nwant it to hold %s", body, rec.Body, want)
		}
	}
}
