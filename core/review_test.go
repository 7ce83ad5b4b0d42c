package core

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// TestResetDuringCompleteUploadDoesNotDeadlock: Reset took the GC lock and the
// session map lock and then waited for a session's lock, while the request
// holding that session's lock waited for the GC lock (to commit) or the map
// lock (to forget the session): a deadlock that froze every later request.
func TestResetDuringCompleteUploadDoesNotDeadlock(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		content := []byte("blob completed while a reset runs")
		st, err := f.r.StartUpload(bg, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(bg, regA, "app", st.ID, 0, bytes.NewReader(content))
		must(t, err, "WriteUpload")

		entered, release := make(chan struct{}), make(chan struct{})
		f.r.Bus().Before(func(ctx context.Context, e Event) error {
			if e.Kind == EventUploadComplete {
				close(entered)
				<-release
			}
			return nil
		})
		completed := make(chan error, 1)
		go func() {
			_, err := f.r.CompleteUpload(bg, regA, "app", st.ID, -1, nil, digest.FromBytes(content))
			completed <- err
		}()
		<-entered // CompleteUpload holds the session's lock
		reset := make(chan error, 1)
		go func() { reset <- f.r.Reset(bg) }()
		time.Sleep(100 * time.Millisecond) // let Reset reach the session's lock
		close(release)

		timeout := time.After(10 * time.Second)
		for range 2 {
			select {
			case err := <-completed:
				if err != nil && !IsKind(err, KindRepositoryNotFound) {
					t.Errorf("CompleteUpload: %v", err)
				}
			case err := <-reset:
				must(t, err, "Reset")
			case <-timeout:
				// The stuck registry can never be closed: let cleanup
				// close a fresh one over the same stores instead.
				f.r = f.build()
				t.Fatal("Reset and CompleteUpload deadlocked")
			}
		}
		if _, err := f.r.GetRepository(bg, regA, "app"); !IsKind(err, KindRepositoryNotFound) {
			t.Fatalf("after Reset the repository is still there: %v", err)
		}
	})
}

// gatedKV delays the next Update, once armed, until released.
type gatedKV struct {
	kv.Store
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (g *gatedKV) Update(fn func(kv.Tx) error) error {
	g.mu.Lock()
	armed := g.armed
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(g.entered)
		<-g.release
	}
	return g.Store.Update(fn)
}

// TestClosePersistsPullTimeBeingFlushed: Close wrote the pull times still
// pending, but not the batch a timer-started flush had already taken, which
// then found the store closed: the pull time was lost.
func TestClosePersistsPullTimeBeingFlushed(t *testing.T) {
	dir := t.TempDir()
	open := func() (*kv.Bolt, *blob.FS) {
		m, err := kv.OpenBolt(filepath.Join(dir, "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := blob.NewFS(filepath.Join(dir, "data"))
		if err != nil {
			t.Fatal(err)
		}
		return m, b
	}
	m, b := open()
	g := &gatedKV{Store: m, entered: make(chan struct{}), release: make(chan struct{})}
	f := &fixture{t: t, clock: newFakeClock(), ids: &seqIDs{}, kv: g, blobs: b}
	f.r = f.build()
	f.createRepo(regA, "app")
	f.pushImage(regA, "app", "v1", "pulled")

	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()
	if _, _, err := f.r.GetManifest(bg, regA, "app", "v1", nil); err != nil {
		t.Fatal(err)
	}
	go f.clock.Advance(pullFlushDelay) // the flush timer fires (and blocks in the gate)
	select {
	case <-g.entered: // the timer's flush has taken the batch
	case <-time.After(10 * time.Second):
		t.Fatal("pull times were not flushed")
	}
	closed := make(chan error, 1)
	go func() { closed <- f.r.Close() }()
	time.Sleep(100 * time.Millisecond) // let Close run as far as it goes
	close(g.release)
	must(t, <-closed, "Close")

	m, b = open()
	f.kv, f.blobs = m, b
	f.r = f.build()
	defer f.r.Close()
	img, err := f.r.ResolveImage(bg, regA, "app", "", "v1")
	must(t, err, "ResolveImage")
	if img.LastPulledAt.IsZero() {
		t.Fatal("the pull time being flushed when Close ran was lost")
	}
}

// TestLoadOrCreateSecretConcurrent: `berth serve` and `berth token` started
// together on a fresh data dir each found no secret, wrote their own, and
// kept using it (and a reader could see the file truncated mid-write and
// replace it): tokens from one were rejected by the other.
func TestLoadOrCreateSecretConcurrent(t *testing.T) {
	for range 20 {
		dir := t.TempDir()
		const n = 8
		secrets := make([][]byte, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				s, err := LoadOrCreateSecret(dir)
				if err != nil {
					t.Error(err)
				}
				secrets[i] = s
			})
		}
		close(start)
		wg.Wait()
		onDisk, err := LoadOrCreateSecret(dir)
		must(t, err, "LoadOrCreateSecret")
		for i, s := range secrets {
			if !bytes.Equal(s, onDisk) {
				t.Fatalf("caller %d uses a secret that is not the one in the data dir", i)
			}
		}
	}
}
