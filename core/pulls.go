package core

import (
	"slices"
	"sync"
	"time"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// pullKey names one image whose pull time is waiting to be written.
type pullKey struct {
	reg    RegistryID
	repo   string
	digest string
}

// pullTimes batches last-pulled times: a pull is recorded in memory at once
// and written with the others in one transaction shortly after, so a burst of
// pulls costs one commit, not one each (ECR too records pull times lazily).
// Reads that report pull times write the pending ones first, so nobody sees
// a pull go missing.
type pullTimes struct {
	flushing sync.Mutex // held for a whole flush, so that Close waits for one in flight
	mu       sync.Mutex
	// pending keeps, per image, each puller's latest pull: whether a pull
	// counts depends on the puller (pull-time exclusions), which is checked
	// when the batch is written.
	pending map[pullKey]map[string]time.Time
	timer   Timer
	closed  bool
}

// pullFlushDelay is how long a recorded pull waits for others to share its commit.
const pullFlushDelay = 100 * time.Millisecond

// recordPull notes a pull; the write follows within pullFlushDelay.
func (r *Registry) recordPull(e Event) {
	p := &r.pulls
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.pending == nil {
		p.pending = map[pullKey]map[string]time.Time{}
	}
	k := pullKey{e.Registry, e.Repository, string(e.Digest)}
	byActor := p.pending[k]
	if byActor == nil {
		byActor = map[string]time.Time{}
		p.pending[k] = byActor
	}
	if prev, ok := byActor[e.Actor]; !ok || e.Time.After(prev) {
		byActor[e.Actor] = e.Time
	}
	if p.timer == nil {
		p.timer = r.clock.AfterFunc(pullFlushDelay, r.flushPulls)
	}
}

// settlePulls writes pending pull times now, if there are any: a read that
// reports lastRecordedPullTime calls it first.
func (r *Registry) settlePulls() {
	p := &r.pulls
	p.mu.Lock()
	waiting := len(p.pending) > 0
	p.mu.Unlock()
	if waiting {
		r.flushPulls()
	}
}

// flushPulls writes the pending pull times: per image, the latest pull by a
// principal that is not excluded from pull-time updates.
func (r *Registry) flushPulls() {
	p := &r.pulls
	p.flushing.Lock()
	defer p.flushing.Unlock()
	p.mu.Lock()
	batch := p.pending
	p.pending = nil
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := r.kv.Update(func(tx kv.Tx) error {
		settings := map[RegistryID]RegistrySettings{}
		for k, byActor := range batch {
			s, ok := settings[k.reg]
			if !ok {
				var err error
				if s, err = getSettings(tx, k.reg); err != nil {
					return err
				}
				settings[k.reg] = s
			}
			var latest time.Time
			for actor, at := range byActor {
				if !slices.Contains(s.PullTimeExclusions, actor) && at.After(latest) {
					latest = at
				}
			}
			if latest.IsZero() {
				continue
			}
			img, found, err := getImage(tx, k.reg, k.repo, digest.Digest(k.digest), false)
			if err != nil {
				r.log.Error("not recording a pull time", "err", err)
				continue
			}
			if !found || !latest.After(img.LastPulledAt) {
				continue // deleted since, or an earlier pull
			}
			img.LastPulledAt = latest
			if err := putImage(tx, k.reg, k.repo, &img); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.log.Warn("recording pull times", "images", len(batch), "err", err)
	}
}

// closePulls writes what is pending and stops recording.
func (r *Registry) closePulls() {
	p := &r.pulls
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	r.flushPulls()
}
