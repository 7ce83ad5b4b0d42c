package oci

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
)

// A manifest's body is read whole whether or not it declares its length; a
// body shorter than it declares is the client's failure; one past the limit
// is read up to a byte past it, for core to refuse.
func TestManifestBodyIsReadWhole(t *testing.T) {
	body := `{"schemaVersion":2}`
	declared := httptest.NewRequest("PUT", "/v2/a/manifests/t", strings.NewReader(body))
	chunked := httptest.NewRequest("PUT", "/v2/a/manifests/t", io.NopCloser(strings.NewReader(body)))
	chunked.ContentLength = -1
	for name, r := range map[string]*http.Request{"declared": declared, "chunked": chunked} {
		got, err := readManifestBody(r)
		if err != nil || string(got) != body {
			t.Errorf("%s: %q, %v; want %q", name, got, err, body)
		}
	}

	short := httptest.NewRequest("PUT", "/v2/a/manifests/t", strings.NewReader(body))
	short.ContentLength = int64(len(body)) + 5
	if _, err := readManifestBody(short); core.KindOf(err) != core.KindBodyUnreadable {
		t.Errorf("a body shorter than declared: %v, want %v", err, core.KindBodyUnreadable)
	}

	big := bytes.Repeat([]byte{' '}, core.MaxManifestSize+10)
	for _, n := range []int64{int64(len(big)), -1} {
		r := httptest.NewRequest("PUT", "/v2/a/manifests/t", bytes.NewReader(big))
		r.ContentLength = n
		if got, err := readManifestBody(r); err != nil || len(got) != core.MaxManifestSize+1 {
			t.Errorf("declared %d: %d bytes, %v; want %d", n, len(got), err, core.MaxManifestSize+1)
		}
	}
}
