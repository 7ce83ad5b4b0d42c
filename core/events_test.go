package core

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

const alice = "arn:aws:iam::111111111111:user/alice"

func asAlice() context.Context {
	return WithCaller(bg, Caller{Registry: regA, Principal: alice})
}

func wantEvents(t *testing.T, got []Event, want ...Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:\n got  %+v\n want %+v", len(got), len(want), got, want)
	}
	for i := range want {
		g := got[i]
		// A push's Repo (TestPushEventCarriesTheRepositoryThePushRead) is
		// checked here only for naming the event's repository.
		if g.Repo != nil && want[i].Repo == nil {
			if g.Repo.Registry != g.Registry || g.Repo.Name != g.Repository {
				t.Fatalf("event %d: Repo is %s/%s, not the event's repository %s/%s", i, g.Repo.Registry, g.Repo.Name, g.Registry, g.Repository)
			}
			g.Repo = nil
		}
		if !reflect.DeepEqual(g, want[i]) {
			t.Fatalf("event %d:\n got  %+v\n want %+v", i, g, want[i])
		}
	}
}

// A push event carries the repository as the push's transaction read it, so
// that subscribers decide from its settings without reading it again: the
// settings in force at the push, and a repository the push created.
func TestPushEventCarriesTheRepositoryThePushRead(t *testing.T) {
	eachStoreCreateOnPush(t, func(t *testing.T, f *fixture) {
		rec := f.record()
		f.createRepo(regA, "app")
		_, err := f.r.UpdateRepository(bg, regA, "app", func(r *Repository) error {
			r.ScanOnPush, r.LifecyclePolicy = true, `{"rules":[]}`
			return nil
		})
		must(t, err, "UpdateRepository")
		a := f.newImage(regA, "app", "a")
		rec.take(f)
		_, err = f.r.PutManifest(asAlice(), regA, "app", PutManifestInput{Reference: "latest", Body: a.body})
		must(t, err, "push")
		var push *Event
		for _, e := range rec.take(f) {
			if e.Kind == EventPush {
				push = &e
			}
		}
		if push == nil || push.Repo == nil {
			t.Fatalf("push event %+v: no Repo", push)
		}
		if r := push.Repo; r.Name != "app" || r.Registry != regA || !r.ScanOnPush || r.LifecyclePolicy != `{"rules":[]}` {
			t.Fatalf("push event's Repo = %+v, want app's settings at the push", r)
		}

		// Created by the push (create on push; its blobs may be missing, so
		// that nothing else creates it first): the new repository.
		wantKind(t, f.r.HasRepository(bg, regA, "fresh"), KindRepositoryNotFound, "fresh before the push")
		_, err = f.r.PutManifest(asAlice(), regA, "fresh", PutManifestInput{Reference: "v1", Body: a.body, AllowMissing: true})
		must(t, err, "push into a new repository")
		push = nil
		for _, e := range rec.take(f) {
			if e.Kind == EventPush {
				push = &e
			}
		}
		if push == nil || push.Repo == nil || push.Repo.Name != "fresh" || push.Repo.CreatedAt.IsZero() {
			t.Fatalf("push into a created repository: event %+v", push)
		}
	})
}

func TestEventsForManifests(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rec := f.record()
		f.createRepo(regA, "app")
		ctx := asAlice()
		a := f.newImage(regA, "app", "a")
		b := f.newImage(regA, "app", "b")
		rec.take(f)
		base := func(k EventKind) Event {
			return Event{Kind: k, Cause: CauseUser, Registry: regA, Repository: "app", Actor: alice, Time: f.clock.Now()}
		}
		size := func(body []byte) int64 { return int64(len(body)) }
		// An image event describes the manifest: digest, media and artifact type, size.
		image := func(k EventKind, d digest.Digest, body []byte) Event {
			e := base(k)
			e.Digest, e.MediaType, e.ArtifactType, e.Size = d, MediaTypeOCIManifest, mtConfig, size(body)
			return e
		}

		// Push by tag: a push (with every tag it sets) and a new tag.
		_, err := f.r.PutManifest(ctx, regA, "app", PutManifestInput{Reference: "latest", Body: a.body})
		must(t, err, "push a")
		push := image(EventPush, a.digest, a.body)
		push.Tag, push.Tags = "latest", []string{"latest"}
		tag := image(EventTag, a.digest, a.body)
		tag.Tag = "latest"
		wantEvents(t, rec.take(f), push, tag)

		// Moving the tag: the tag event names the previous digest.
		f.clock.Advance(time.Minute)
		_, err = f.r.PutManifest(ctx, regA, "app", PutManifestInput{Reference: "latest", Body: b.body, Tags: []string{"v2"}})
		must(t, err, "push b")
		push = image(EventPush, b.digest, b.body)
		push.Tag, push.Tags = "latest", []string{"latest", "v2"}
		moved := image(EventTag, b.digest, b.body)
		moved.Tag, moved.PreviousDigest = "latest", a.digest
		added := image(EventTag, b.digest, b.body)
		added.Tag = "v2"
		wantEvents(t, rec.take(f), push, moved, added)

		// Pushing what is already there: a push, no tag event.
		_, err = f.r.PutManifest(ctx, regA, "app", PutManifestInput{Reference: "latest", Body: b.body})
		must(t, err, "push b again")
		push.Time, push.Tags = f.clock.Now(), []string{"latest"}
		wantEvents(t, rec.take(f), push)

		// By digest: a push without a tag.
		_, err = f.r.PutManifest(ctx, regA, "app", PutManifestInput{Reference: a.digest.String(), Body: a.body})
		must(t, err, "push a by digest")
		wantEvents(t, rec.take(f), image(EventPush, a.digest, a.body))

		// Pulls: GET is a pull (with the tag when pulled by tag), HEAD is not.
		_, _, err = f.r.GetManifest(ctx, regA, "app", "latest", nil)
		must(t, err, "pull by tag")
		_, _, err = f.r.GetManifest(ctx, regA, "app", a.digest.String(), nil)
		must(t, err, "pull by digest")
		_, err = f.r.StatManifest(ctx, regA, "app", "latest", nil)
		must(t, err, "HEAD")
		_, _, err = f.r.GetManifest(ctx, regA, "app", "missing", nil)
		wantKind(t, err, KindManifestNotFound, "pull of a missing tag")
		_, _, err = f.r.GetManifest(ctx, regA, "app", "latest", []string{MediaTypeDockerManifest})
		wantKind(t, err, KindManifestNotAcceptable, "unacceptable pull")
		pullTag := image(EventPull, b.digest, b.body)
		pullTag.Tag = "latest"
		wantEvents(t, rec.take(f), pullTag, image(EventPull, a.digest, a.body))

		// Deleting a tag.
		must(t, f.r.DeleteTag(ctx, regA, "app", "v2"), "DeleteTag")
		delTag := base(EventDelete)
		delTag.Target, delTag.Tag, delTag.Digest = TargetTag, "v2", b.digest
		wantEvents(t, rec.take(f), delTag)

		// Deleting a manifest: its tags first, then the manifest.
		_, err = f.r.PutManifest(ctx, regA, "app", PutManifestInput{Reference: b.digest.String(), Body: b.body, Tags: []string{"x", "y"}})
		must(t, err, "retag")
		rec.take(f)
		must(t, f.r.DeleteManifest(ctx, regA, "app", b.digest.String()), "DeleteManifest")
		var want []Event
		for _, tg := range []string{"latest", "x", "y"} {
			e := base(EventDelete)
			e.Target, e.Tag, e.Digest = TargetTag, tg, b.digest
			want = append(want, e)
		}
		delM := image(EventDelete, b.digest, b.body)
		delM.Target, delM.Tags = TargetManifest, []string{"latest", "x", "y"}
		wantEvents(t, rec.take(f), append(want, delM)...)

		// Failed operations publish nothing.
		wantKind(t, f.r.DeleteManifest(ctx, regA, "app", b.digest.String()), KindManifestNotFound, "deleting twice")
		wantKind(t, f.r.DeleteTag(ctx, regA, "app", "v2"), KindManifestNotFound, "deleting a missing tag")
		_, err = f.r.PutManifest(ctx, regA, "app", PutManifestInput{Reference: "bad", Body: []byte("{")})
		wantKind(t, err, KindManifestInvalid, "invalid push")
		wantEvents(t, rec.take(f))

		// Deleting the repository.
		_, err = f.r.DeleteRepository(ctx, regA, "app", true)
		must(t, err, "DeleteRepository")
		delR := base(EventDelete)
		delR.Target = TargetRepository
		wantEvents(t, rec.take(f), delR)
	})
}

func TestEventsForBlobs(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rec := f.record()
		f.createRepo(regA, "app")
		f.createRepo(regA, "dst")
		ctx := asAlice()
		ev := func(repo string, d digest.Digest, size int64) Event {
			return Event{Kind: EventUploadComplete, Cause: CauseUser, Registry: regA, Repository: repo, Digest: d, Size: size, Actor: alice, Time: f.clock.Now()}
		}
		rec.take(f) // the repositories' creation

		st, err := f.r.StartUpload(ctx, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.WriteUpload(ctx, regA, "app", st.ID, 0, strings.NewReader("chunk"))
		must(t, err, "WriteUpload")
		_, err = f.r.CompleteUpload(ctx, regA, "app", st.ID, -1, nil, digest.FromString("wrong"))
		wantKind(t, err, KindDigestInvalid, "wrong digest")
		wantEvents(t, rec.take(f)) // starting, writing and failing publish nothing
		_, err = f.r.CompleteUpload(ctx, regA, "app", st.ID, -1, strings.NewReader("ed"), digest.FromString("chunked"))
		must(t, err, "CompleteUpload")
		wantEvents(t, rec.take(f), ev("app", digest.FromString("chunked"), 7))

		_, err = f.r.PutBlob(ctx, regA, "app", digest.FromString("mono"), strings.NewReader("mono"))
		must(t, err, "PutBlob")
		wantEvents(t, rec.take(f), ev("app", digest.FromString("mono"), 4))

		_, err = f.r.UpdateSettings(bg, regA, func(s *RegistrySettings) error {
			s.Account = map[string]string{"BLOB_MOUNTING": "ENABLED"}
			return nil
		})
		must(t, err, "enabling blob mounting")
		_, ok, err := f.r.MountBlob(ctx, regA, "dst", "app", digest.FromString("mono"))
		if !ok || err != nil {
			t.Fatalf("MountBlob = %v, %v", ok, err)
		}
		_, ok, _ = f.r.MountBlob(ctx, regA, "dst", "app", digest.FromString("never"))
		if ok {
			t.Fatal("mounted a missing blob")
		}
		wantEvents(t, rec.take(f), ev("dst", digest.FromString("mono"), 4))

		// Without a caller the actor is empty.
		_, err = f.r.PutBlob(bg, regA, "app", digest.FromString("anon"), strings.NewReader("anon"))
		must(t, err, "PutBlob without caller")
		e := ev("app", digest.FromString("anon"), 4)
		e.Actor = ""
		wantEvents(t, rec.take(f), e)
	})
}

func TestBeforeHookVetoes(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rec := f.record()
		f.createRepo(regA, "app")
		img, _ := f.pushImage(regA, "app", "v1", "x")
		next := f.newImage(regA, "app", "next")
		rec.take(f)

		var mu sync.Mutex
		var seen []Event
		var veto EventKind
		var vetoTarget Target
		secondCalled := 0
		f.r.Bus().Before(func(ctx context.Context, e Event) error {
			mu.Lock()
			defer mu.Unlock()
			if CallerFrom(ctx).Principal != e.Actor {
				t.Errorf("hook ctx caller %q, event actor %q", CallerFrom(ctx).Principal, e.Actor)
			}
			seen = append(seen, e)
			if e.Kind == veto && (vetoTarget == "" || e.Target == vetoTarget) {
				return Denied("no %s for %s", e.Kind, e.Actor)
			}
			return nil
		})
		f.r.Bus().Before(func(ctx context.Context, e Event) error {
			mu.Lock()
			defer mu.Unlock()
			if e.Kind == veto && (vetoTarget == "" || e.Target == vetoTarget) {
				secondCalled++
			}
			return nil
		})
		set := func(k EventKind, target Target) {
			mu.Lock()
			veto, vetoTarget, seen = k, target, nil
			mu.Unlock()
		}
		denied := func(err error, what string) {
			t.Helper()
			wantKind(t, err, KindDenied, what)
			if !strings.Contains(err.Error(), "for "+alice) {
				t.Fatalf("%s: message %q", what, err)
			}
		}
		ctx := asAlice()

		set(EventPush, "")
		_, err := f.r.PutManifest(ctx, regA, "app", PutManifestInput{Reference: "v1", Body: next.body, Tags: []string{"v2"}})
		denied(err, "vetoed push")
		mu.Lock()
		if len(seen) != 1 || seen[0].Kind != EventPush || seen[0].Digest != next.digest || seen[0].Tag != "v1" || seen[0].Actor != alice {
			t.Fatalf("before hook saw %+v", seen)
		}
		mu.Unlock()
		if m, _ := f.r.StatManifest(bg, regA, "app", "v1", nil); m.Digest != img.digest {
			t.Fatal("a vetoed push moved the tag")
		}
		_, err = f.r.StatManifest(bg, regA, "app", next.digest.String(), nil)
		wantKind(t, err, KindManifestNotFound, "vetoed manifest")
		_, err = f.r.StatManifest(bg, regA, "app", "v2", nil)
		wantKind(t, err, KindManifestNotFound, "vetoed extra tag")

		set(EventPull, "")
		_, _, err = f.r.GetManifest(ctx, regA, "app", "v1", nil)
		denied(err, "vetoed pull")
		_, err = f.r.StatManifest(ctx, regA, "app", "v1", nil) // HEAD is not a pull
		must(t, err, "HEAD while pulls are vetoed")

		set(EventDelete, TargetTag)
		denied(f.r.DeleteTag(ctx, regA, "app", "v1"), "vetoed tag delete")
		denied(f.r.DeleteManifest(ctx, regA, "app", "v1"), "vetoed tag delete through DeleteManifest")
		if _, err := f.r.StatManifest(bg, regA, "app", "v1", nil); err != nil {
			t.Fatalf("tag after vetoed delete: %v", err)
		}

		set(EventDelete, TargetManifest)
		denied(f.r.DeleteManifest(ctx, regA, "app", img.digest.String()), "vetoed manifest delete")
		if _, err := f.r.StatManifest(bg, regA, "app", img.digest.String(), nil); err != nil {
			t.Fatalf("manifest after vetoed delete: %v", err)
		}

		set(EventDelete, TargetRepository)
		_, err = f.r.DeleteRepository(ctx, regA, "app", true)
		denied(err, "vetoed repository delete")
		if _, err := f.r.GetRepository(bg, regA, "app"); err != nil {
			t.Fatalf("repository after vetoed delete: %v", err)
		}

		set(EventUploadComplete, "")
		d := digest.FromString("vetoed blob")
		_, err = f.r.PutBlob(ctx, regA, "app", d, strings.NewReader("vetoed blob"))
		denied(err, "vetoed PutBlob")
		st, err := f.r.StartUpload(ctx, regA, "app")
		must(t, err, "StartUpload")
		_, err = f.r.CompleteUpload(ctx, regA, "app", st.ID, -1, strings.NewReader("vetoed blob"), d)
		denied(err, "vetoed CompleteUpload")
		_, err = f.r.StatBlob(bg, regA, "app", d)
		wantKind(t, err, KindBlobNotFound, "vetoed blob")
		if f.blobBytesStored(d) {
			t.Fatal("vetoed blob bytes were stored")
		}
		f.createRepo(regA, "dst")
		rec.take(f)
		_, err = f.r.UpdateSettings(bg, regA, func(s *RegistrySettings) error {
			s.Account = map[string]string{"BLOB_MOUNTING": "ENABLED"}
			return nil
		})
		must(t, err, "enabling blob mounting")
		_, _, err = f.r.MountBlob(ctx, regA, "dst", "app", img.config.Digest)
		denied(err, "vetoed mount")
		_, err = f.r.StatBlob(bg, regA, "dst", img.config.Digest)
		wantKind(t, err, KindBlobNotFound, "vetoed mount")

		mu.Lock()
		if secondCalled != 0 {
			t.Fatalf("a later before hook ran %d times after a veto", secondCalled)
		}
		mu.Unlock()
		// Vetoed operations reach no after hook.
		wantEvents(t, rec.take(f))

		// With nothing vetoed, the second hook runs.
		set("", "")
		_, _, err = f.r.GetManifest(ctx, regA, "app", "v1", nil)
		must(t, err, "pull")
		if len(rec.take(f)) != 1 {
			t.Fatal("pull not published")
		}
	})
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitBus(t *testing.T, b *Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if err := b.Wait(ctx); err != nil {
		t.Fatal("subscribers did not catch up:", err)
	}
}

func TestBusCloseDrains(t *testing.T) {
	b := NewBus(BusOptions{Log: quietLog()})
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	b.Subscribe(Subscriber{Name: "slow", Handle: func(ctx context.Context, e Event) error {
		<-release
		mu.Lock()
		got = append(got, e.Tag)
		mu.Unlock()
		return nil
	}})
	var want []string
	for i := 0; i < 50; i++ {
		tag := "t" + itoa(int64(i))
		want = append(want, tag)
		b.publish(bg, Event{Kind: EventTag, Tag: tag})
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while events were queued")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-closed:
		must(t, err, "Close")
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	mu.Lock()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("delivered %v, want %v in order", got, want)
	}
	mu.Unlock()
	// After Close, a request's publish is a no-op (no panic) and Close is idempotent.
	b.publish(bg, Event{Kind: EventTag, Tag: "late"})
	must(t, b.Close(), "second Close")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 50 {
		t.Fatalf("an event published after Close was delivered: %v", got[50:])
	}
}

// Close gives up after its drain timeout and says how many events it lost,
// rather than hanging on a stuck subscriber.
func TestBusCloseGivesUpOnAStuckSubscriber(t *testing.T) {
	b := NewBus(BusOptions{Log: quietLog(), DrainTimeout: 50 * time.Millisecond})
	stuck := make(chan struct{})
	defer close(stuck)
	b.Subscribe(Subscriber{Name: "stuck", Handle: func(ctx context.Context, e Event) error {
		select {
		case <-stuck:
		case <-ctx.Done(): // the bus tells running handlers to stop
		}
		return nil
	}})
	for range 3 {
		b.publish(bg, Event{Kind: EventPush})
	}
	err := b.Close()
	if err == nil || !strings.Contains(err.Error(), "stuck: 2 events not handled") {
		t.Fatalf("Close = %v, want it to report 2 events lost by stuck", err)
	}
}

func TestBusFullQueueMakesRequestsWait(t *testing.T) {
	b := NewBus(BusOptions{Log: quietLog()})
	release := make(chan struct{})
	var mu sync.Mutex
	n := 0
	b.Subscribe(Subscriber{Name: "slow", QueueSize: 1, Handle: func(ctx context.Context, e Event) error {
		<-release
		mu.Lock()
		n++
		mu.Unlock()
		return nil
	}})
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10; i++ {
			b.publish(bg, Event{Kind: EventPush})
		}
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("publishing 10 events into a queue of 1 did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-done
	must(t, b.Close(), "Close")
	mu.Lock()
	defer mu.Unlock()
	if n != 10 {
		t.Fatalf("delivered %d of 10 events (none may be lost)", n)
	}
}

// Each subscriber has its own queue and workers: one that is stuck delays
// neither the others nor, until its queue fills, the requests.
func TestBusSlowSubscriberDoesNotDelayOthers(t *testing.T) {
	b := NewBus(BusOptions{Log: quietLog()})
	stuck := make(chan struct{})
	b.Subscribe(Subscriber{Name: "scanner", Handle: func(ctx context.Context, e Event) error { <-stuck; return nil }})
	heard := make(chan Event, 100)
	b.Subscribe(Subscriber{Name: "lifecycle", Handle: func(ctx context.Context, e Event) error { heard <- e; return nil }})
	for i := range 100 {
		b.publish(bg, Event{Kind: EventPush, Tag: itoa(int64(i))})
	}
	for i := range 100 {
		select {
		case e := <-heard:
			if e.Tag != itoa(int64(i)) {
				t.Fatalf("event %d is %q: out of order", i, e.Tag)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("lifecycle heard %d of 100 events while the scanner was stuck", i)
		}
	}
	close(stuck)
	must(t, b.Close(), "Close")
}

// Several workers handle one subscriber's events at once.
func TestBusWorkersRunConcurrently(t *testing.T) {
	b := NewBus(BusOptions{Log: quietLog()})
	const workers = 4
	var arrived sync.WaitGroup
	arrived.Add(workers)
	release := make(chan struct{})
	b.Subscribe(Subscriber{Name: "pool", Workers: workers, Handle: func(ctx context.Context, e Event) error {
		arrived.Done()
		<-release
		return nil
	}})
	for range workers {
		b.publish(bg, Event{Kind: EventPush})
	}
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatal("four workers did not take four events at once")
	}
	close(release)
	must(t, b.Close(), "Close")
}

// A failed event is retried with a backoff measured on the bus's clock, and
// the failures are logged with the event.
func TestBusRetriesFailuresWithBackoff(t *testing.T) {
	var logged bytes.Buffer
	var logMu sync.Mutex
	clock := newFakeClock()
	b := NewBus(BusOptions{Log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logged, mu: &logMu}, nil)), Clock: clock})
	var mu sync.Mutex
	attempts := 0
	b.Subscribe(Subscriber{Name: "flaky", Retries: 3, Backoff: time.Second, Handle: func(ctx context.Context, e Event) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts < 3 {
			return errors.New("upstream unavailable")
		}
		return nil
	}})
	b.publish(bg, Event{Kind: EventPush, Repository: "app"})
	waitArmed := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for clock.Pending() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no retry timer armed after %d attempts", want)
			}
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if attempts != want {
			t.Fatalf("%d attempts before the retry timer, want %d", attempts, want)
		}
	}
	waitArmed(1)
	clock.Advance(999 * time.Millisecond) // not yet
	mu.Lock()
	if attempts != 1 {
		t.Fatalf("retried before the backoff passed (%d attempts)", attempts)
	}
	mu.Unlock()
	clock.Advance(time.Millisecond)
	waitArmed(2)
	clock.Advance(2 * time.Second) // the backoff doubled
	waitBus(t, b)
	must(t, b.Close(), "Close")
	mu.Lock()
	defer mu.Unlock()
	if attempts != 3 {
		t.Fatalf("%d attempts, want 3", attempts)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if c := strings.Count(logged.String(), "subscriber failed; retrying"); c != 2 || !strings.Contains(logged.String(), "subscriber=flaky") ||
		!strings.Contains(logged.String(), "repository=app") || strings.Contains(logged.String(), "gave up") {
		t.Fatalf("log:\n%s", logged.String())
	}
}

func TestBusPanickingSubscriber(t *testing.T) {
	var logged bytes.Buffer
	var logMu sync.Mutex
	b := NewBus(BusOptions{Log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logged, mu: &logMu}, nil))})
	var mu sync.Mutex
	var before, after []EventKind
	b.Subscribe(Subscriber{Name: "before", Handle: func(ctx context.Context, e Event) error {
		mu.Lock()
		before = append(before, e.Kind)
		mu.Unlock()
		return nil
	}})
	b.Subscribe(Subscriber{Name: "buggy", Retries: -1, Handle: func(ctx context.Context, e Event) error {
		if e.Kind == EventPush {
			panic("subscriber bug")
		}
		return nil
	}})
	b.Subscribe(Subscriber{Name: "after", Handle: func(ctx context.Context, e Event) error {
		mu.Lock()
		after = append(after, e.Kind)
		mu.Unlock()
		return nil
	}})
	for _, k := range []EventKind{EventPush, EventPull, EventPush, EventTag} {
		b.publish(bg, Event{Kind: k})
	}
	must(t, b.Close(), "Close")
	want := []EventKind{EventPush, EventPull, EventPush, EventTag}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(before, want) || !reflect.DeepEqual(after, want) {
		t.Fatalf("delivered %v and %v, want %v to both", before, after, want)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if c := strings.Count(logged.String(), "subscriber gave up on an event"); c != 2 || !strings.Contains(logged.String(), "panic: subscriber bug") {
		t.Fatalf("logged %d failures, want 2 panics:\n%s", c, logged.String())
	}
}

func TestBusBeforeOrder(t *testing.T) {
	b := NewBus(BusOptions{})
	defer b.Close()
	var calls []int
	stop := errors.New("stop")
	b.Before(func(ctx context.Context, e Event) error { calls = append(calls, 1); return nil })
	b.Before(func(ctx context.Context, e Event) error { calls = append(calls, 2); return stop })
	b.Before(func(ctx context.Context, e Event) error { calls = append(calls, 3); return nil })
	if err := b.check(bg, Event{Kind: EventPush}); err != stop {
		t.Fatalf("check = %v, want the vetoing hook's error", err)
	}
	if !reflect.DeepEqual(calls, []int{1, 2}) {
		t.Fatalf("hooks ran %v, want [1 2]", calls)
	}
}

// A subscriber that writes through core with the context it was handed never
// deadlocks, even with its queue full: its own writes do not wait.
func TestSubscriberWritingThroughCoreWithAFullQueue(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img := f.newImage(regA, "app", "base")
		var mu sync.Mutex
		copies := 0
		f.r.Bus().Subscribe(Subscriber{Name: "copier", QueueSize: 1, Kinds: []EventKind{EventPush}, Handle: func(ctx context.Context, e Event) error {
			if CauseFrom(ctx) == CauseReplication || e.Cause == CauseReplication {
				return nil
			}
			// Each push makes two more pushes of its own, into its own full queue.
			for i := range 2 {
				_, err := f.r.PutManifest(WithCause(ctx, CauseReplication), regA, "app", PutManifestInput{Reference: e.Tag + "-copy" + itoa(int64(i)), Body: img.body})
				if err != nil {
					return err
				}
			}
			mu.Lock()
			copies += 2
			mu.Unlock()
			return nil
		}})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v" + itoa(int64(i)), Body: img.body})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			ctx, cancel := context.WithTimeout(bg, 30*time.Second)
			defer cancel()
			if err := f.r.Bus().Wait(ctx); err != nil {
				t.Error("bus did not settle:", err)
			}
		}()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("deadlock: a subscriber writing through core with a full queue never finished")
		}
		mu.Lock()
		defer mu.Unlock()
		if copies != 40 {
			t.Fatalf("%d copies, want 40", copies)
		}
	})
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A subscriber may skip an event that one queued after it makes redundant;
// the others are all handled, in order, and the bus still drains.
func TestBusSkipsSupersededEvents(t *testing.T) {
	b := NewBus(BusOptions{Log: quietLog()})
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var handled []string
	b.Subscribe(Subscriber{Name: "coalescing",
		Supersedes: func(later, earlier Event) bool { return later.Repository == earlier.Repository },
		Handle: func(ctx context.Context, e Event) error {
			if e.Tag == "first" {
				close(started)
				<-release
			}
			mu.Lock()
			handled = append(handled, e.Repository+":"+e.Tag)
			mu.Unlock()
			return nil
		}})
	b.publish(bg, Event{Kind: EventPush, Repository: "a", Tag: "first"})
	<-started // the worker holds "first"; the rest queue behind it
	for _, e := range []Event{{Repository: "a", Tag: "1"}, {Repository: "b", Tag: "2"}, {Repository: "a", Tag: "3"}, {Repository: "b", Tag: "4"}, {Repository: "c", Tag: "5"}} {
		e.Kind = EventPush
		b.publish(bg, e)
	}
	close(release)
	must(t, b.Wait(bg), "Wait")
	mu.Lock()
	got := strings.Join(handled, " ")
	mu.Unlock()
	if want := "a:first a:3 b:4 c:5"; got != want {
		t.Fatalf("handled %q, want %q", got, want)
	}
	must(t, b.Close(), "Close")
}

// A subscriber's Wants decides, as the event is published, whether it is
// queued at all: an event it does not want never reaches Handle, and Wants
// is asked with the bus's context, not the request's.
func TestBusQueuesOnlyTheEventsASubscriberWants(t *testing.T) {
	b := NewBus(BusOptions{Log: quietLog()})
	defer b.Close()
	var mu sync.Mutex
	var asked, handled []string
	b.Subscribe(Subscriber{Name: "picky",
		Wants: func(ctx context.Context, e Event) bool {
			if ctx.Value(requestKey{}) != nil {
				t.Errorf("Wants got the request's context")
			}
			mu.Lock()
			asked = append(asked, e.Tag)
			mu.Unlock()
			return strings.HasPrefix(e.Tag, "want")
		},
		Handle: func(ctx context.Context, e Event) error {
			mu.Lock()
			handled = append(handled, e.Tag)
			mu.Unlock()
			return nil
		}})
	req := context.WithValue(bg, requestKey{}, true)
	for _, tag := range []string{"want-1", "skip-1", "want-2", "skip-2"} {
		b.publish(req, Event{Kind: EventTag, Tag: tag})
	}
	must(t, b.Wait(bg), "Wait")
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"want-1", "skip-1", "want-2", "skip-2"}; !reflect.DeepEqual(asked, want) {
		t.Fatalf("Wants was asked about %v, want %v", asked, want)
	}
	if want := []string{"want-1", "want-2"}; !reflect.DeepEqual(handled, want) {
		t.Fatalf("handled %v, want only the wanted events %v", handled, want)
	}
}

type requestKey struct{}

// An event a handler publishes in reaction to another (managed signing's
// signature push after the image's push) reaches every other subscriber
// after its cause. The second subscriber's Wants holds the first event's
// fan-out open until the first subscriber has reacted (or a bound passes):
// a bus that queued the cause for one subscriber at a time would then queue
// the reaction for the second subscriber first.
func TestBusQueuesAReactionAfterItsCauseForEverySubscriber(t *testing.T) {
	b := NewBus(BusOptions{Log: quietLog()})
	reacted := make(chan struct{})
	b.Subscribe(Subscriber{Name: "signer", Handle: func(ctx context.Context, e Event) error {
		if e.Cause == CauseUser {
			b.publish(ctx, Event{Kind: EventPush, Cause: CauseSigning})
			close(reacted)
		}
		return nil
	}})
	var mu sync.Mutex
	var heard []Cause
	b.Subscribe(Subscriber{Name: "audit",
		Wants: func(ctx context.Context, e Event) bool {
			if e.Cause == CauseUser {
				select {
				case <-reacted:
				case <-time.After(200 * time.Millisecond): // the bus under test may not let the signer see the push yet
				}
			}
			return true
		},
		Handle: func(ctx context.Context, e Event) error {
			mu.Lock()
			heard = append(heard, e.Cause)
			mu.Unlock()
			return nil
		}})
	b.publish(bg, Event{Kind: EventPush, Cause: CauseUser})
	must(t, b.Wait(bg), "Wait")
	must(t, b.Close(), "Close")
	mu.Lock()
	defer mu.Unlock()
	if len(heard) != 2 || heard[0] != CauseUser || heard[1] != CauseSigning {
		t.Fatalf("audit heard %v, want the user's push, then signing's", heard)
	}
}
