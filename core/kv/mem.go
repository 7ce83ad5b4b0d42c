package kv

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/google/btree"
)

// Mem is an in-memory Store: a hash per bucket answers Get, and a B-tree of
// the same entries, brought up to date when the bucket is scanned, keeps
// scans ordered (memBucket). Update
// applies writes in place and keeps an undo log, so a failed transaction
// leaves nothing behind.
type Mem struct {
	mu      sync.RWMutex
	buckets map[string]*memBucket
	closed  bool
	// ro is every View's transaction (a read-only one holds no state), and
	// rw every Update's (one at a time, under mu): a request makes several
	// of each, and each cost an allocation.
	ro, rw memTx
	// gen counts the Updates that committed a write (under mu): a read
	// transaction's snapshot.
	gen uint64
	// writes counts the writes made (under mu, rolled back or not): a
	// bucket's version is the count at its last write (BucketVersion).
	writes uint64
}

// memEntry is a key and its value, stored one after the other in one
// allocation (at p): 16 bytes, where two slices took 48. A B-tree node keeps
// its entries in an array, and an insertion shifts half of it: smaller
// entries are fewer bytes moved and fewer cache lines read per write.
type memEntry struct {
	p          *byte
	klen, vlen uint32
}

// probe is an entry to look key up with (no value).
func probe(key []byte) memEntry {
	return memEntry{p: unsafe.SliceData(key), klen: uint32(len(key))}
}

func (e memEntry) key() []byte { return unsafe.Slice(e.p, e.klen) }

// value is the entry's value: not nil, also when empty (present with an
// empty value, as bbolt keeps it). Its capacity ends with it.
func (e memEntry) value() []byte {
	if e.vlen == 0 {
		return []byte{}
	}
	v := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(e.p), e.klen)), e.vlen)
	return v[:e.vlen:e.vlen]
}

func lessEntry(a, b memEntry) bool { return bytes.Compare(a.key(), b.key()) < 0 }

// memBucket holds a bucket's entries twice: hashed by key, for Get, and
// ordered, for Scan. A Get in the tree compares the key with a dozen others,
// each behind its own pointer: on a key not read recently that is a dozen
// cache misses (3 µs at 20,000 keys, measured), where the hash costs one or
// two.
//
// The hash is the truth; the tree is brought up to date only when the
// bucket is scanned (sync). Most keys a push writes (links, references,
// session tombstones) are read by key and scanned rarely, if ever, and an
// insertion into a large tree was most of a write's cost: a write now notes
// its key as stale, and a Scan sorts what is stale and applies it to the
// tree first.
type memBucket struct {
	byKey map[string]memEntry // keys share the entries' bytes (unsafe.String): stored keys never change
	tree  *btree.BTreeG[memEntry]
	// stale holds the keys (as probes) put or deleted since the tree was
	// last synced, in the order written, maybe more than once; their bytes
	// are the entries' or a clone's, never the caller's.
	stale []memEntry
	// dirty says stale is not empty. A write sets it under the store's
	// write lock; a Scan in a View (read lock, shared with other Views)
	// clears it under syncMu, once it has synced.
	dirty  atomic.Bool
	syncMu sync.Mutex
	// version is Mem.writes at the bucket's last write (BucketVersion).
	version uint64
}

// maxStale is how many stale keys a bucket holds beyond its size before a
// write syncs it: a bucket written and never scanned (or one key written
// over and over) keeps its old entries alive through stale, within bounds.
const maxStale = 1024

func newMemBucket() *memBucket {
	return &memBucket{tree: btree.NewG(32, lessEntry), byKey: map[string]memEntry{}}
}

// put stores e and returns the entry it replaced, if any.
func (b *memBucket) put(e memEntry) (memEntry, bool) {
	k := unsafe.String(e.p, e.klen)
	old, existed := b.byKey[k]
	b.byKey[k] = e
	b.touched(probe(e.key()))
	return old, existed
}

// delete removes key and returns its entry, if it was there. key must not
// change afterwards (stale keeps it).
func (b *memBucket) delete(key []byte) (memEntry, bool) {
	old, existed := b.byKey[string(key)]
	if existed {
		delete(b.byKey, string(key))
		b.touched(probe(key))
	}
	return old, existed
}

// touched notes that key's entry changed in the hash but not in the tree
// (the store's write lock held).
func (b *memBucket) touched(key memEntry) {
	b.stale = append(b.stale, key)
	if !b.dirty.Load() {
		b.dirty.Store(true)
	}
	if len(b.stale) > maxStale+len(b.byKey) {
		b.sync()
	}
}

// ordered brings the tree up to date for a Scan. Under the write lock no
// one else touches the bucket; under a read lock, Views share it, and the
// first to come syncs for all of them (no write can run meanwhile).
func (b *memBucket) ordered() *btree.BTreeG[memEntry] {
	if b.dirty.Load() {
		b.syncMu.Lock()
		if b.dirty.Load() {
			b.sync()
		}
		b.syncMu.Unlock()
	}
	return b.tree
}

// sync applies the stale keys to the tree, in key order (an insertion next
// to the last one finds its path in cache): each key gets its entry from
// the hash, or goes.
func (b *memBucket) sync() {
	slices.SortFunc(b.stale, func(x, y memEntry) int { return bytes.Compare(x.key(), y.key()) })
	for i, s := range b.stale {
		if i > 0 && bytes.Equal(s.key(), b.stale[i-1].key()) {
			continue
		}
		if e, ok := b.byKey[string(s.key())]; ok {
			b.tree.ReplaceOrInsert(e)
		} else {
			b.tree.Delete(s)
		}
	}
	clear(b.stale)
	if cap(b.stale) > 4*maxStale {
		b.stale = nil
	} else {
		b.stale = b.stale[:0]
	}
	b.dirty.Store(false)
}

// NewMem returns an empty in-memory store.
func NewMem() *Mem {
	m := &Mem{buckets: map[string]*memBucket{}}
	m.ro = memTx{m: m}
	m.rw = memTx{m: m, writable: true}
	return m
}

func (m *Mem) View(fn func(Tx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return fn(&m.ro)
}

func (m *Mem) Update(fn func(Tx) error) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	tx := &m.rw
	defer func() {
		if p := recover(); p != nil {
			tx.rollback()
			panic(p)
		}
		// Kept for the next Update, without the old values it points to,
		// unless a large transaction grew it.
		if cap(tx.log) > 64 {
			tx.log = nil
		}
		clear(tx.log)
		tx.log = tx.log[:0]
	}()
	if err = fn(tx); err != nil {
		tx.rollback()
	} else if len(tx.log) > 0 {
		m.gen++
	}
	return err
}

// Batch is Update: a memory store has no sync to share, and fn runs once.
func (m *Mem) Batch(fn func(Tx) error) error { return m.Update(fn) }

func (m *Mem) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// undo is how to restore a key a transaction wrote: its old entry, if it
// existed, or no entry.
type undo struct {
	bucket  string
	key     []byte
	old     memEntry
	existed bool
}

type memTx struct {
	m        *Mem
	writable bool
	log      []undo
}

// Snapshot identifies the committed state a read transaction sees, as
// bbolt's does (see boltTx.Snapshot): the count of committed writes, which
// cannot change while a View holds the read lock. A write transaction has
// none (0).
func (t *memTx) Snapshot() uint64 {
	if t.writable {
		return 0
	}
	return t.m.gen + 1
}

// BucketVersion names the state of one bucket a read transaction sees: two
// reads that find the same non-zero version of a bucket find the same keys
// and values in it, whatever was written to other buckets meanwhile (where
// Snapshot changes with every commit). A cache of what a few buckets hold
// is then still good after writes elsewhere: on a registry taking pushes,
// the repositories and registry settings an authorization reads are
// written rarely; the links and references of every push, constantly. A
// write transaction has none (0), and an absent bucket is version 1.
func (t *memTx) BucketVersion(bucket string) uint64 {
	if t.writable {
		return 0
	}
	if b := t.m.buckets[bucket]; b != nil {
		return b.version
	}
	return 1
}

func (t *memTx) Get(bucket string, key []byte) []byte {
	b := t.m.buckets[bucket]
	if b == nil {
		return nil
	}
	if e, ok := b.byKey[string(key)]; ok {
		return e.value()
	}
	return nil
}

func (t *memTx) Put(bucket string, key, value []byte) error {
	if !t.writable {
		return ErrReadOnly
	}
	if err := checkPut(bucket, key); err != nil {
		return err
	}
	if len(value) > maxMemValue {
		return errMemValueTooLarge
	}
	// Key and value in one allocation; the tree and the undo log share the
	// key (nothing changes a stored key).
	kv := make([]byte, len(key)+len(value))
	copy(kv, key)
	copy(kv[len(key):], value)
	t.set(bucket, memEntry{p: unsafe.SliceData(kv), klen: uint32(len(key)), vlen: uint32(len(value))}, true)
	return nil
}

// maxMemValue is the largest value a memory store keeps: bbolt's own limit
// (and within memEntry's length).
const maxMemValue = 1<<31 - 2

var errMemValueTooLarge = errors.New("kv: value too large")

func (t *memTx) Delete(bucket string, key []byte) error {
	if !t.writable {
		return ErrReadOnly
	}
	t.set(bucket, probe(slices.Clone(key)), false)
	return nil
}

// set writes e (present) or removes e's key (!present), logging the old
// state. e is the caller's to give: set keeps it.
func (t *memTx) set(bucket string, e memEntry, present bool) {
	b := t.bucket(bucket, present)
	if b == nil {
		return
	}
	// Every write, also one rolled back later: a version that changes
	// when nothing did costs a cache a read, one that stayed would serve
	// a stale answer.
	t.m.writes++
	b.version = t.m.writes + 1 // above an absent bucket's 1
	var old memEntry
	var existed bool
	if present {
		old, existed = b.put(e)
	} else {
		old, existed = b.delete(e.key())
	}
	if t.log == nil {
		t.log = make([]undo, 0, 8) // most transactions write a few keys: one allocation, kept (Mem.rw)
	}
	t.log = append(t.log, undo{bucket: bucket, key: e.key(), old: old, existed: existed})
}

// bucket returns a bucket, creating it when create is set.
func (t *memTx) bucket(bucket string, create bool) *memBucket {
	b := t.m.buckets[bucket]
	if b == nil && create {
		b = newMemBucket()
		t.m.buckets[bucket] = b
	}
	return b
}

func (t *memTx) rollback() {
	for i := len(t.log) - 1; i >= 0; i-- {
		u := t.log[i]
		b := t.bucket(u.bucket, u.existed)
		switch {
		case u.existed:
			b.put(u.old)
		case b != nil:
			b.delete(u.key)
		}
	}
	clear(t.log)
	t.log = t.log[:0]
}

func (t *memTx) Scan(bucket string, prefix, start []byte, fn func(k, v []byte) bool) error {
	b := t.m.buckets[bucket]
	if b == nil {
		return nil
	}
	seek := prefix
	if bytes.Compare(start, prefix) > 0 {
		seek = start
	}
	b.ordered().AscendGreaterOrEqual(probe(seek), func(e memEntry) bool {
		k := e.key()
		return bytes.HasPrefix(k, prefix) && fn(k, e.value())
	})
	return nil
}
