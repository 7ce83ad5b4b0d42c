package core

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// A manifest record that cannot be read is never silently replaced: a push of
// the same manifest fails and leaves the record as it was.
func TestCorruptImageRecordIsNotOverwritten(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img, _ := f.pushImage(regA, "app", "v1", "corrupted")
		key := itemKey(regA, "app", string(img.digest))
		must(t, f.kv.Update(func(tx kv.Tx) error { return tx.Put(bManifests, key, []byte("{not json")) }), "corrupt the record")

		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v2", Body: img.body})
		if err == nil || KindOf(err) != "" || !strings.Contains(err.Error(), "corrupt image record") {
			t.Fatalf("re-push over a corrupt record = %v, want an internal error naming it", err)
		}
		var got []byte
		f.kv.View(func(tx kv.Tx) error { got = bytes.Clone(tx.Get(bManifests, key)); return nil })
		if string(got) != "{not json" {
			t.Fatalf("the record was replaced with %q", got)
		}
		if _, err := f.r.StatManifest(bg, regA, "app", "v2", nil); err == nil {
			t.Fatal("the failed push moved a tag")
		}
		// Readers report it instead of skipping it.
		for _, err := range f.r.Images(bg, regA, "app", "") {
			if err == nil || !strings.Contains(err.Error(), "corrupt image record") {
				t.Fatalf("iterating = %v", err)
			}
		}
	})
}

// failingViews is a kv.Store whose read transactions fail once armed.
type failingViews struct {
	kv.Store
	mu    sync.Mutex
	armed bool
}

func (s *failingViews) View(fn func(kv.Tx) error) error {
	s.mu.Lock()
	armed := s.armed
	s.mu.Unlock()
	if armed {
		return errors.New("read failed")
	}
	return s.Store.View(fn)
}

func (s *failingViews) arm(on bool) {
	s.mu.Lock()
	s.armed = on
	s.mu.Unlock()
}

// When the store cannot say whether a blob is still referenced, its bytes
// stay: garbage collection deletes only what it is sure nothing needs.
func TestBlobGCKeepsBytesWhenReferencesCannotBeRead(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		fv := &failingViews{Store: f.kv}
		r := New(Options{KV: fv, Blobs: f.blobs, Clock: f.clock, NewID: f.ids.next, Log: quietLog()})
		defer r.Bus().Close()
		_, err := r.CreateRepository(bg, regA, "app")
		must(t, err, "CreateRepository")
		d := digest.FromString("precious")
		_, err = r.PutBlob(bg, regA, "app", d, strings.NewReader("precious"))
		must(t, err, "PutBlob")

		// The last link goes, and the check that follows cannot read the store.
		must(t, r.kv.Update(func(tx kv.Tx) error {
			_, err := unlinkBlob(tx, regA, "app", d)
			return err
		}), "unlink")
		fv.arm(true)
		r.dropBlobs([]digest.Digest{d})
		if !f.blobBytesStored(d) {
			t.Fatal("bytes were deleted although the references could not be read")
		}
		n, err := r.SweepBlobs(bg)
		if err == nil || n != 0 || !f.blobBytesStored(d) {
			t.Fatalf("SweepBlobs with unreadable references = %d, %v", n, err)
		}
		fv.arm(false)
		r.dropBlobs([]digest.Digest{d})
		if f.blobBytesStored(d) {
			t.Fatal("an unreferenced blob survived once the store could be read")
		}
	})
}

// A repository record that cannot be read is logged, and listing goes on.
func TestCorruptRepositoryRecordIsLogged(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		var logged bytes.Buffer
		var mu sync.Mutex
		f.r.log = slog.New(slog.NewTextHandler(&lockedWriter{w: &logged, mu: &mu}, nil))
		f.createRepo(regA, "aa")
		f.createRepo(regA, "bb")
		must(t, f.kv.Update(func(tx kv.Tx) error { return tx.Put(bRepos, repoKey(regA, "aa"), []byte("garbage")) }), "corrupt a")
		repos, _, err := f.r.ListRepositories(bg, regA, Page{})
		must(t, err, "ListRepositories")
		if len(repos) != 1 || repos[0].Name != "bb" {
			t.Fatalf("listed %+v", repos)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(logged.String(), "level=ERROR") || !strings.Contains(logged.String(), "corrupt repository record") {
			t.Fatalf("log: %s", logged.String())
		}
	})
}
