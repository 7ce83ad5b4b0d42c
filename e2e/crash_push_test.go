package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"
)

// TestAcknowledgedChunksSurviveKillMidPush kills berth while a chunk of a
// multi-MiB upload is arriving (a PATCH, or the PUT ?digest= that would
// complete it), after a varying number of 1 MiB chunks (none to four) were
// acknowledged, sometimes once the chunk's first bytes reached the upload's
// file and sometimes as soon as the client sent them. After the
// restart the session holds exactly the acknowledged bytes (its Range says
// so), resumes from there, completes with the right digest and serves the
// blob byte for byte; no blob is served under the digest of the whole or of
// any prefix before then, and no file in the blob store holds bytes other
// than its digest's. Sessions left open with acknowledged bytes across all
// the kills keep them (the janitor that runs at every start removes none).
func TestAcknowledgedChunksSurviveKillMidPush(t *testing.T) {
	skipCrashTestUnderShort(t)
	t.Parallel()
	rng := crashRand(t)
	b := Start(t, "--create-on-push")
	token := b.Token("")
	const chunk, chunks = 1 << 20, 6

	type session struct {
		repo, loc string
		content   []byte
		acked     int
	}
	type stored struct {
		repo, digest string
		content      []byte
	}
	var (
		parked []session // open, with acknowledged bytes, until the end
		blobs  []stored  // completed after a kill
	)
	for iter := range crashIterations {
		c := newCrashClient(t, b, token)
		repo := fmt.Sprintf("crash/push-%d", iter)
		p := session{repo: repo, content: patternBytes(byte(100+iter), 300_000), acked: 100_000 + rng.IntN(100_000)}
		p.loc = c.mustStart(t, repo)
		mustOK(t, c.patch(p.loc, p.content, 0, p.acked))
		parked = append(parked, p)

		content := patternBytes(byte(10+iter), chunks*chunk)
		acked := rng.IntN(chunks-1) * chunk
		loc := c.mustStart(t, repo)
		for off := 0; off < acked; off += chunk {
			mustOK(t, c.patch(loc, content, off, off+chunk))
		}
		// The next chunk — a PATCH, or a PUT ?digest= with the rest of the
		// blob — is sent in part, the rest held back.
		method, target, size := http.MethodPatch, loc, chunk
		if rng.IntN(3) == 0 {
			method, target, size = http.MethodPut, withQuery(loc, "digest", sha256Digest(content)), len(content)-acked
		}
		sent := 1 + rng.IntN(chunk-1)
		// A session's first bytes stay in memory until they outgrow the size
		// of blobs kept inline (core.DefaultInlineBlobs): then the kill comes
		// at once.
		untilOnDisk := rng.IntN(4) != 0 && (acked > 0 || sent > stallSent)
		t.Logf("iteration %d: %d bytes acknowledged, %d of the next %d sent with %s; kill %s", iter, acked, sent, size, method,
			map[bool]string{true: "once they are in the upload's file", false: "at once"}[untilOnDisk])
		pr, pw := io.Pipe()
		inFlight := make(chan error, 1)
		go func() {
			r, err := c.call(method, target, pr, int64(size), map[string]string{
				"Content-Type":  "application/octet-stream",
				"Content-Range": fmt.Sprintf("%d-%d", acked, acked+size-1),
			})
			if err == nil {
				err = &answeredError{fmt.Sprintf("berth answered %d to a chunk it had only %d bytes of: %s", r.status, sent, r.body)}
			}
			inFlight <- err
		}()
		if _, err := pw.Write(content[acked : acked+sent]); err != nil {
			t.Fatalf("sending the chunk in flight: %v", err)
		}
		if untilOnDisk {
			file := filepath.Join(b.DataDir, "uploads", path.Base(loc))
			waitFor(t, "the chunk's first bytes to reach "+file, func() bool {
				fi, err := os.Stat(file)
				return err == nil && fi.Size() >= int64(acked+sent)
			})
		}
		b.Kill()
		pw.CloseWithError(errors.New("berth was killed"))
		if err := <-inFlight; errors.As(err, new(*answeredError)) {
			t.Fatal(err)
		}
		b.StartAgain()
		c.tr.CloseIdleConnections()

		// Exactly what was acknowledged, in this session and the parked ones.
		c.expectUploadSize(t, loc, acked)
		for _, p := range parked {
			c.expectUploadSize(t, p.loc, p.acked)
		}
		// Nothing partial is a blob.
		for _, n := range []int{acked, acked + sent, len(content)} {
			if n > 0 {
				c.expectNoBlob(t, repo, sha256Digest(content[:n]), fmt.Sprintf("the first %d bytes of the upload", n))
			}
		}
		expectSoundBlobStore(t, b)
		for _, s := range blobs {
			c.expectBlob(t, s.repo, s.digest, s.content)
		}

		// The upload goes on from the acknowledged size, and completes.
		for off := acked; off < len(content); off += chunk {
			mustOK(t, c.patch(loc, content, off, off+chunk))
		}
		dg := sha256Digest(content)
		mustOK(t, c.complete(loc, dg, nil))
		c.expectBlob(t, repo, dg, content)
		blobs = append(blobs, stored{repo, dg, content})
		expectCleanStart(t, b)
	}

	// After a last, graceful restart, the parked sessions complete too.
	b.Restart()
	c := newCrashClient(t, b, token)
	for _, p := range parked {
		c.expectUploadSize(t, p.loc, p.acked)
		dg := sha256Digest(p.content)
		mustOK(t, c.complete(p.loc, dg, p.content[p.acked:]))
		c.expectBlob(t, p.repo, dg, p.content)
	}
	for _, s := range blobs {
		c.expectBlob(t, s.repo, s.digest, s.content)
	}
	if n := expectSoundBlobStore(t, b); n != len(blobs)+len(parked) {
		t.Errorf("the blob store holds %d blobs, want %d", n, len(blobs)+len(parked))
	}
}

// answeredError is an answer to a request that should have got none.
type answeredError struct{ msg string }

func (e *answeredError) Error() string { return e.msg }

// waitFor polls until cond holds. The bound only keeps a broken run from
// hanging; nothing is asserted about how long it took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// expectUploadSize checks the size an upload reports (its Range).
func (c *crashClient) expectUploadSize(t *testing.T, loc string, size int) {
	t.Helper()
	r := c.mustStatus(t, "upload status", http.StatusNoContent, http.MethodGet, loc, nil, nil)
	if got := r.header.Get("Range"); got != rangeOf(size) {
		t.Fatalf("upload %s after the kill: Range %q, want %q: the session must hold exactly the %d bytes acknowledged", path.Base(loc), got, rangeOf(size), size)
	}
}

func (c *crashClient) expectNoBlob(t *testing.T, repo, dg, what string) {
	t.Helper()
	r, err := c.call(http.MethodHead, "/v2/"+repo+"/blobs/"+dg, nil, 0, nil)
	mustOK(t, err)
	if r.status != http.StatusNotFound {
		t.Fatalf("HEAD %s (%s) in %s: status %d, want 404", dg, what, repo, r.status)
	}
}

// TestSmallChunksAndEmptySessionsSurviveKill kills berth (SIGKILL) with
// upload sessions open that have no record of their own, or keep their
// acknowledged bytes with their record rather than in a file: one with no
// bytes (known by its id alone), one with one small chunk, one with two.
// After the restart each holds exactly what was acknowledged and completes.
func TestSmallChunksAndEmptySessionsSurviveKill(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	c := raw(t, b, b.Token(""))
	type session struct {
		loc     string
		content []byte
		acked   int
	}
	var sessions []session
	for i, acked := range []int{0, 1500, 3000} {
		content := patternBytes(byte(40+i), 4000)
		s := session{loc: c.startUpload(fmt.Sprintf("crash/small-%d", i)), content: content, acked: acked}
		for off := 0; off < acked; off += 1500 {
			resp, body := c.do(http.MethodPatch, s.loc, content[off:off+1500], map[string]string{
				"Content-Type":  "application/octet-stream",
				"Content-Range": fmt.Sprintf("%d-%d", off, off+1499),
			})
			expect(t, "PATCH a small chunk", resp, body, http.StatusAccepted)
			s.loc = c.location(resp)
		}
		sessions = append(sessions, s)
	}
	c.closeIdle()
	b.Kill()
	b.StartAgain()
	for i, s := range sessions {
		resp, body := c.do(http.MethodGet, s.loc, nil, nil)
		expect(t, "upload status after a kill", resp, body, http.StatusNoContent)
		if want := fmt.Sprintf("0-%d", max(s.acked-1, 0)); resp.Header.Get("Range") != want {
			t.Fatalf("session %d: Range %q after a kill, want %s", i, resp.Header.Get("Range"), want)
		}
		dg := sha256Digest(s.content)
		resp, body = c.do(http.MethodPut, withQuery(s.loc, "digest", dg), s.content[s.acked:], map[string]string{
			"Content-Type": "application/octet-stream",
		})
		expect(t, "PUT the rest after a kill", resp, body, http.StatusCreated)
		c.expectBlob(fmt.Sprintf("crash/small-%d", i), dg, s.content)
	}
}
