package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// underFileLimit returns a wrapper that runs berth with at most n open
// files (soft and hard: Go raises a soft limit to the hard one at start).
func underFileLimit(t *testing.T, n int) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("counts /proc/<pid>/fd (Linux only)")
	}
	if p, err := exec.LookPath("prlimit"); err == nil {
		return []string{p, fmt.Sprintf("--nofile=%d:%d", n, n)}
	}
	if p, err := exec.LookPath("sh"); err == nil {
		return []string{p, "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, n), "sh"}
	}
	t.Skip("neither prlimit nor sh is available to lower berth's open-file limit")
	return nil
}

// fileLimit reads the "Max open files" soft limit of a process.
func fileLimit(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	t.Fatalf("no open-file limit in /proc/%d/limits", pid)
	return ""
}

// openFiles counts a process's open file descriptors.
func openFiles(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// ecrTry calls an ECR operation as the default account, with a timeout, and
// returns the status and body whatever they are.
func ecrTry(t *testing.T, b *Berth, op string, in any) (int, []byte) {
	t.Helper()
	payload, _ := json.Marshal(in)
	req, err := http.NewRequest(http.MethodPost, b.URL+"/", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921."+op)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	tr := newTransport(t, b)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("ECR %s: %v", op, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestUploadSessionsHoldNoDescriptors runs berth with at most 256 open files
// and opens 300 upload sessions (/v2 POSTs and ECR InitiateLayerUpload
// calls): a session holds no descriptor between requests, so those and every
// later request still succeed. It logs the descriptors held per idle session
// (the figure in BENCHMARKS.md, "Resources").
func TestUploadSessionsHoldNoDescriptors(t *testing.T) {
	t.Parallel()
	b := StartUnder(t, underFileLimit(t, 256), "--create-on-push")
	if got := fileLimit(t, b.Pid()); got != "256" {
		t.Fatalf("berth runs with an open-file limit of %s, want 256", got)
	}
	c := raw(t, b, b.Token(""))
	c.hc.Timeout = 10 * time.Second // a berth out of descriptors may stop accepting
	if status, body := ecrTry(t, b, "CreateRepository", map[string]any{"repositoryName": "fds/ecr"}); status != http.StatusOK {
		t.Fatalf("CreateRepository: %d %s", status, body)
	}
	c.pushBlob("fds/v2", []byte("creates the repository")) // and the connection the client keeps

	open := func(n int) {
		for i := range n {
			if i%2 == 0 {
				c.startUpload("fds/v2")
				continue
			}
			status, body := ecrTry(t, b, "InitiateLayerUpload", map[string]any{"repositoryName": "fds/ecr"})
			if status != http.StatusOK {
				t.Fatalf("InitiateLayerUpload: %d %s", status, body)
			}
		}
	}
	before := openFiles(t, b.Pid())
	const measured = 100
	open(measured)
	held := openFiles(t, b.Pid()) - before
	t.Logf("descriptors held per idle upload session: %.2f (%d for %d sessions)", float64(held)/measured, held, measured)
	open(300 - measured)

	// Later requests: a session takes a chunk and completes, a blob and a
	// manifest are pushed and read back.
	loc := c.startUpload("fds/v2")
	chunk := []byte("a chunk into session 301")
	resp, body := c.do(http.MethodPatch, loc, chunk, map[string]string{"Content-Type": "application/octet-stream"})
	expect(t, "PATCH", resp, body, http.StatusAccepted)
	resp, body = c.do(http.MethodPut, withQuery(c.location(resp), "digest", sha256Digest(chunk)), nil, nil)
	expect(t, "PUT ?digest=", resp, body, http.StatusCreated)
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cfgDigest := c.pushBlob("fds/v2", cfg)
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		cfgDigest, len(cfg), sha256Digest(chunk), len(chunk))
	resp, body = c.do(http.MethodPut, "/v2/fds/v2/manifests/v1", []byte(manifest),
		map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
	expect(t, "PUT manifest", resp, body, http.StatusCreated)
	c.expectBlob("fds/v2", sha256Digest(chunk), chunk)
	resp, body = c.do(http.MethodGet, "/v2/fds/v2/manifests/v1", nil, map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"})
	expect(t, "GET manifest", resp, body, http.StatusOK)
	c.closeIdle()
}

// With --max-uploads 2, a registry's third open session is refused on both
// edges — ECR's LimitExceededException, /v2's TOOMANYREQUESTS (429) — until
// one ends; another registry is not affected.
func TestUploadSessionLimit(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push", "--max-uploads", "2")
	c := raw(t, b, b.Token(""))
	first := c.startUpload("limited/app")
	if status, body := ecrTry(t, b, "InitiateLayerUpload", map[string]any{"repositoryName": "limited/app"}); status != http.StatusOK {
		t.Fatalf("InitiateLayerUpload: %d %s", status, body)
	}
	resp, body := c.do(http.MethodPost, "/v2/limited/app/blobs/uploads/", nil, nil)
	msg := expectOCIError(t, "POST past the limit", resp, body, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	if !strings.Contains(msg, "2") {
		t.Errorf("the refusal does not name the limit: %q", msg)
	}
	status, body := ecrTry(t, b, "InitiateLayerUpload", map[string]any{"repositoryName": "limited/app"})
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	json.Unmarshal(body, &e)
	if status != http.StatusBadRequest || e.Type != "LimitExceededException" || e.Message == "" {
		t.Fatalf("InitiateLayerUpload past the limit: %d %s, want LimitExceededException", status, body)
	}
	raw(t, b, b.Token("222222222222")).startUpload("other/app") // another registry

	resp, body = c.do(http.MethodDelete, first, nil, nil)
	expect(t, "DELETE a session", resp, body, http.StatusNoContent)
	c.startUpload("limited/app")
	c.closeIdle()
}
