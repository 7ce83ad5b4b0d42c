package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// EventKind names what happened; see the package doc for the contract.
type EventKind string

const (
	EventPush              EventKind = "push"
	EventPull              EventKind = "pull"
	EventTag               EventKind = "tag"
	EventDelete            EventKind = "delete"
	EventUploadComplete    EventKind = "upload-complete"
	EventRepositoryCreated EventKind = "repository-created"
	EventImageArchived     EventKind = "image-archived"
	EventImageRestored     EventKind = "image-restored"
	EventPolicyChanged     EventKind = "policy-changed"
)

// Target says what an EventDelete removed, or whose policy an
// EventPolicyChanged changed.
type Target string

const (
	TargetManifest   Target = "manifest"
	TargetTag        Target = "tag"
	TargetRepository Target = "repository"
	TargetRegistry   Target = "registry"
	// TargetLifecyclePolicy: a repository's lifecycle policy was set or removed.
	TargetLifecyclePolicy Target = "lifecycle-policy"
)

// Cause says on whose behalf a change was made: a user's request, or one of
// berth's features writing for the registry. Features check it to avoid
// acting on their own writes (replication never replicates a replica,
// signing never signs a signature).
type Cause string

const (
	CauseUser        Cause = "user"
	CauseReplication Cause = "replication"
	CausePullThrough Cause = "pull-through"
	CauseLifecycle   Cause = "lifecycle"
	CauseSigning     Cause = "signing"
	CauseTemplate    Cause = "template"
)

type causeKey struct{}

// WithCause marks the writes made with ctx as made for cause.
func WithCause(ctx context.Context, c Cause) context.Context {
	return context.WithValue(ctx, causeKey{}, c)
}

// CauseFrom returns the cause attached to ctx; a request's is CauseUser.
func CauseFrom(ctx context.Context) Cause {
	if c, ok := ctx.Value(causeKey{}).(Cause); ok {
		return c
	}
	return CauseUser
}

// Event describes one operation. Before hooks see it before it happens, after
// hooks once it has.
type Event struct {
	Kind           EventKind
	Target         Target // EventDelete, EventPolicyChanged
	Cause          Cause
	Registry       RegistryID
	Repository     string
	Digest         digest.Digest
	PreviousDigest digest.Digest // EventTag: the digest the tag pointed to before, if any
	// Tag is the one tag the event is about: an EventTag's tag, the tag a
	// push or pull named, a deleted tag. Tags lists every tag a push set
	// (moved or not) or a manifest deletion removed.
	Tag          string
	Tags         []string
	MediaType    string
	ArtifactType string
	// Subject is the manifest a referrer (a signature, an SBOM) refers to.
	Subject digest.Digest
	Size    int64
	Actor   string // the caller's principal ARN; empty for the registry's own work
	Time    time.Time
	// Repo is the repository as the push's transaction read it (an
	// EventPush from PutManifest; nil elsewhere): a subscriber's Wants
	// decides from its settings (scan on push, a lifecycle policy) without
	// reading the repository again. It is shared by every subscriber and
	// must not be changed.
	Repo *Repository
}

// BeforeHook may veto an operation by returning an error.
type BeforeHook func(ctx context.Context, e Event) error

// Subscriber hears events after they happen, on its own queue and workers.
type Subscriber struct {
	// Name identifies the subscriber in logs.
	Name string
	// Kinds are the kinds it hears; none means every kind.
	Kinds []EventKind
	// Handle is called once per event. An error (or a panic) is logged and
	// the event retried; ctx is the bus's, and writes made through core with
	// it never wait for a queue (see the package doc).
	Handle func(ctx context.Context, e Event) error
	// Workers is how many events it handles at once (default 1). With one
	// worker, events arrive in publish order.
	Workers int
	// QueueSize is how far behind it may fall before requests that publish
	// to it wait (default 1024).
	QueueSize int
	// Retries is how many times a failed event is tried again (default 3;
	// negative: never); Backoff is the first wait, doubled at each retry
	// (default 100ms on the bus's clock).
	Retries int
	Backoff time.Duration
	// Wants, when set, is asked on the publishing goroutine, with the bus's
	// context, whether the subscriber has anything to do for e: an event it
	// does not want is never queued, and no worker wakes for it. Most pushes
	// concern no feature (no rule, no policy), and waking a worker per
	// subscriber costs a request more than the rest of its bookkeeping. Wants
	// must be quick and must not block or write: it reads what the feature
	// keeps in memory, or core's cached reads. When in doubt (a read fails)
	// it says true, and Handle decides. A subscriber whose whole work is as
	// quick (one atomic store) may do it here and say false.
	Wants func(ctx context.Context, e Event) bool
	// Supersedes, when set, lets a subscriber with one worker skip an event
	// that an event queued after it makes redundant (lifecycle: a later push
	// into the same repository evaluates everything the earlier one would
	// have). A skipped event counts as handled.
	Supersedes func(later, earlier Event) bool
}

// BusOptions configure a Bus.
type BusOptions struct {
	Log   *slog.Logger
	Clock Clock // for retry backoff; nil: SystemClock
	// DrainTimeout bounds how long Close waits for queued events (default 10s).
	DrainTimeout time.Duration
}

// Bus dispatches events to subscribers.
type Bus struct {
	log   *slog.Logger
	clock Clock
	drain time.Duration

	mu     sync.RWMutex
	before []BeforeHook
	subs   []*subscription
	wanted map[EventKind]bool // kinds some subscriber wants; key "" means every kind
	closed bool

	ctx    context.Context // handed to subscribers; cancelled when the bus closes
	cancel context.CancelFunc

	pmu     sync.Mutex
	quiet   *sync.Cond // pending reached zero
	pending int        // events queued or being handled, all subscribers together

	// fanMu is held while one event is appended to every queue that wants
	// it, so that an event a handler publishes in reaction to it (managed
	// signing's signature push, a replica's push) is queued after it for
	// every other subscriber: without it the handler could react, and
	// publish, before the loop had reached the next subscriber, which then
	// heard of the effect before its cause. Held only for appends, never
	// while waiting for room.
	fanMu sync.Mutex
}

// NewBus returns a bus with no subscribers.
func NewBus(o BusOptions) *Bus {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = SystemClock
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{log: o.Log, clock: o.Clock, drain: o.DrainTimeout, wanted: map[EventKind]bool{}, ctx: ctx, cancel: cancel}
	b.quiet = sync.NewCond(&b.pmu)
	return b
}

// Before subscribes a synchronous, vetoing hook.
func (b *Bus) Before(h BeforeHook) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.before = append(b.before, h)
}

// Subscribe starts s's workers. Events published from now on that s wants
// are queued for it.
func (b *Bus) Subscribe(s Subscriber) {
	if s.Workers <= 0 {
		s.Workers = 1
	}
	if s.QueueSize <= 0 {
		s.QueueSize = 1024
	}
	if s.Retries == 0 {
		s.Retries = 3
	}
	if s.Backoff <= 0 {
		s.Backoff = 100 * time.Millisecond
	}
	sub := &subscription{Subscriber: s, bus: b}
	sub.changed = sync.NewCond(&sub.mu)
	if len(s.Kinds) > 0 {
		sub.kinds = map[EventKind]bool{}
		for _, k := range s.Kinds {
			sub.kinds[k] = true
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if sub.kinds == nil {
		b.wanted[""] = true
	}
	for k := range sub.kinds {
		b.wanted[k] = true
	}
	b.subs = append(b.subs, sub)
	for range s.Workers {
		sub.workers.Add(1)
		go sub.work()
	}
}

// check runs the before hooks; the first error vetoes.
func (b *Bus) check(ctx context.Context, e Event) error {
	b.mu.RLock()
	hooks := b.before
	b.mu.RUnlock()
	for _, h := range hooks {
		if err := h(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// workerKey marks the context a subscriber's handler runs with.
type workerKey struct{}

// publish queues e for every subscriber that wants it, in one step under
// fanMu (see there). A request first waits while a subscriber's queue is
// full (so a queue may pass its size by as many requests as raced for its
// last room); a subscriber's own writes (ctx from Handle) never wait, so a
// subscriber that writes through core cannot deadlock on its own queue or
// another's.
func (b *Bus) publish(ctx context.Context, e Event) {
	b.mu.RLock()
	if !b.wanted[""] && !b.wanted[e.Kind] {
		b.mu.RUnlock()
		return
	}
	subs := b.subs
	closed := b.closed
	b.mu.RUnlock()
	patient := ctx.Value(workerKey{}) == nil
	if closed && patient {
		// Requests end before the bus closes; a handler's writes while it
		// drains are still delivered.
		b.log.Warn("event published after the bus closed", "event", e.Kind, "repository", e.Repository)
		return
	}
	var wanting [8]*subscription // on the stack for up to 8 subscribers
	targets := wanting[:0]
	for _, s := range subs {
		if (s.kinds == nil || s.kinds[e.Kind]) && (s.Wants == nil || s.Wants(b.ctx, e)) {
			if patient {
				s.waitRoom()
			}
			targets = append(targets, s)
		}
	}
	if len(targets) == 0 {
		return
	}
	b.fanMu.Lock()
	for _, s := range targets {
		s.push(e)
	}
	b.fanMu.Unlock()
}

// Wait returns once every event published so far has been handled (or given
// up on) by every subscriber, including the events their handlers published
// in turn, or when ctx ends. Tests use it instead of sleeping.
func (b *Bus) Wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		b.pmu.Lock()
		b.quiet.Broadcast()
		b.pmu.Unlock()
	})
	defer stop()
	b.pmu.Lock()
	defer b.pmu.Unlock()
	for b.pending > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.quiet.Wait()
	}
	return nil
}

// track counts events queued or being handled, across subscribers: an event
// a handler publishes is counted before the handler's own is done, so zero
// means nothing is left anywhere.
func (b *Bus) track(delta int) {
	b.pmu.Lock()
	b.pending += delta
	if b.pending == 0 {
		b.quiet.Broadcast()
	}
	b.pmu.Unlock()
}

// Close stops accepting events from requests and waits, at most
// DrainTimeout, until every queued event is handled; it reports the events
// it had to abandon.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := b.subs
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), b.drain) // real time: shutting down must end
	defer cancel()
	drained := b.Wait(ctx) == nil
	// Workers take nothing more once closing is set; what is still queued
	// is reported lost. Only then are handlers still running told to stop
	// (and retry waits ended), so none of them hands a worker another event.
	var lost []error
	for _, s := range subs {
		s.mu.Lock()
		s.closing = true
		if n := len(s.queue); n > 0 {
			lost = append(lost, fmt.Errorf("%s: %d events not handled", s.Name, n))
			b.track(-n)
			s.queue = nil
		}
		s.changed.Broadcast()
		s.mu.Unlock()
	}
	b.cancel()
	if drained {
		for _, s := range subs {
			s.workers.Wait()
		}
	}
	err := errors.Join(lost...)
	if err != nil {
		b.log.Error("event bus closed before its subscribers caught up", "err", err)
	}
	return err
}

// subscription is one subscriber's queue and workers.
type subscription struct {
	Subscriber
	bus   *Bus
	kinds map[EventKind]bool // nil: every kind

	mu      sync.Mutex
	changed *sync.Cond // the queue changed, or the bus is closing
	queue   []Event
	closing bool
	workers sync.WaitGroup
}

// waitRoom waits until s's queue has room, or s is closing.
func (s *subscription) waitRoom() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) >= s.QueueSize && !s.closing {
		s.changed.Wait()
	}
}

// push appends e to s's queue, which it never waits for (see publish).
func (s *subscription) push(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		s.bus.log.Warn("event dropped: the bus is closed", "subscriber", s.Name, "event", e.Kind, "repository", e.Repository)
		return
	}
	s.bus.track(1)
	s.queue = append(s.queue, e)
	s.changed.Broadcast()
}

func (s *subscription) work() {
	defer s.workers.Done()
	ctx := context.WithValue(s.bus.ctx, workerKey{}, s)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closing {
			s.changed.Wait()
		}
		if s.closing {
			s.mu.Unlock()
			return
		}
		e := s.queue[0]
		s.queue[0] = Event{}
		s.queue = s.queue[1:]
		superseded := s.superseded(e)
		s.changed.Broadcast()
		s.mu.Unlock()

		if !superseded {
			s.deliver(ctx, e)
		}
		s.bus.track(-1)
	}
}

// superseded reports whether an event still queued makes e redundant. With
// several workers a later event may be handled before e, so it never is.
// Called with s.mu held.
func (s *subscription) superseded(e Event) bool {
	if s.Supersedes == nil || s.Workers > 1 {
		return false
	}
	for _, later := range s.queue {
		if s.Supersedes(later, e) {
			return true
		}
	}
	return false
}

// deliver hands e to the handler, retrying failures with backoff.
func (s *subscription) deliver(ctx context.Context, e Event) {
	wait := s.Backoff
	for attempt := 0; ; attempt++ {
		err := s.call(ctx, e)
		if err == nil {
			return
		}
		attrs := []any{"subscriber", s.Name, "event", e.Kind, "registry", e.Registry.String(), "repository", e.Repository,
			"digest", e.Digest, "attempt", attempt + 1, "err", err}
		if attempt >= s.Retries || ctx.Err() != nil {
			s.bus.log.Error("subscriber gave up on an event", attrs...)
			return
		}
		s.bus.log.Warn("subscriber failed; retrying", append(attrs, "in", wait)...)
		if Sleep(ctx, s.bus.clock, wait) != nil {
			s.bus.log.Error("subscriber gave up on an event", attrs...)
			return
		}
		wait *= 2
	}
}

// call isolates the worker from a panicking handler.
func (s *subscription) call(ctx context.Context, e Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return s.Handle(ctx, e)
}
