package kv

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bolt is a Store backed by a bbolt database file, its write-ahead
// journal and an overlay of the writes bbolt does not hold yet (see
// journaled.go): every commit is durable before Update or Batch returns.
type Bolt struct {
	db *bolt.DB

	// ov is the published overlay: what View reads over bbolt.
	ov atomic.Pointer[overlay]
	// applied is the state the last apply committed in bbolt.
	applied atomic.Pointer[appliedMark]

	// wmu serializes write transactions with the journal's appends and
	// the publishing of overlays; what follows is only touched under it
	// (or at open).
	wmu    sync.Mutex
	j      *journal
	jerr   error // a journal write or an apply that failed: writes fail from then on
	ws     writeSet
	jpath  string
	closed bool

	// amu serializes applies (the applier's, Close's, and a writer's that
	// found the overlay at its bound).
	amu        sync.Mutex
	applyBytes int
	applyQuiet time.Duration
	kick       chan struct{} // wakes the applier: the overlay is no longer empty, or large
	stop       chan struct{}
	stopOnce   sync.Once
	applierEnd chan struct{}

	// Group commit (Batch): calls queue up while a commit is in progress,
	// and the next leader commits them all in one transaction.
	bmu     sync.Mutex
	queue   []*batchCall
	leading bool // a leader is committing, or about to
	// around is how many callers were seen during the last commit (its
	// group and those that queued meanwhile); a leader with fewer queued
	// waits up to about a commit's time for the rest (see gather). full is
	// closed when the queue reaches want.
	around int
	want   int
	full   chan struct{}
	// lastCommit is how long the last Batch commit took: what a leader
	// may wait for the rest of a group (gather).
	lastCommit time.Duration
	// waits decides whether a leader waits at all, from what its waits
	// have brought (see gatherPolicy).
	waits gatherPolicy

	// rmu guards rs, the read transaction Views share (see readshare.go),
	// and applying, set while an apply runs (Views share none then).
	rmu      sync.Mutex
	rs       *readShare
	applying bool

	commits atomic.Int64 // write transactions begun (for tests)
	applies atomic.Int64 // applies committed in bbolt (for tests)
}

// PageSize is the page size of a database OpenBolt creates; one it opens
// keeps the size it was created with (bbolt reads it from the file), so
// stores created with 4 KiB pages, before this, still open as they are.
//
// Why 16 KiB, not the OS page (4 KiB), measured when every commit was a
// bbolt commit (now only applies are): a durable commit on a virtio disk
// costs one request per separate run of pages it writes, and its CPU and
// wall time grow with them (≈ 35–40 µs of CPU and ≈ 120 µs of wall each on
// the bench machine), far more than with the bytes. A commit writes one
// leaf per key it changes and every branch page above them; with 4 times
// the entries per page, trees are a level shallower (blob-refs, keyed by
// digest, was three levels deep after a few thousand blobs, so each blob of
// a commit dirtied a branch of its own). Measured with strace on the real
// binary (4 → 16 KiB): separate runs per commit of a small blob pushed
// alone 6.0 → 4.4, of 8 clients' small blobs 8.3 → 5.8, of a manifest in
// a 4-job index push 5.2 → 3.8.
const PageSize = 16 << 10

// bbolt's commits (applies) do not write its freelist (NoFreelistSync, as
// etcd runs bbolt): Open finds the free pages by walking the tree instead.
// Measured when every commit was a bbolt commit, the freelist was a page of
// every one, and a separate disk request in about
// half of them (strace of the real binary: separate runs per commit, 16 KiB
// pages, small blob alone 3.2 → 2.5, 8 clients' small blobs 5.0 → 4.8,
// manifests of a 4-job index push 3.7 → 3.3). The walk costs 5–19 ms at
// Open on a data dir of 10,000 images (a 32 MB file), and grows with the
// file; a crash loses nothing, as the walk is what recovery needs anyway.

// batchCall is one Batch call waiting for its group's commit.
type batchCall struct {
	fn   func(Tx) error
	done chan error // one result: the outcome, errLead or errAlone
}

var (
	// errLead tells a waiting call to lead the next group.
	errLead = errors.New("kv: lead the next group")
	// errAlone tells a call whose fn failed in a group to run on its own.
	errAlone = errors.New("kv: run alone")
)

// OpenBolt opens (creating if needed) the database at path, with its
// journal at path+".journal", recovering what a crash left (see journaled).
// It fails fast if another process holds the file, rather than blocking
// forever.
func OpenBolt(path string) (*Bolt, error) {
	return openBolt(path, boltConfig{})
}

type boltConfig struct {
	applyBytes int           // 0: applyBytes
	applyQuiet time.Duration // 0: applyQuiet
	mmapSize   int           // 0: initialMmap (tests: a small map, so that applies remap)
}

// initialMmap is bbolt's initial map (address space, not memory): while it
// holds the file, an apply needs no remap, which would wait for every read
// transaction to end and hold new ones back meanwhile.
const initialMmap = 1 << 30

func openBolt(path string, cfg boltConfig) (*Bolt, error) {
	// Commits are applies (see journaled.go): each one synced. The
	// freelist is not written (NoFreelistSync).
	o := &bolt.Options{Timeout: 2 * time.Second, PageSize: PageSize, NoFreelistSync: true, InitialMmapSize: initialMmap}
	if cfg.mmapSize > 0 {
		o.InitialMmapSize = cfg.mmapSize
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		// bbolt reads an existing file's page size from it; for one it
		// cannot read it takes the size given, and a damaged file of 4 KiB
		// pages, smaller than two of these, would be reported as too small
		// rather than as invalid.
		o.PageSize = 0
	}
	db, err := bolt.Open(path, 0o600, o)
	if err != nil {
		return nil, err
	}
	b := &Bolt{db: db, jpath: path + ".journal", applyBytes: cfg.applyBytes, applyQuiet: cfg.applyQuiet,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), applierEnd: make(chan struct{}),
		waits: newGatherPolicy()}
	if b.applyBytes == 0 {
		b.applyBytes = applyBytes
	}
	if b.applyQuiet == 0 {
		b.applyQuiet = applyQuiet
	}
	if err := b.recover(); err != nil {
		if b.j != nil {
			b.j.close()
		}
		db.Close()
		return nil, err
	}
	go b.applier()
	return b, nil
}

func (b *Bolt) View(fn func(Tx) error) error {
	o, rs, err := b.readShared()
	if err != nil {
		return closedErr(false, err)
	}
	defer b.releaseRead(rs)
	return fn(&ovTx{btx: rs.btx, rs: rs, o: o})
}

func (b *Bolt) Update(fn func(Tx) error) error {
	return closedErr(b.write(fn))
}

// Batch is group commit without a fixed delay: a call that finds no commit
// in progress commits at once, alone; calls that arrive meanwhile queue, and
// when the commit ends the first of them leads one transaction for all of
// them (bbolt's own DB.Batch instead waits up to 10 ms for a group to fill,
// which costs a call in a loop far more than it saves). The one wait: a
// leader that finds fewer callers queued than were around during the last
// commit gives the others up to about a commit's time to come back
// (gather), so that concurrent clients share one commit instead of
// alternating between two half-full ones, as long as such waits do bring
// callers (gatherPolicy); a lone caller never waits.
func (b *Bolt) Batch(fn func(Tx) error) error {
	c := &batchCall{fn: fn, done: make(chan error, 1)}
	b.bmu.Lock()
	b.queue = append(b.queue, c)
	lead := !b.leading
	b.leading = true
	if b.full != nil && len(b.queue) >= b.want {
		close(b.full)
		b.full = nil
	}
	b.bmu.Unlock()
	if !lead {
		switch err := <-c.done; err {
		case errLead:
		case errAlone:
			return b.Update(fn)
		default:
			return err
		}
	}
	group := b.gather() // c is in it
	began := time.Now()
	if len(group) == 1 {
		// Alone: as Update, panics included; then hand over.
		defer func() { b.handOver(1, time.Since(began)) }()
		return b.Update(fn)
	}
	b.commitGroup(group)
	b.handOver(len(group), time.Since(began))
	if err := <-c.done; err != errAlone {
		return err
	}
	return b.Update(fn)
}

// A leader waits for callers of the last commit to come back for as long as
// that commit took, within [minGatherWait, maxGatherWait]: longer, and the
// disk would sit idle for more than a commit could have done meanwhile;
// shorter, and concurrent clients — each answering a request and sending
// the next before it calls again, with several of them sharing two cores —
// miss their group. Measured on the bench machine (virtio disk, a commit
// ≈ 0.3–1 ms): with a fixed 200 µs wait, 8 clients pushing small blobs
// shared a commit by 4.1 on average and 4 jobs putting manifests by 2.2;
// with 1 ms, by 6.7 and 3.6 (commits per operation down 38–40%). The cap
// is 2 ms, not 1: on a loaded 2-core VM whose commits took 2–4 ms, the
// 1 ms cap ended nearly every wait (≈ 1 ms on average) before the group
// was back; with 2 ms, 8 clients shared a commit by 7.0 instead of 5.4
// and 4 jobs by 3.8 instead of 3.2, and server CPU per blob fell in 8 of
// 9 alternated runs.
const (
	minGatherWait = 50 * time.Microsecond
	maxGatherWait = 2 * time.Millisecond
)

// gather takes the queue as the leader's group. When fewer callers are
// queued than were around during the last commit, those missing are most
// likely on their way back (concurrent clients, each pushing one thing after
// another): the leader waits for them (see maxGatherWait), so that they
// share this commit rather than pay for one more — unless its waits have
// stopped bringing anyone (gatherPolicy). A lone caller (a loop, one client)
// never waits: around is 1 for it.
func (b *Bolt) gather() []*batchCall {
	b.bmu.Lock()
	if want := b.around; len(b.queue) < want && b.waits.wait() {
		had := len(b.queue)
		wait := min(max(b.lastCommit, minGatherWait), maxGatherWait)
		full := make(chan struct{})
		b.want, b.full = want, full
		b.bmu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-full:
		case <-t.C:
		}
		t.Stop()
		b.bmu.Lock()
		if b.full == full {
			b.full = nil
		}
		b.waits.waited(len(b.queue) - had)
	}
	group := b.queue
	b.queue = nil
	b.bmu.Unlock()
	return group
}

// gatherPolicy is whether a leader waits for the callers it expects back
// (gather), learnt from what its waits brought. Callers that come back
// within a commit's time join the wait (8 clients each pushing small
// blobs, POST and PUT, shared a commit by 4.7–5.1 with it and by 3.2–3.7
// without it, measured in round 10); callers with more to do between two
// commits do not: crane's 4 jobs each send three HEADs before their next manifest
// PUT, so the jobs split into two pairs that commit in turn, and a
// leader's wait for the other pair (≈ a commit, 300–450 µs) brought on
// average half a caller (groups of 1.8 with the wait, 1.25 without), while
// the leader and its caller sat idle. Measured on the bench machine, the
// durable 1,000-manifest index push spent 380–550 ms per push waiting or
// committing with the wait and 230–310 ms without it. With this policy,
// over 16 alternated rounds against the build before it (the bench's
// workloads, two durable servers side by side), the push took 0.83× the
// time (paired median; faster in 11 of 16), small blobs by 8 clients
// 0.91× (10 of 16), and the sequential push, where no leader waits, 0.96×:
// the host's noise.
//
// So a leader waits while its waits have brought, on average (a moving
// average over about the last four), at least one caller; below that it
// commits at once, and waits again on every probeEvery-th gather to learn
// whether waiting pays again. It starts out waiting, as every leader did
// before.
type gatherPolicy struct {
	gain    float64 // callers a wait brought, moving average
	skipped int     // gathers since the last wait
}

const (
	// minGain: a wait that brings fewer callers than this on average is
	// not worth the leader's (and its group's) time.
	minGain = 1.0
	// probeEvery: a leader that does not wait still waits on every
	// probeEvery-th gather.
	probeEvery = 8
)

func newGatherPolicy() gatherPolicy { return gatherPolicy{gain: minGain} }

// wait reports whether this leader waits; bmu is held.
func (p *gatherPolicy) wait() bool {
	if p.gain >= minGain || p.skipped == probeEvery-1 {
		p.skipped = 0
		return true
	}
	p.skipped++
	return false
}

// waited records that a wait brought gained callers; bmu is held.
func (p *gatherPolicy) waited(gained int) {
	p.gain += (float64(gained) - p.gain) / 4
}

// handOver ends a leader's turn, whose commit took the given time: the first call that
// queued meanwhile leads the next group.
func (b *Bolt) handOver(groupSize int, took time.Duration) {
	b.bmu.Lock()
	defer b.bmu.Unlock()
	b.around = groupSize + len(b.queue)
	b.lastCommit = took
	if len(b.queue) == 0 {
		b.leading = false
		return
	}
	b.queue[0].done <- errLead
}

// commitGroup runs the group's fns in one transaction and tells each call
// its outcome. A fn that fails or panics rolls the transaction back, and the
// others run again without it. It is told to run alone, unless it failed
// first, before any other fn wrote, with an error (not a panic): that is
// what it would have met alone.
func (b *Bolt) commitGroup(group []*batchCall) {
	for len(group) > 0 {
		failed := -1
		var ferr error
		panicked := false
		began, err := b.write(func(tx Tx) error {
			failed = -1
			for i, c := range group {
				if panicked, ferr = callSafely(c.fn, tx); ferr != nil {
					failed = i
					return ferr
				}
			}
			return nil
		})
		if failed >= 0 {
			if failed == 0 && !panicked {
				// It saw only what was committed, as it would alone: its
				// error is its outcome.
				group[0].done <- ferr
			} else {
				group[failed].done <- errAlone
			}
			group = append(group[:failed:failed], group[failed+1:]...)
			continue
		}
		err = closedErr(began, err)
		for _, c := range group {
			c.done <- err
		}
		return
	}
}

// callSafely runs fn, turning a panic into an error: the call that panicked
// runs again alone, where the panic reaches its own caller.
func callSafely(fn func(Tx) error, tx Tx) (panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked, err = true, fmt.Errorf("kv: panic in a batched transaction: %v", p)
		}
	}()
	return false, fn(tx)
}

// closedErr reports a transaction that could not begin on a closed database
// as ErrClosed, the error every Store returns after Close.
func closedErr(began bool, err error) error {
	if !began && errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// WriteCounts reports the write transactions begun since the store was
// opened and the pages bbolt's commits (the applies) wrote, meta pages
// included.
func (b *Bolt) WriteCounts() (commits, pages int64) {
	st := b.db.Stats()
	return b.commits.Load(), st.TxStats.GetWrite()
}

// Close applies what the overlay holds, removes the journal and closes the
// database; closing it again is not an error.
func (b *Bolt) Close() error {
	b.stopOnce.Do(func() { close(b.stop) })
	<-b.applierEnd
	b.amu.Lock()
	defer b.amu.Unlock()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.closeJournal()
	b.retireRead(true) // bbolt's Close waits for every read transaction
	return errors.Join(err, b.db.Close())
}
