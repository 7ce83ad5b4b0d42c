package oci

import (
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

// uploadAccepted and blobCreated write their header keys as they are,
// without canonicalizing them: a key not in canonical form would be missed
// by Header.Get and sent as written.
func TestUploadAndBlobAnswersSetCanonicalHeaders(t *testing.T) {
	check := func(t *testing.T, h http.Header, want map[string]string) {
		t.Helper()
		for k := range h {
			if k != textproto.CanonicalMIMEHeaderKey(k) {
				t.Errorf("header key %q is not canonical", k)
			}
		}
		for k, v := range want {
			if got := h.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
	}
	w := httptest.NewRecorder()
	uploadAccepted(w, "team/app", core.UploadStatus{ID: "abc", Size: 10}, http.StatusAccepted)
	if w.Code != http.StatusAccepted {
		t.Fatalf("status %d", w.Code)
	}
	check(t, w.Result().Header, map[string]string{"Location": "/v2/team/app/blobs/uploads/abc", "Docker-Upload-UUID": "abc", "Range": "0-9", "Content-Length": "0"})

	d := digest.FromString("x")
	w = httptest.NewRecorder()
	blobCreated(w, "team/app", core.Descriptor{Digest: d})
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d", w.Code)
	}
	check(t, w.Result().Header, map[string]string{"Location": "/v2/team/app/blobs/" + d.String(), "Docker-Content-Digest": d.String(), "Content-Length": "0"})

	// The shared Content-Length stays "0" whatever a response does with its own.
	w = httptest.NewRecorder()
	blobCreated(w, "team/app", core.Descriptor{Digest: d})
	w.Header().Add("Content-Length", "7")
	if zeroLength[0] != "0" || len(zeroLength) != 1 {
		t.Fatalf("the shared value changed: %q", zeroLength)
	}
}
