package oci

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"
)

// A HEAD that fails answers with the status and headers of the GET, its
// Content-Length the length of the GET's error body, and no body: for plain
// messages and for ones encoding/json escapes.
func TestErrorHeadHasTheGetsHeadersAndLength(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "app")
	absent := digest.FromString("absent").String()
	for _, path := range []string{
		"/v2/app/manifests/" + absent,                 // MANIFEST_UNKNOWN
		"/v2/app/manifests/v1",                        // a tag not there
		"/v2/nope/manifests/" + absent,                // NAME_UNKNOWN
		"/v2/app/blobs/" + absent,                     // BLOB_UNKNOWN
		"/v2/nope/blobs/" + absent,                    // NAME_UNKNOWN, for a blob
		"/v2/app/manifests/sha256:nothex",             // DIGEST_INVALID
		"/v2/app/blobs/sha256:" + "<&>" + absent[10:], // escaped by encoding/json
	} {
		get, head := e.get(path), e.do(req{method: http.MethodHead, path: path})
		if get.Code < 400 || head.Code != get.Code {
			t.Fatalf("%s: HEAD %d, GET %d", path, head.Code, get.Code)
		}
		if head.Body.Len() != 0 {
			t.Fatalf("%s: HEAD wrote a body %q", path, head.Body.String())
		}
		if cl := head.Header().Get("Content-Length"); cl != strconv.Itoa(get.Body.Len()) {
			t.Fatalf("%s: HEAD Content-Length %s, the GET's body has %d bytes: %s", path, cl, get.Body.Len(), get.Body.String())
		}
		if ct := head.Header().Get("Content-Type"); ct != get.Header().Get("Content-Type") {
			t.Fatalf("%s: HEAD Content-Type %q, GET's %q", path, ct, get.Header().Get("Content-Type"))
		}
	}
}

// writeErrorHead's length is appendErrorBody's, for lengths inside and
// outside its table of values.
func TestWriteErrorHeadLengthIsTheBodys(t *testing.T) {
	long := make([]byte, 2000)
	for i := range long {
		long[i] = 'x'
	}
	for _, e := range []ociError{
		{Code: "MANIFEST_UNKNOWN", Message: "manifest 'v1' is not in repository 'app'"},
		{Code: "UNKNOWN", Message: "quote \" and <tag> & \\ and \u00e9"},
		{Code: "DENIED", Message: string(long)},
		{Code: "UNKNOWN", Message: "detail", Detail: map[string]any{"a": 1}},
	} {
		w := httptest.NewRecorder()
		writeErrorHead(w, http.StatusNotFound, e)
		want := len(appendErrorBody(nil, []ociError{e}))
		if got := w.Header().Get("Content-Length"); got != strconv.Itoa(want) || w.Code != http.StatusNotFound || w.Body.Len() != 0 {
			t.Fatalf("%+v: Content-Length %s status %d body %d bytes, want %d", e, got, w.Code, w.Body.Len(), want)
		}
	}
}
