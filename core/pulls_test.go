package core

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/kv"
)

// A pull updates the image's last-pulled time unless the puller is excluded.
func TestPullTimeExclusions(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		f.pushImage(regA, "app", "v1", "pulled")
		ci := "arn:aws:iam::" + regA.Account + ":role/ci"
		_, err := f.r.UpdateSettings(bg, regA, func(s *RegistrySettings) error {
			s.PullTimeExclusions = append(s.PullTimeExclusions, ci)
			return nil
		})
		must(t, err, "UpdateSettings")
		pullAs := func(principal string) Image {
			t.Helper()
			_, _, err := f.r.GetManifest(WithCaller(bg, Caller{Registry: regA, Principal: principal}), regA, "app", "v1", nil)
			must(t, err, "GetManifest")
			f.r.flushPulls()
			img, err := f.r.ResolveImage(bg, regA, "app", "", "v1")
			must(t, err, "ResolveImage")
			return img
		}
		if img := pullAs(ci); !img.LastPulledAt.IsZero() {
			t.Errorf("an excluded principal's pull was recorded at %v", img.LastPulledAt)
		}
		if img := pullAs(RootPrincipal(regA.Account)); !img.LastPulledAt.Equal(f.clock.Now()) {
			t.Errorf("a pull by a principal that is not excluded recorded %v, want %v", img.LastPulledAt, f.clock.Now())
		}
	})
}

// A pull by an excluded principal after a real pull, in the same batch, leaves
// the real pull's time: exclusion ignores the pull, it does not erase others.
func TestExcludedPullKeepsEarlierPullTime(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ci, pull := excludedPuller(t, f)
		pull(RootPrincipal(regA.Account))
		real := f.clock.Now()
		f.clock.Advance(10 * time.Millisecond) // still within one batch
		pull(ci)
		f.clock.Advance(pullFlushDelay) // the batch is written
		img, err := f.r.ResolveImage(bg, regA, "app", "", "v1")
		must(t, err, "ResolveImage")
		if !img.LastPulledAt.Equal(real) {
			t.Fatalf("lastPulledAt = %v, want the real pull's %v", img.LastPulledAt, real)
		}
	})
}

// A read that reports pull times sees a pull at once, before its batch's
// timer fires.
func TestPullTimeVisibleToTheNextRead(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		f.pushImage(regA, "app", "v1", "pulled")
		_, _, err := f.r.GetManifest(asRoot(regA), regA, "app", "v1", nil)
		must(t, err, "GetManifest")
		imgs, err := f.r.ListImages(bg, regA, "app")
		must(t, err, "ListImages")
		if !imgs[0].LastPulledAt.Equal(f.clock.Now()) {
			t.Fatalf("lastPulledAt = %v right after the pull, want %v", imgs[0].LastPulledAt, f.clock.Now())
		}
	})
}

// A subscriber that names kinds hears only those.
func TestSubscriberKinds(t *testing.T) {
	b := NewBus(BusOptions{Log: slog.New(slog.DiscardHandler)})
	var mu sync.Mutex
	var got []EventKind
	b.Subscribe(Subscriber{Name: "picky", Kinds: []EventKind{EventPush, EventDelete}, Handle: func(ctx context.Context, e Event) error {
		mu.Lock()
		got = append(got, e.Kind)
		mu.Unlock()
		return nil
	}})
	for _, k := range []EventKind{EventPull, EventPush, EventTag, EventDelete, EventUploadComplete} {
		b.publish(bg, Event{Kind: k})
	}
	b.Close()
	if len(got) != 2 || got[0] != EventPush || got[1] != EventDelete {
		t.Fatalf("subscriber heard %v, want [push delete]", got)
	}
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

// Batch is gated as Update is.
func (g *gatedKV) Batch(fn func(kv.Tx) error) error {
	g.mu.Lock()
	armed := g.armed
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(g.entered)
		<-g.release
	}
	return g.Store.Batch(fn)
}

// Close persists every pull time: those still pending and the batch a
// timer-started flush has already taken but not yet written, which is written
// before the stores close.
func TestClosePersistsPullTimeBeingFlushed(t *testing.T) {
	m, b, open := storeConfigs[1].open(t) // on disk: Close must really write
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

// A batch's note of an image keeps each puller's latest pull, whichever
// puller came first: the first is kept in the note itself, others beside it.
func TestPullNoteKeepsEachPullersLatest(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	n := pullNote{actor: "ci", at: at(10)}
	n.note("ci", at(5)) // earlier: ignored
	n.note("alice", at(20))
	n.note("alice", at(15))
	n.note("ci", at(30))
	n.note("bob", at(25))
	all := func(string) bool { return true }
	notCI := func(a string) bool { return a != "ci" }
	nobody := func(string) bool { return false }
	if got := n.latest(all); !got.Equal(at(30)) {
		t.Errorf("latest of all = %v, want %v", got, at(30))
	}
	if got := n.latest(notCI); !got.Equal(at(25)) {
		t.Errorf("latest without ci = %v, want %v", got, at(25))
	}
	if got := n.latest(nobody); !got.IsZero() {
		t.Errorf("latest of none = %v, want zero", got)
	}
}

// An excluded principal's pull noted first in a batch does not hide a
// later pull by another principal.
func TestExcludedPullFirstThenRealPull(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ci, pull := excludedPuller(t, f)
		pull(ci)
		f.clock.Advance(10 * time.Millisecond)
		pull(RootPrincipal(regA.Account))
		real := f.clock.Now()
		f.clock.Advance(10 * time.Millisecond)
		pull(ci)
		f.clock.Advance(pullFlushDelay)
		img, err := f.r.ResolveImage(bg, regA, "app", "", "v1")
		must(t, err, "ResolveImage")
		if !img.LastPulledAt.Equal(real) {
			t.Fatalf("lastPulledAt = %v, want the real pull's %v", img.LastPulledAt, real)
		}
	})
}

// Pulls of more images than a block of notes holds, in one batch, each
// image pulled twice, are each written with their latest time.
func TestManyImagesPulledInOneBatch(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		const n = 2*pullNoteBlock + 7
		pulledAt := map[string]time.Time{}
		for i := range n {
			tag := "v" + strconv.Itoa(i)
			f.pushImage(regA, "app", tag, "image "+tag)
		}
		for range 2 { // each image twice: the second pull's time is kept
			for i := range n {
				tag := "v" + strconv.Itoa(i)
				_, _, err := f.r.GetManifest(asRoot(regA), regA, "app", tag, nil)
				must(t, err, "GetManifest")
				pulledAt[tag] = f.clock.Now()
				f.clock.Advance(time.Millisecond) // still within one batch
			}
		}
		f.r.flushPulls()
		for tag, want := range pulledAt {
			img, err := f.r.ResolveImage(bg, regA, "app", "", tag)
			must(t, err, "ResolveImage")
			if !img.LastPulledAt.Equal(want) {
				t.Fatalf("%s: lastPulledAt = %v, want %v", tag, img.LastPulledAt, want)
			}
		}
	})
}

// excludedPuller sets up an image app:v1 in regA whose pull times exclude
// the role ci, and returns ci and a pull of the image by a principal.
func excludedPuller(t *testing.T, f *fixture) (ci string, pull func(principal string)) {
	t.Helper()
	f.createRepo(regA, "app")
	f.pushImage(regA, "app", "v1", "pulled")
	ci = "arn:aws:iam::" + regA.Account + ":role/ci"
	_, err := f.r.UpdateSettings(bg, regA, func(s *RegistrySettings) error {
		s.PullTimeExclusions = []string{ci}
		return nil
	})
	must(t, err, "UpdateSettings")
	return ci, func(principal string) {
		t.Helper()
		_, _, err := f.r.GetManifest(WithCaller(bg, Caller{Registry: regA, Principal: principal}), regA, "app", "v1", nil)
		must(t, err, "GetManifest")
	}
}

// Pulls that alternate between images, repeat one, and go on after a batch
// is written each land on their own image: the note found without hashing
// (the last one) is the pulled image's, and none survives its batch.
func TestRepeatedAndAlternatingPullsNoteEachImage(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		f.createRepo(regA, "other")
		f.pushImage(regA, "app", "a", "image a")
		f.pushImage(regA, "app", "b", "image b")
		f.pushImage(regA, "other", "a", "image a") // the same digest in another repository
		pull := func(repo, tag string) time.Time {
			t.Helper()
			f.clock.Advance(time.Millisecond) // within one batch
			_, _, err := f.r.GetManifest(asRoot(regA), regA, repo, tag, nil)
			must(t, err, "GetManifest")
			return f.clock.Now()
		}
		pulled := func(repo, tag string) time.Time {
			t.Helper()
			img, err := f.r.ResolveImage(bg, regA, repo, "", tag)
			must(t, err, "ResolveImage")
			return img.LastPulledAt
		}
		pull("app", "a")
		pull("app", "a")
		b := pull("app", "b")
		a := pull("app", "a")
		other := pull("other", "a")
		f.r.flushPulls()
		if got := pulled("app", "a"); !got.Equal(a) {
			t.Errorf("app:a pulled at %v, want %v", got, a)
		}
		if got := pulled("app", "b"); !got.Equal(b) {
			t.Errorf("app:b pulled at %v, want %v", got, b)
		}
		if got := pulled("other", "a"); !got.Equal(other) {
			t.Errorf("other:a pulled at %v, want %v", got, other)
		}
		// The next batch starts afresh: a pull of the image noted last
		// before the write is noted in it.
		again := pull("other", "a")
		f.r.flushPulls()
		if got := pulled("other", "a"); !got.Equal(again) {
			t.Errorf("other:a pulled again at %v, want %v", got, again)
		}
	})
}
