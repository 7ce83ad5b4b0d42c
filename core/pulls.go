package core

import (
	"encoding/json"
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
	pending map[pullKey]*pullNote
	// notes holds the pending notes, a block at a time: noting the pull of
	// an image not pulled since the last write (every child of an index
	// pull) allocates nothing of its own, and a pull of one already noted
	// looks its key up once.
	notes []pullNote
	// last is the note of the pull noted last, under lastKey: a pull loop
	// notes the same image again and again, and finds it without hashing
	// its key. Reset with pending.
	last    *pullNote
	lastKey pullKey
	// lastBatch is how many images the last write had: pending starts at
	// that size, so that a pull of every child of an index (a thousand
	// images a second) does not grow it again and again on the way.
	lastBatch int
	timer     Timer
	closed    bool
}

// maxPresize bounds what pending is sized for up front.
const maxPresize = 1 << 14

// pullNoteBlock is how many notes are allocated together.
const pullNoteBlock = 64

// pullNote is each puller's latest pull of one image. Nearly every image is
// pulled by one principal between two writes, so the first is kept in the
// note itself and only others in a map.
type pullNote struct {
	actor  string
	at     time.Time
	others map[string]time.Time // pullers besides actor, nil while there are none
}

// note keeps at as actor's pull if it is actor's latest.
func (n *pullNote) note(actor string, at time.Time) {
	if actor == n.actor {
		if at.After(n.at) {
			n.at = at
		}
		return
	}
	if n.others == nil {
		n.others = map[string]time.Time{}
	}
	if prev, ok := n.others[actor]; !ok || at.After(prev) {
		n.others[actor] = at
	}
}

// latest is the latest pull by a puller that counts.
func (n *pullNote) latest(counts func(actor string) bool) time.Time {
	var latest time.Time
	if counts(n.actor) {
		latest = n.at
	}
	for actor, at := range n.others {
		if counts(actor) && at.After(latest) {
			latest = at
		}
	}
	return latest
}

// pullFlushDelay is how long a recorded pull waits for others to share its
// commit. Every read that reports pull times writes the pending ones first,
// so the delay is only how much of them a crash may lose: ECR itself
// "refreshes the last image pull timestamp at least once every 24 hours"
// (ImageDetail.lastRecordedPullTime, ECR API reference). A second makes a
// steady pull loop on disk pay one commit (two fdatasyncs) a second rather
// than ten.
const pullFlushDelay = time.Second

// recordPull notes a pull; the write follows within pullFlushDelay.
func (r *Registry) recordPull(e *Event) {
	p := &r.pulls
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.pending == nil {
		p.pending = make(map[pullKey]*pullNote, p.lastBatch)
	}
	k := pullKey{e.Registry, e.Repository, string(e.Digest)}
	if p.last != nil && p.lastKey == k {
		p.last.note(e.Actor, e.Time)
	} else if n := p.pending[k]; n != nil {
		n.note(e.Actor, e.Time)
		p.last, p.lastKey = n, k
	} else {
		if len(p.notes) == cap(p.notes) {
			p.notes = make([]pullNote, 0, pullNoteBlock) // the full block stays where its notes point
		}
		p.notes = append(p.notes, pullNote{actor: e.Actor, at: e.Time})
		n = &p.notes[len(p.notes)-1]
		p.pending[k] = n
		p.last, p.lastKey = n, k
	}
	if p.timer == nil {
		p.timer = r.clock.AfterFunc(pullFlushDelay, r.flushPulls)
	}
}

// noted reports whether a pull of the image waits to be written.
func (p *pullTimes) noted(reg RegistryID, repo string, dg digest.Digest) bool {
	p.mu.Lock()
	_, ok := p.pending[pullKey{reg, repo, string(dg)}]
	p.mu.Unlock()
	return ok
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
	p.pending, p.notes, p.last, p.lastKey = nil, nil, nil, pullKey{}
	if len(batch) > 0 {
		p.lastBatch = min(len(batch), maxPresize)
	}
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
		var (
			key, val []byte // reused from image to image
			rec      imageRecord
		)
		for k, n := range batch {
			s, ok := settings[k.reg]
			if !ok {
				var err error
				if s, err = getSettings(tx, k.reg); err != nil {
					return err
				}
				settings[k.reg] = s
			}
			latest := n.latest(func(actor string) bool { return !slices.Contains(s.PullTimeExclusions, actor) })
			if latest.IsZero() {
				continue
			}
			// getImage and putImage, on the record alone, with one key
			// buffer and one value buffer for the whole batch.
			key = append(append(appendRepoKey(key[:0], k.reg, k.repo), sep...), k.digest...)
			b := tx.Get(bManifests, key)
			if b == nil {
				continue // deleted since
			}
			if err := decodeRecord(b, &rec); err != nil {
				r.log.Error("not recording a pull time", "err", corrupt("image", key, err))
				continue
			}
			if !latest.After(rec.LastPulledAt) {
				continue // an earlier pull
			}
			rec.LastPulledAt = latest
			var err error
			if val, ok = appendRecord(val[:0], &rec); !ok {
				if val, err = json.Marshal(&rec); err != nil {
					return err
				}
			}
			if err := putRecord(tx, key, val); err != nil {
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
