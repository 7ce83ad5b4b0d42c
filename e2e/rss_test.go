package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
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

// TestParallelLayerPartsRSS sends 20 UploadLayerPart calls of 20 MiB each at
// once, each as the SDK lays it out (layerPartBlob first, then the members
// that say where it goes), and checks that the server's peak resident memory
// stays under 300 MiB: a part is decoded from the request as it arrives,
// never held whole in memory, and large bodies are admitted a few at a time.
func TestParallelLayerPartsRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("20 × 20 MiB parts: skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads VmHWM from /proc/<pid>/status (Linux only)")
	}
	const (
		parallel = 20
		part     = int64(20 << 20)
		limit    = 300 << 10 // KiB
	)
	b := Start(t)
	ecrCall(t, b, "", "CreateRepository", map[string]string{"repositoryName": "rss"})
	pid := b.Pid()
	startHWM, err := procStatusKB(pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}

	ids := make([]string, parallel)
	for i := range ids {
		var out struct {
			UploadID string `json:"uploadId"`
		}
		json.Unmarshal(ecrCall(t, b, "", "InitiateLayerUpload", map[string]string{"repositoryName": "rss"}), &out)
		ids[i] = out.UploadID
	}
	started := time.Now()
	tr := newTransport(t, b)
	tr.MaxConnsPerHost = 0
	hc := &http.Client{Transport: tr}
	digests := make([]string, parallel)
	errs := make(chan error, parallel)
	for i := range parallel {
		go func() {
			h := sha256.New()
			body, size := layerPartBody(io.TeeReader(newPattern(byte(i), part), h), part,
				fmt.Sprintf(`,"partFirstByte":0,"partLastByte":%d,"repositoryName":"rss","uploadId":%q}`, part-1, ids[i]))
			req, _ := http.NewRequest(http.MethodPost, b.URL+"/", body)
			req.ContentLength = size
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.UploadLayerPart")
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
			resp, err := hc.Do(req)
			if err != nil {
				errs <- fmt.Errorf("part %d: %v", i, err)
				return
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), fmt.Sprintf(`"lastByteReceived":%d`, part-1)) {
				errs <- fmt.Errorf("part %d: status %d: %s", i, resp.StatusCode, out)
				return
			}
			digests[i] = digestOf(h)
			errs <- nil
		}()
	}
	for range parallel {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	uploaded := time.Since(started)
	// Every part arrived whole: each upload completes under its digest.
	for i, id := range ids {
		ecrCall(t, b, "", "CompleteLayerUpload", map[string]any{"repositoryName": "rss", "uploadId": id, "layerDigests": []string{digests[i]}})
	}

	hwm, err := procStatusKB(pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server peak RSS (VmHWM): %.1f MiB (%.1f MiB after start); %d × %d MiB parts in %v",
		float64(hwm)/1024, float64(startHWM)/1024, parallel, part>>20, uploaded.Round(time.Millisecond))
	if hwm >= limit {
		t.Fatalf("server peak RSS %.1f MiB, want < 300 MiB", float64(hwm)/1024)
	}
}

// layerPartBody streams an UploadLayerPart request body whose layerPartBlob
// is the base64 of the n bytes of data, followed by rest (the other members
// and the closing brace), and returns it with its length.
func layerPartBody(data io.Reader, n int64, rest string) (io.Reader, int64) {
	const head = `{"layerPartBlob":"`
	pr, pw := io.Pipe()
	go func() {
		enc := base64.NewEncoder(base64.StdEncoding, pw)
		_, err := io.Copy(enc, data)
		if err == nil {
			err = enc.Close()
		}
		pw.CloseWithError(err)
	}()
	body := io.MultiReader(strings.NewReader(head), pr, strings.NewReader(`"`+rest))
	return body, int64(len(head)) + int64(base64.StdEncoding.EncodedLen(int(n))) + 1 + int64(len(rest))
}
