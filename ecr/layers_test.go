package ecr

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// A download URL serves the layer as /v2 does, through the same helper: a
// range that selects no byte is unsatisfiable (416), never a 206 with an
// impossible Content-Range such as net/http writes for it (FuzzBlobRange
// found it on /v2).
func TestDownloadURLRanges(t *testing.T) {
	fr := newFuzzRegistry(t)
	rec := fr.postJSON("GetDownloadUrlForLayer", []byte(`{"repositoryName":"app","layerDigest":"`+fuzzLayer.String()+`"}`))
	var out struct{ DownloadUrl string }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 {
		t.Fatalf("GetDownloadUrlForLayer: %d %s", rec.Code, rec.Body)
	}
	_, token, _ := strings.Cut(out.DownloadUrl, "/_berth/layers/")
	for _, c := range []struct {
		rangeHeader  string
		status       int
		contentRange string
		body         string
	}{
		{"", 200, "", "hello"},
		{"bytes=-2", 206, "bytes 3-4/5", "lo"},
		{"bytes=-0", 416, "bytes */5", ""},
		{"bytes=1-1,-0", 206, "bytes 1-1/5", "e"},
	} {
		r := httptest.NewRequest("GET", out.DownloadUrl, nil)
		if c.rangeHeader != "" {
			r.Header.Set("Range", c.rangeHeader)
		}
		w := httptest.NewRecorder()
		fr.h.ServeLayer(w, r, token)
		if w.Code != c.status || w.Header().Get("Content-Range") != c.contentRange || c.status != 416 && w.Body.String() != c.body {
			t.Errorf("Range %q: %d, Content-Range %q, %q; want %d, %q, %q", c.rangeHeader, w.Code, w.Header().Get("Content-Range"), w.Body, c.status, c.contentRange, c.body)
		}
	}
}
