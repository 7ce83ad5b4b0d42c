package core

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/berth-dev/berth/core/blob"
	"github.com/opencontainers/go-digest"
)

// slowResume is a blob store whose ResumeUpload waits until release is
// closed: a large upload being rehashed after a restart.
type slowResume struct {
	blob.Store
	entered chan string // receives the id of each resume that starts waiting
	release chan struct{}
}

func (s *slowResume) ResumeUpload(id string) (blob.Upload, error) {
	select {
	case s.entered <- id:
	default:
	}
	<-s.release
	return s.Store.ResumeUpload(id)
}

// Reopening a session's bytes holds that session only: while one large
// upload is slow to resume after a restart, another session starts.
func TestSlowResumeDoesNotHoldUpOtherSessions(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("before the restart"))
		must(t, err, "WriteUpload")
		slow := &slowResume{entered: make(chan string, 1), release: make(chan struct{})}
		f.restartWith(func(s blob.Store) blob.Store { slow.Store = s; return slow })
		released := false
		release := func() {
			if !released {
				close(slow.release)
				released = true
			}
		}
		defer release()

		resumed := make(chan error, 1)
		go func() {
			_, err := f.r.WriteUpload(bg, regA, "app", st.ID, -1, strings.NewReader(" and after"))
			resumed <- err
		}()
		select {
		case <-slow.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the write never reopened the upload")
		}
		started := make(chan error, 1)
		go func() {
			_, err := f.r.StartUpload(bg, regA, "app")
			started <- err
		}()
		select {
		case err := <-started:
			must(t, err, "StartUpload while another session resumes")
		case <-time.After(10 * time.Second):
			release()
			t.Fatal("StartUpload waited for another session to resume")
		}
		release()
		must(t, <-resumed, "WriteUpload after the slow resume")
		if got, err := f.r.GetUpload(bg, regA, "app", st.ID); err != nil || got.Size != int64(len("before the restart and after")) {
			t.Fatalf("GetUpload = %+v, %v", got, err)
		}
	})
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("cannot count file descriptors:", err)
	}
	return len(entries)
}

// An upload session holds no file descriptor between requests: 200 open
// sessions with bytes in them cost no more descriptors than none, and each
// still takes more bytes and completes.
func TestOpenSessionsHoldNoFileDescriptors(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts /proc/self/fd (Linux only)")
	}
	var disk storeConfig
	for _, c := range storeConfigs {
		if c.disk {
			disk = c
		}
	}
	f := newFixture(t, disk, false)
	f.createRepo(regA, "app")
	const sessions = 200
	before := openFDs(t)
	ids := make([]string, sessions)
	for i := range ids {
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("first chunk"))
		must(t, err, "WriteUpload")
		ids[i] = st.ID
	}
	if grown := openFDs(t) - before; grown > 10 {
		t.Fatalf("%d open sessions hold %d more file descriptors, want none", sessions, grown)
	}
	for i, id := range ids {
		content := fmt.Sprintf("first chunk, then session %d", i)
		_, err := f.r.CompleteUpload(bg, regA, "app", id, -1, strings.NewReader(content[len("first chunk"):]), digest.FromString(content))
		must(t, err, "CompleteUpload")
	}
}

// A registry (account × region) holds at most MaxUploads open sessions: one
// more is refused with KindLimitExceeded, in that registry only. A session
// that ends — cancelled, completed, expired, its repository deleted, reset —
// frees its slot. Sessions without a record (no bytes yet: uploadids.go)
// count while this process holds them; after a restart, a session with
// bytes counts, and one without counts again once a request names it.
func TestOpenSessionsPerRegistryAreCapped(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.maxUploads = 3
		f.restart()
		for _, reg := range []RegistryID{regA, regA2, regB} {
			f.createRepo(reg, "app")
		}
		f.createRepo(regA, "other")
		start := func(reg RegistryID, repo string) string {
			t.Helper()
			st, err := f.r.StartUpload(bg, reg, repo)
			must(t, err, "StartUpload into "+repo)
			return st.ID
		}
		refused := func(what string) {
			t.Helper()
			_, err := f.r.StartUpload(bg, regA, "app")
			wantKind(t, err, KindLimitExceeded, what)
			if !strings.Contains(err.Error(), "3") {
				t.Errorf("the refusal does not name the limit: %v", err)
			}
		}
		a, b := start(regA, "app"), start(regA, "app")
		start(regA, "other")
		refused("a fourth session in the registry")
		start(regA2, "app") // same account, other region
		start(regB, "app")

		must(t, f.r.CancelUpload(bg, regA, "app", a), "CancelUpload")
		c := start(regA, "app")
		refused("after a cancelled session was replaced")

		_, err := f.r.CompleteUpload(bg, regA, "app", b, -1, strings.NewReader("done"), digest.FromString("done"))
		must(t, err, "CompleteUpload")
		d := start(regA, "app")
		refused("after a completed session was replaced")

		_, err = f.r.DeleteRepository(bg, regA, "other", true)
		must(t, err, "DeleteRepository")
		e := start(regA, "app")
		refused("after the sessions of a deleted repository were replaced")

		_, err = f.r.WriteUpload(bg, regA, "app", c, 0, strings.NewReader("bytes"))
		must(t, err, "WriteUpload")
		f.restart()
		for _, id := range []string{d, e} {
			_, err := f.r.GetUpload(bg, regA, "app", id)
			must(t, err, "GetUpload of a session without bytes after a restart")
		}
		refused("after a restart")

		f.clock.Advance(25 * time.Hour)
		_, err = f.r.ExpireUploads(bg, 24*time.Hour)
		must(t, err, "ExpireUploads")
		for range 3 {
			start(regA, "app")
		}
		refused("after expired sessions were replaced")

		must(t, f.r.Reset(bg), "Reset")
		f.createRepo(regA, "app")
		for range 3 {
			start(regA, "app")
		}
	})
}

// A chunk is taken whole or not at all: one whose body fails part way (a
// client that went away, a malformed body) or is not as long as its range
// declares is refused and leaves the session as it was — its size, and the
// hash that the next chunk and the completion build on, also across a
// restart.
func TestRefusedChunkLeavesNothingBehind(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("first "))
		must(t, err, "first chunk")
		wantSize := func(what string, got UploadStatus) {
			t.Helper()
			if got.Size != 6 {
				t.Fatalf("%s: Size = %d, want 6", what, got.Size)
			}
			if got, err := f.r.GetUpload(bg, regA, "app", st.ID); err != nil || got.Size != 6 {
				t.Fatalf("%s: GetUpload = %+v, %v; want 6 bytes", what, got, err)
			}
		}

		failing := io.MultiReader(strings.NewReader("half a chunk"), iotest.ErrReader(errors.New("connection reset by peer")))
		got, err := f.r.WriteUpload(bg, regA, "app", st.ID, -1, failing)
		if err == nil {
			t.Fatal("a chunk whose body failed was accepted")
		}
		wantSize("a body that failed", got)
		got, err = f.r.WriteUpload(bg, regA, "app", st.ID, 6, ChunkOfLength(strings.NewReader("longer than declared"), 5))
		wantKind(t, err, KindRangeInvalid, "a chunk longer than declared")
		wantSize("a chunk longer than declared", got)
		got, err = f.r.WriteLayerPart(bg, regA, "app", st.ID, 6, ChunkOfLength(strings.NewReader("abc"), 5))
		wantKind(t, err, KindRangeInvalid, "a chunk shorter than declared")
		wantSize("a chunk shorter than declared", got)
		_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, 6, ChunkOfLength(strings.NewReader("second!"), 6), digest.FromString("first second!"))
		wantKind(t, err, KindRangeInvalid, "a last chunk longer than declared")
		wantSize("a last chunk longer than declared", UploadStatus{Size: 6})

		f.restart()
		desc, err := f.r.CompleteUpload(bg, regA, "app", st.ID, 6, ChunkOfLength(strings.NewReader("second"), 6), digest.FromString("first second"))
		must(t, err, "CompleteUpload with the right chunk")
		if got := readBlob(t, f, regA, "app", desc.Digest); got != "first second" {
			t.Fatalf("blob = %q", got)
		}
	})
}

// stallingBody is a chunk's body from a client that sent a little and
// stalled: after its first bytes, Reads wait for the test (feed) or, if it
// is interruptible, for Interrupt.
type stallingBody struct {
	first   []byte
	pr      *io.PipeReader
	pw      *io.PipeWriter
	waiting chan struct{} // closed when a Read waits for the client
	once    sync.Once
}

func newStallingBody() *stallingBody {
	pr, pw := io.Pipe()
	return &stallingBody{first: []byte("the first bytes"), pr: pr, pw: pw, waiting: make(chan struct{})}
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if len(b.first) > 0 {
		n := copy(p, b.first)
		b.first = b.first[n:]
		return n, nil
	}
	b.once.Do(func() { close(b.waiting) })
	return b.pr.Read(p)
}

// feed makes the client send more.
func (b *stallingBody) feed(p []byte) { go b.pw.Write(p) }

// interruptibleBody is a stallingBody that core can interrupt, as it can the
// server's request bodies.
type interruptibleBody struct{ *stallingBody }

func (b interruptibleBody) Interrupt() { b.pw.CloseWithError(errors.New("interrupted")) }

// Reset and DeleteRepository end a session a request is writing into
// without waiting for that request: its body is interrupted (the server's
// bodies can be), or else the request ends when the body next yields; it
// fails with KindUploadNotFound and the session's bytes are discarded.
func TestEndingASessionDoesNotWaitForItsWriter(t *testing.T) {
	enders := map[string]func(f *fixture) error{
		"Reset": func(f *fixture) error { return f.r.Reset(bg) },
		"DeleteRepository": func(f *fixture) error {
			_, err := f.r.DeleteRepository(bg, regA, "app", true)
			return err
		},
	}
	for name, end := range enders {
		for _, interruptible := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/interruptible=%v", name, interruptible), func(t *testing.T) {
				eachStore(t, func(t *testing.T, f *fixture) {
					f.createRepo(regA, "app")
					st, err := f.r.StartUpload(bg, regA, "app")
					must(t, err, "StartUpload")
					stalling := newStallingBody()
					defer stalling.pw.Close()
					var body io.Reader = stalling
					if interruptible {
						body = interruptibleBody{stalling}
					}
					wrote := make(chan error, 1)
					go func() {
						_, err := f.r.WriteUpload(bg, regA, "app", st.ID, -1, body)
						wrote <- err
					}()
					<-stalling.waiting // the writer holds the session, waiting for its client

					ended := make(chan error, 1)
					go func() { ended <- end(f) }()
					select {
					case err := <-ended:
						must(t, err, name)
					case <-time.After(10 * time.Second):
						stalling.pw.CloseWithError(errors.New("test over"))
						t.Fatalf("%s waited for a request writing into an upload session", name)
					}
					if !interruptible {
						stalling.feed([]byte("more bytes, at last"))
					}
					select {
					case err := <-wrote:
						wantKind(t, err, KindUploadNotFound, "the interrupted write")
					case <-time.After(10 * time.Second):
						t.Fatal("the write into the ended session did not end")
					}
					for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
						n := 0
						f.blobs.ListUploads(func(string) error { n++; return nil })
						if n == 0 {
							break
						}
						if time.Now().After(deadline) {
							t.Fatalf("%d uploads left after the session ended", n)
						}
					}
					_, err = f.r.GetUpload(bg, regA, "app", st.ID)
					if err == nil {
						t.Fatal("the ended session is still there")
					}
				})
			})
		}
	}
}

// closeFails is a blob store whose uploads fail to Close once armed, as when
// a chunk's bytes cannot be synced.
type closeFails struct {
	blob.Store
	armed bool
}

func (s *closeFails) ResumeUpload(id string) (blob.Upload, error) {
	up, err := s.Store.ResumeUpload(id)
	if err != nil {
		return nil, err
	}
	return &failingCloseUpload{Upload: up, s: s}, nil
}

// CreateUpload: a session's first chunk creates its upload.
func (s *closeFails) CreateUpload(id string) (blob.Upload, error) {
	up, err := s.Store.CreateUpload(id)
	if err != nil {
		return nil, err
	}
	return &failingCloseUpload{Upload: up, s: s}, nil
}

type failingCloseUpload struct {
	blob.Upload
	s *closeFails
}

func (u *failingCloseUpload) Close() error {
	err := u.Upload.Close()
	if u.s.armed {
		u.s.armed = false
		return errors.Join(err, errors.New("sync: input/output error"))
	}
	return err
}

// A chunk is acknowledged only once it is on disk: when closing the upload
// after it fails, so does the request.
func TestChunkNotOnDiskIsNotAcknowledged(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		failing := &closeFails{}
		f.restartWith(func(s blob.Store) blob.Store { failing.Store = s; return failing })
		failing.armed = true
		// Larger than what goes inline on disk (keepInline): it goes to a file.
		chunk := strings.Repeat("a chunk ", DefaultInlineBlobs/8+1)
		if _, err := f.r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader(chunk)); err == nil {
			t.Fatal("WriteUpload acknowledged a chunk whose upload failed to close")
		}
		if _, err := f.r.WriteLayerPart(bg, regA, "app", st.ID, -1, strings.NewReader(" and a part")); err != nil {
			t.Fatalf("the next chunk: %v", err)
		}
	})
}

// cutBack is a blob store that, on the first resume of one upload, cuts it
// back to size: what a crash leaves of an upload whose last chunk was being
// written (blob.Store keeps only what was acknowledged).
type cutBack struct {
	blob.Store
	id   string
	size int64
	done bool
}

func (s *cutBack) ResumeUpload(id string) (blob.Upload, error) {
	up, err := s.Store.ResumeUpload(id)
	if err == nil && id == s.id && !s.done {
		s.done = true
		err = up.Truncate(s.size)
	}
	return up, err
}

// A layer part that a crash cut off after its record was written, sent
// again by the client, is one part, not a small part followed by another:
// the upload completes.
func TestLayerPartSentAgainAfterACrashCountsOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		first := bytes.Repeat([]byte("a"), MinLayerPartSize)
		last := []byte("the last part, a small one")
		_, err = f.r.WriteLayerPart(bg, regA, "app", st.ID, 0, bytes.NewReader(first))
		must(t, err, "first part")
		_, err = f.r.WriteLayerPart(bg, regA, "app", st.ID, int64(len(first)), bytes.NewReader(last))
		must(t, err, "last part")
		f.restartWith(func(s blob.Store) blob.Store { return &cutBack{Store: s, id: st.ID, size: int64(len(first))} })
		_, err = f.r.WriteLayerPart(bg, regA, "app", st.ID, int64(len(first)), bytes.NewReader(last))
		must(t, err, "the last part, sent again")
		_, err = f.r.CompleteLayerUpload(bg, regA, "app", st.ID, digest.FromBytes(append(first, last...)))
		must(t, err, "CompleteLayerUpload")
	})
}
