package core

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// EventKind names what happened; see the package doc for the contract.
type EventKind string

const (
	EventPush           EventKind = "push"
	EventPull           EventKind = "pull"
	EventTag            EventKind = "tag"
	EventDelete         EventKind = "delete"
	EventUploadComplete EventKind = "upload-complete"
)

// DeleteTarget says what an EventDelete removed.
type DeleteTarget string

const (
	TargetManifest   DeleteTarget = "manifest"
	TargetTag        DeleteTarget = "tag"
	TargetRepository DeleteTarget = "repository"
)

// Event describes one operation. Before hooks see it before it happens, after
// hooks once it has.
type Event struct {
	Kind           EventKind
	Target         DeleteTarget // EventDelete only
	Registry       RegistryID
	Repository     string
	Digest         digest.Digest
	PreviousDigest digest.Digest // EventTag: the digest the tag pointed to before, if any
	Tag            string
	MediaType      string
	Size           int64
	Actor          string
	Time           time.Time
}

// BeforeHook may veto an operation by returning an error.
type BeforeHook func(ctx context.Context, e Event) error

// AfterHook observes a completed operation, off the request path.
type AfterHook func(e Event)

// Bus dispatches events to subscribers.
type Bus struct {
	mu     sync.RWMutex
	before []BeforeHook
	after  []afterSub
	wanted map[EventKind]bool // kinds some after hook wants; nil key "" means all

	qmu    sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	queue  chan Event
	done   chan struct{}
	log    *slog.Logger
}

// NewBus starts the after-hook dispatcher. queueSize bounds the events waiting
// for after hooks; a full queue makes publishers wait (backpressure) rather
// than lose events.
func NewBus(queueSize int, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{queue: make(chan Event, queueSize), done: make(chan struct{}), log: log}
	go b.run()
	return b
}

// Before subscribes a synchronous, vetoing hook.
func (b *Bus) Before(h BeforeHook) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.before = append(b.before, h)
}

type afterSub struct {
	hook  AfterHook
	kinds map[EventKind]bool // nil: every kind
}

// After subscribes an asynchronous observer to the given kinds of event, or
// to every kind when none are given. Events nobody wants are not queued.
func (b *Bus) After(h AfterHook, kinds ...EventKind) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sub := afterSub{hook: h}
	if b.wanted == nil {
		b.wanted = map[EventKind]bool{}
	}
	if len(kinds) == 0 {
		b.wanted[""] = true
	} else {
		sub.kinds = map[EventKind]bool{}
		for _, k := range kinds {
			sub.kinds[k], b.wanted[k] = true, true
		}
	}
	b.after = append(b.after, sub)
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

// publish queues e for the after hooks.
func (b *Bus) publish(e Event) {
	b.mu.RLock()
	wanted := b.wanted[""] || b.wanted[e.Kind]
	b.mu.RUnlock()
	if !wanted {
		return
	}
	b.qmu.RLock()
	defer b.qmu.RUnlock()
	if !b.closed {
		b.queue <- e
	}
}

func (b *Bus) run() {
	for e := range b.queue {
		b.mu.RLock()
		hooks := b.after
		b.mu.RUnlock()
		for _, s := range hooks {
			if s.kinds == nil || s.kinds[e.Kind] {
				b.deliver(s.hook, e)
			}
		}
	}
	close(b.done)
}

// deliver isolates the dispatcher from a panicking subscriber.
func (b *Bus) deliver(h AfterHook, e Event) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("after hook panicked", "event", e.Kind, "panic", p)
		}
	}()
	h(e)
}

// Close stops accepting events and waits until queued ones are delivered.
func (b *Bus) Close() {
	b.qmu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.qmu.Unlock()
	<-b.done
}
