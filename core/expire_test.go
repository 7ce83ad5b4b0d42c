package core

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Sessions that have seen no bytes for the maximum age, on the registry's
// clock, expire; so do records whose bytes never got a file. Upload bytes
// that belong to no session and no request in flight (a crash during a
// one-request upload) go at once. Fresh sessions stay, also across a restart.
func TestExpireUploads(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		start := func() string {
			st, err := f.r.StartUpload(bg, regA, "app")
			must(t, err, "StartUpload")
			_, err = f.r.WriteUpload(bg, regA, "app", st.ID, -1, strings.NewReader("bytes"))
			must(t, err, "WriteUpload")
			return st.ID
		}
		abandoned, busy := start(), start()
		orphan, err := f.blobs.CreateUpload("orphan")
		must(t, err, "CreateUpload")
		orphan.Write([]byte("left behind"))
		orphan.Close()
		fileless := uploadRecord{ID: "fileless", Registry: regA, Repository: "app", StartedAt: f.clock.Now()}
		must(t, f.kv.Update(func(tx kv.Tx) error { return putJSON(tx, bUploads, []byte(fileless.ID), fileless) }), "record")

		if n, err := f.r.ExpireUploads(bg, 24*time.Hour); err != nil || n != 1 {
			t.Fatalf("first sweep = %d, %v; want only the orphan bytes", n, err)
		}
		f.clock.Advance(20 * time.Hour)
		_, err = f.r.WriteUpload(bg, regA, "app", busy, -1, strings.NewReader("more"))
		must(t, err, "write to the busy session")
		f.restart() // what is known of activity survives it
		f.clock.Advance(5 * time.Hour)
		if n, err := f.r.ExpireUploads(bg, 24*time.Hour); err != nil || n != 2 {
			t.Fatalf("ExpireUploads = %d, %v; want the abandoned session and the file-less record", n, err)
		}
		_, err = f.r.GetUpload(bg, regA, "app", abandoned)
		wantKind(t, err, KindUploadNotFound, "expired session")
		if st, err := f.r.GetUpload(bg, regA, "app", busy); err != nil || st.Size != 9 {
			t.Fatalf("a session written to 5 hours ago: %+v, %v", st, err)
		}
		files, records := 0, 0
		f.blobs.ListUploads(func(string) error { files++; return nil })
		f.kv.View(func(tx kv.Tx) error {
			return tx.Scan(bUploads, nil, nil, func(k, v []byte) bool { records++; return true })
		})
		wantFiles := 1
		if f.cfg.disk {
			wantFiles = 0 // its few bytes are kept with its record (bUploadBytes)
		}
		if files != wantFiles || records != 1 {
			t.Errorf("left: %d upload files, %d records; want the busy session's", files, records)
		}
	})
}

// A one-request upload in flight has no session record; the janitor leaves
// its bytes alone.
func TestExpireUploadsSparesOneRequestUploadsInFlight(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, err := f.r.PutBlob(bg, regA, "app", digest.FromString("streamed slowly"), pr)
			done <- err
		}()
		pw.Write([]byte("streamed "))
		if n, err := f.r.ExpireUploads(bg, 0); err != nil || n != 0 {
			t.Fatalf("ExpireUploads during a one-request upload = %d, %v", n, err)
		}
		pw.Write([]byte("slowly"))
		pw.Close()
		must(t, <-done, "PutBlob")
	})
}

// Blob bytes that no repository links (a crash between unlink and delete
// leaves them) are swept; linked ones stay.
func TestSweepBlobs(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		kept := f.putBlob(regA, "app", []byte("kept"), mtLayer)
		up, err := f.blobs.CreateUpload("stray")
		must(t, err, "CreateUpload")
		up.Write([]byte("stray"))
		_, err = up.Commit(digest.FromString("stray"))
		must(t, err, "Commit")
		if n, err := f.r.SweepBlobs(bg); err != nil || n != 1 {
			t.Fatalf("SweepBlobs = %d, %v; want 1", n, err)
		}
		if f.blobBytesStored(digest.FromString("stray")) {
			t.Error("the unreferenced blob is still stored")
		}
		if _, err := f.r.StatBlob(bg, regA, "app", kept.Digest); err != nil {
			t.Errorf("a linked blob was swept: %v", err)
		}
	})
}

// Pushing an archived image again restores it.
func TestRepushRestoresArchivedImage(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img, m := f.pushImage(regA, "app", "v1", "archived")
		_, err := f.r.SetStorageClass(bg, regA, "app", m.Digest, true)
		must(t, err, "SetStorageClass")
		_, _, err = f.r.GetManifest(bg, regA, "app", "v1", nil)
		wantKind(t, err, KindImageArchived, "pull of an archived image")
		f.clock.Advance(time.Hour)
		again, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v1", Body: img.body, RejectUnchanged: true})
		must(t, err, "re-push of an archived image")
		if again.Archived || !again.ActivatedAt.Equal(f.clock.Now()) || !again.PushedAt.Equal(m.PushedAt) {
			t.Errorf("after re-push: archived=%v activatedAt=%v pushedAt=%v (first push %v)", again.Archived, again.ActivatedAt, again.PushedAt, m.PushedAt)
		}
		_, _, err = f.r.GetManifest(bg, regA, "app", "v1", nil)
		must(t, err, "pull of the restored image")
	})
}

// failOnce fails the next write transaction (Update or Batch), once.
type failOnce struct {
	kv.Store
	armed bool
}

func (s *failOnce) Update(fn func(kv.Tx) error) error {
	if s.armed {
		s.armed = false
		return errors.New("disk full")
	}
	return s.Store.Update(fn)
}

func (s *failOnce) Batch(fn func(kv.Tx) error) error {
	if s.armed {
		s.armed = false
		return errors.New("disk full")
	}
	return s.Store.Batch(fn)
}

// If linking fails after the bytes were committed, the session ends cleanly:
// later requests are told it is gone, not handed a closed file.
func TestCompleteUploadFailureEndsSession(t *testing.T) {
	store := &failOnce{Store: kv.NewMem()}
	f := &fixture{t: t, clock: newFakeClock(), ids: &seqIDs{}, kv: store, blobs: blob.NewMem()}
	f.r = f.build()
	defer f.r.Close()
	f.createRepo(regA, "app")
	st, err := f.r.StartUpload(bg, regA, "app")
	must(t, err, "StartUpload")
	store.armed = true
	if _, err := f.r.CompleteUpload(bg, regA, "app", st.ID, -1, strings.NewReader("data"), digest.FromString("data")); err == nil {
		t.Fatal("CompleteUpload succeeded with a failing store")
	}
	_, err = f.r.WriteUpload(bg, regA, "app", st.ID, -1, strings.NewReader("more"))
	wantKind(t, err, KindUploadNotFound, "the failed session")
	if f.blobBytesStored(digest.FromString("data")) {
		t.Error("the committed but unlinked bytes were kept")
	}
}

// gatedCreate is a blob store whose CreateUpload, once armed, creates the
// upload and then waits to be released.
type gatedCreate struct {
	blob.Store
	armed            bool
	created, release chan struct{}
}

func (g *gatedCreate) CreateUpload(id string) (blob.Upload, error) {
	up, err := g.Store.CreateUpload(id)
	if g.armed {
		g.armed = false
		close(g.created)
		<-g.release
	}
	return up, err
}

// A session being started — its record written after the janitor read the
// records, its file created (by its first chunk: StartUpload creates none)
// before the janitor listed the files — is not taken for bytes a crash left
// behind.
func TestExpireUploadsSparesASessionBeingStarted(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		rk := &raceKV{Store: f.kv}
		gb := &gatedCreate{Store: f.blobs, created: make(chan struct{}), release: make(chan struct{})}
		r := New(Options{KV: rk, Blobs: gb, Clock: f.clock, NewID: f.ids.next, Log: quietLog()})
		defer r.Bus().Close()
		started := make(chan error, 1)
		// The janitor's read of the records is followed, before it lists the
		// files, by a session start and a first chunk that gets as far as
		// creating the session's file.
		rk.mu.Lock()
		rk.afterView = func() {
			gb.armed = true
			go func() {
				st, err := r.StartUpload(bg, regA, "app")
				if err == nil {
					_, err = r.WriteUpload(bg, regA, "app", st.ID, 0, strings.NewReader("first chunk"))
				}
				started <- err
			}()
			<-gb.created
		}
		rk.mu.Unlock()
		n, err := r.ExpireUploads(bg, time.Hour)
		close(gb.release)
		must(t, err, "ExpireUploads")
		must(t, <-started, "StartUpload")
		if n != 0 {
			t.Fatalf("the janitor discarded %d uploads, one of them the session being started", n)
		}
		files := 0
		gb.ListUploads(func(string) error { files++; return nil })
		if files != 1 {
			t.Fatalf("%d upload files, want the new session's", files)
		}
	})
}
