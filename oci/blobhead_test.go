package oci

import (
	"net/http"
	"testing"
)

// A blob HEAD answers with exactly the headers of the GET (served by
// ServeContent), and a HEAD carrying a Range or a precondition is answered
// as ServeContent answers it (206, 304, 412).
func TestBlobHeadAnswersAsGet(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "app")
	content := []byte("The quick brown fox")
	d := e.putBlob(acct, "app", content).Digest
	path := "/v2/app/blobs/" + d.String()

	get := e.get(path)
	head := e.do(req{method: "HEAD", path: path})
	wantStatus(t, head, 200, "HEAD")
	if head.Body.Len() != 0 {
		t.Fatalf("HEAD body %q", head.Body.String())
	}
	gh, hh := get.Header(), head.Header()
	if len(gh) != len(hh) {
		t.Fatalf("HEAD headers %v, GET's %v", hh, gh)
	}
	for k, v := range gh {
		if len(hh[k]) != 1 || len(v) != 1 || hh[k][0] != v[0] {
			t.Fatalf("HEAD %s = %q, GET's %q", k, hh[k], v)
		}
	}

	etag := `"` + d.String() + `"`
	for _, c := range []struct {
		header map[string]string
		status int
		what   string
	}{
		{map[string]string{"Range": "bytes=4-8"}, http.StatusPartialContent, "Range"},
		{map[string]string{"Range": "bytes=100-"}, http.StatusRequestedRangeNotSatisfiable, "unsatisfiable Range"},
		{map[string]string{"If-None-Match": etag}, http.StatusNotModified, "If-None-Match its ETag"},
		{map[string]string{"If-Match": `"other"`}, http.StatusPreconditionFailed, "If-Match another ETag"},
		{map[string]string{"If-None-Match": `"other"`}, http.StatusOK, "If-None-Match another ETag"},
	} {
		w := e.do(req{method: "HEAD", path: path, header: c.header})
		wantStatus(t, w, c.status, c.what)
		if c.status == http.StatusPartialContent && (w.Header().Get("Content-Range") != "bytes 4-8/19" || w.Header().Get("Content-Length") != "5") {
			t.Fatalf("%s: %v", c.what, w.Header())
		}
	}

	// Misses answer as the GET's do: TestErrorHeadHasTheGetsHeadersAndLength.
	wantStatus(t, e.do(req{method: "HEAD", path: "/v2/app/blobs/sha256:nothex"}), 400, "HEAD of an invalid digest")

	// A blob deleted from the repository is gone for HEAD too.
	wantStatus(t, e.do(req{method: "DELETE", path: path}), 202, "DELETE blob")
	wantStatus(t, e.do(req{method: "HEAD", path: path}), 404, "HEAD of a deleted blob")
}
