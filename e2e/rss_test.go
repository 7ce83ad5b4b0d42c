package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestLargeLayerRSS streams a 1 GiB layer through berth (two PATCH chunks,
// one with a length and one chunked, then PUT ?digest=), pushes a manifest
// that uses it, streams it back, and checks that the server's peak resident
// memory stayed under 100 MiB: berth must never hold a blob in memory.
func TestLargeLayerRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB upload: skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads VmHWM from /proc/<pid>/status (Linux only)")
	}
	const (
		size  = int64(1 << 30)
		half  = size / 2
		limit = 100 << 10 // KiB
	)
	b := Start(t, "--create-on-push")
	c := raw(t, b, b.Token(""))
	pid := b.Pid()
	startHWM, err := procStatusKB(pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}

	started := time.Now()
	src := newPattern(99, size)
	h := sha256.New()
	loc := c.startUpload("big/layer")

	// First half: a PATCH with Content-Range and Content-Length.
	req := c.newRequest(http.MethodPatch, loc, io.TeeReader(io.LimitReader(src, half), h), half)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("0-%d", half-1))
	resp, body := c.send(req)
	expect(t, "PATCH first half", resp, body, http.StatusAccepted)
	if r := resp.Header.Get("Range"); r != fmt.Sprintf("0-%d", half-1) {
		t.Fatalf("Range after first half: %q", r)
	}
	loc = c.location(resp)

	// Second half: a chunked PATCH of unknown length.
	req = c.newRequest(http.MethodPatch, loc, io.TeeReader(src, h), -1)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, body = c.send(req)
	expect(t, "PATCH second half", resp, body, http.StatusAccepted)
	if r := resp.Header.Get("Range"); r != fmt.Sprintf("0-%d", size-1) {
		t.Fatalf("Range after second half: %q", r)
	}
	loc = c.location(resp)
	dg := "sha256:" + hex.EncodeToString(h.Sum(nil))

	resp, body = c.do(http.MethodPut, withQuery(loc, "digest", dg), nil, nil)
	expect(t, "PUT ?digest=", resp, body, http.StatusCreated)
	if got := resp.Header.Get("Docker-Content-Digest"); got != dg {
		t.Fatalf("Docker-Content-Digest %q, want %s", got, dg)
	}
	uploaded := time.Since(started)

	// A manifest that uses it as a layer.
	cfgBytes := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cfg := c.pushBlob("big/layer", cfgBytes)
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		cfg, len(cfgBytes), dg, size)
	resp, body = c.do(http.MethodPut, "/v2/big/layer/manifests/v1", []byte(manifest),
		map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
	expect(t, "PUT manifest", resp, body, http.StatusCreated)

	// Stream it back and hash it without keeping it.
	resp, body = c.do(http.MethodHead, "/v2/big/layer/blobs/"+dg, nil, nil)
	expect(t, "HEAD layer", resp, body, http.StatusOK)
	if cl := resp.Header.Get("Content-Length"); cl != strconv.FormatInt(size, 10) {
		t.Fatalf("HEAD Content-Length %s, want %d", cl, size)
	}
	started = time.Now()
	get, err := c.hc.Do(c.newRequest(http.MethodGet, "/v2/big/layer/blobs/"+dg, nil, 0))
	if err != nil {
		t.Fatal(err)
	}
	back := sha256.New()
	n, err := io.Copy(back, get.Body)
	get.Body.Close()
	if err != nil || get.StatusCode != http.StatusOK {
		t.Fatalf("GET layer: status %d, %d bytes, %v", get.StatusCode, n, err)
	}
	if got := digestOf(back); n != size || got != dg {
		t.Fatalf("GET layer: %d bytes hashing to %s, want %d bytes %s", n, got, size, dg)
	}
	downloaded := time.Since(started)

	hwm, err := procStatusKB(pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server peak RSS (VmHWM): %.1f MiB (%.1f MiB after start); 1 GiB up in %v, down in %v",
		float64(hwm)/1024, float64(startHWM)/1024, uploaded.Round(time.Millisecond), downloaded.Round(time.Millisecond))
	if hwm >= limit {
		t.Fatalf("server peak RSS %.1f MiB, want < 100 MiB", float64(hwm)/1024)
	}
}

func digestOf(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }
