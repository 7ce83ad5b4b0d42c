package e2e

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// slowReader serves data in chunks with a pause before each, and closes
// started once it has handed out `after` chunks.
type slowReader struct {
	data    []byte
	chunk   int
	pause   time.Duration
	reads   int
	after   int
	started chan struct{}
	once    sync.Once
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	if s.reads > 0 {
		time.Sleep(s.pause)
	}
	n := copy(p, s.data[:min(s.chunk, len(s.data))])
	s.data = s.data[n:]
	s.reads++
	if s.reads >= s.after {
		s.once.Do(func() { close(s.started) })
	}
	return n, nil
}

func newSlowReader(data []byte) *slowReader {
	// 10 chunks, 100 ms apart: about a second in all.
	return &slowReader{data: data, chunk: (len(data) + 9) / 10, pause: 100 * time.Millisecond, after: 3, started: make(chan struct{})}
}

// TestGracefulShutdown sends SIGTERM while two slow uploads are in flight: a
// PATCH and a completing PUT. Both must finish normally, berth must exit 0,
// and what they wrote must be there when berth starts again.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	c := raw(t, b, b.Token(""))
	patchData := patternBytes(1, 200_000)
	putData := patternBytes(2, 200_000)
	putDigest := sha256Digest(putData)
	patchLoc := c.startUpload("slow/app")
	putLoc := c.startUpload("slow/app")

	type result struct {
		what   string
		status int
		rng    string
		err    error
	}
	results := make(chan result, 2)
	send := func(what string, req *http.Request) {
		// A client of its own: no connection is shared with the other request.
		hc := &http.Client{Transport: dialTo(b.Addr)}
		defer hc.Transport.(*http.Transport).CloseIdleConnections()
		resp, err := hc.Do(req)
		if err != nil {
			results <- result{what: what, err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		results <- result{what: what, status: resp.StatusCode, rng: resp.Header.Get("Range")}
	}

	patchBody := newSlowReader(patchData)
	patch := c.newRequest(http.MethodPatch, patchLoc, patchBody, int64(len(patchData)))
	patch.Header.Set("Content-Type", "application/octet-stream")
	patch.Header.Set("Content-Range", fmt.Sprintf("0-%d", len(patchData)-1))
	putBody := newSlowReader(putData)
	put := c.newRequest(http.MethodPut, withQuery(putLoc, "digest", putDigest), putBody, -1)
	put.Header.Set("Content-Type", "application/octet-stream")

	start := time.Now()
	go send("PATCH", patch)
	go send("PUT", put)
	for _, s := range []*slowReader{patchBody, putBody} {
		select {
		case <-s.started:
		case <-time.After(10 * time.Second):
			t.Fatal("the slow uploads did not start")
		}
	}
	c.closeIdle()
	b.Stop() // SIGTERM, then waits for the process to exit
	stopped := time.Since(start)
	if code := b.ExitCode(); code != 0 {
		t.Fatalf("berth exited with code %d after SIGTERM\n%s", code, b.Stderr())
	}
	for range 2 {
		r := <-results
		switch {
		case r.err != nil:
			t.Errorf("%s in flight during SIGTERM failed: %v", r.what, r.err)
		case r.what == "PATCH" && r.status != http.StatusAccepted:
			t.Errorf("PATCH in flight during SIGTERM: status %d, want 202", r.status)
		case r.what == "PATCH" && r.rng != fmt.Sprintf("0-%d", len(patchData)-1):
			t.Errorf("PATCH in flight during SIGTERM: Range %q, want 0-%d", r.rng, len(patchData)-1)
		case r.what == "PUT" && r.status != http.StatusCreated:
			t.Errorf("PUT in flight during SIGTERM: status %d, want 201", r.status)
		}
	}
	if stopped < 700*time.Millisecond {
		t.Errorf("berth exited %v after the uploads started: it cannot have waited for them", stopped)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("berth exited 0, %v after the slow uploads started", stopped.Round(time.Millisecond))

	// What the in-flight requests wrote was kept.
	b.StartAgain()
	c.expectBlob("slow/app", putDigest, putData)
	resp, body := c.do(http.MethodGet, patchLoc, nil, nil)
	expect(t, "status of the upload patched during shutdown", resp, body, http.StatusNoContent)
	if r := resp.Header.Get("Range"); r != fmt.Sprintf("0-%d", len(patchData)-1) {
		t.Fatalf("Range after restart: %q, want 0-%d", r, len(patchData)-1)
	}
	patchDigest := sha256Digest(patchData)
	resp, body = c.do(http.MethodPut, withQuery(patchLoc, "digest", patchDigest), nil, nil)
	expect(t, "complete the upload patched during shutdown", resp, body, http.StatusCreated)
	c.expectBlob("slow/app", patchDigest, patchData)
}
