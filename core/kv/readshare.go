package kv

import (
	"runtime"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Views share bbolt read transactions. Beginning and ending one costs
// bbolt two locks, three allocations and a list update, and every Get in
// it finds its bucket again from the root (a seek and two more
// allocations): ≈ 5 µs for a View of three Gets, against ≈ 0.2 µs in
// Mem, and a push or a pull runs several Views per request. A read
// transaction of bbolt may be read from many goroutines at once (its read
// path changes nothing but atomic counters; etcd shares its read
// transactions the same way), so Views that find the current one right
// under the overlay they load (pairs) take it, with the buckets
// it has found.
//
// A shared transaction holds a bbolt state open while it is current,
// which keeps bbolt from reusing the pages freed since, and a remap waits
// for it: so an apply retires it before it commits (the last View using
// it ends it), and Views during an apply use transactions of their own,
// as before; the first View after the apply begins the next shared one.
// Close retires it too.
type readShare struct {
	btx  *bolt.Tx
	id   uint64
	refs int  // Views using it; under Bolt.rmu
	done bool // retired: the last View to release it rolls it back; under Bolt.rmu
	// buckets are the buckets found in btx, by name (nil: not there),
	// copied on each addition: read without a lock.
	buckets atomic.Pointer[map[string]*bolt.Bucket]
	bmu     sync.Mutex
}

// bucket returns bbolt's bucket name in the shared transaction.
func (rs *readShare) bucket(name string) *bolt.Bucket {
	if m := rs.buckets.Load(); m != nil {
		if bk, ok := (*m)[name]; ok {
			return bk
		}
	}
	bk := rs.btx.Bucket([]byte(name))
	rs.bmu.Lock()
	defer rs.bmu.Unlock()
	old := rs.buckets.Load()
	m := make(map[string]*bolt.Bucket, 8)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[name] = bk
	rs.buckets.Store(&m)
	return bk
}

// pairs reports whether a bbolt read transaction with id is right under
// o: one in o's base state, or in the state of the last apply if o holds
// every record that apply applied. A reader that meets an apply's commit
// before its overlay is published (or a later one) tries again with the
// overlay then published (readShared).
func (b *Bolt) pairs(o *overlay, id uint64) bool {
	if id == o.baseTxid {
		return true
	}
	m := b.applied.Load()
	return m != nil && m.txid == id && m.seq >= o.base && m.seq <= o.version
}

// readShared returns the published overlay and a read transaction right
// under it, shared when it can be; release it with releaseRead.
func (b *Bolt) readShared() (*overlay, *readShare, error) {
	for {
		o := b.ov.Load()
		b.rmu.Lock()
		if rs := b.rs; rs != nil && b.pairs(o, rs.id) {
			rs.refs++
			b.rmu.Unlock()
			return o, rs, nil
		}
		b.rmu.Unlock()
		btx, err := b.db.Begin(false)
		if err != nil {
			return nil, nil, err
		}
		id := uint64(btx.ID())
		if !b.pairs(o, id) {
			btx.Rollback()
			runtime.Gosched()
			continue
		}
		rs := &readShare{btx: btx, id: id, refs: 1}
		var stale *readShare
		b.rmu.Lock()
		switch {
		case b.applying || b.rs != nil && b.rs.id >= id:
			// Not to be kept (an apply runs), or another View installed
			// this state or a newer one meanwhile: this View's own.
			rs.done = true
		default:
			if stale = b.rs; stale != nil {
				stale.done = true
				if stale.refs > 0 {
					stale = nil // its last View ends it
				}
			}
			b.rs = rs
		}
		b.rmu.Unlock()
		if stale != nil {
			stale.btx.Rollback()
		}
		return o, rs, nil
	}
}

// releaseRead ends a View's use of rs.
func (b *Bolt) releaseRead(rs *readShare) {
	b.rmu.Lock()
	rs.refs--
	end := rs.done && rs.refs == 0
	b.rmu.Unlock()
	if end {
		rs.btx.Rollback()
	}
}

// retireRead retires the shared transaction, if any, and, with applying,
// keeps Views from sharing one until retireRead(false): before an apply's
// commit (and Close), so that no read transaction stays open beyond the
// Views in progress.
func (b *Bolt) retireRead(applying bool) {
	b.rmu.Lock()
	b.applying = applying
	rs := b.rs
	b.rs = nil
	end := false
	if rs != nil {
		rs.done = true
		end = rs.refs == 0
	}
	b.rmu.Unlock()
	if end {
		rs.btx.Rollback()
	}
}
