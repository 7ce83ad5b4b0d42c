package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
)

// Mem is an in-memory Store. Each bucket keeps its records in byte slabs
// and finds them through a table of hashes and record positions; a B-tree
// of the same records, brought up to date when the bucket is scanned,
// keeps scans ordered (memBucket). Update applies writes in place and
// keeps an undo log, so a failed transaction leaves nothing behind.
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
	seed   maphash.Seed
	// hashMask is ANDed with every key's hash: all ones, but for tests
	// that make keys collide.
	hashMask uint64
}

// A ref names a record of a bucket: the slab it is in (bits 32-55) and its
// offset there (bits 0-31). A record is its key's and its value's lengths
// (4 bytes each, little-endian), then the key, then the value. Records are
// appended to slabs and never changed: a value returned by Get stays as it
// was, whatever is written after it.
//
// Why not a map of keys and pointers, as before: the store is most of the
// live heap of berth --memory, and every collection marked each of its
// records (an allocation each) through the pointers of a map entry, a
// B-tree item and the key string. Slabs, a table of integers and a B-tree of
// integers hold no pointer the collector must follow but a slab's.
type ref = uint64

// probeRef is the flag of a ref that names no record but a key a Scan
// seeks (memBucket.probes).
const probeRef ref = 1 << 63

const recordHeader = 8

// Slab sizes: a bucket's first slab is small (a registry has dozens of
// buckets, most of them small), each next one twice the last, up to
// maxSlab. A record too large for a slab of its own quarter gets a slab of
// its own.
const (
	minSlab = 4 << 10
	maxSlab = 1 << 20
)

// memBucket holds a bucket's records, found two ways: hashed by key, for
// Get, and ordered, for Scan. A Get in a tree compares the key with a dozen
// others, each somewhere else in memory: on a key not read recently that is
// a dozen cache misses (3 µs at 20,000 keys, measured), where the hash costs
// one or two.
//
// The hash is the truth; the tree is brought up to date only when the
// bucket is scanned (sync). Most keys a push writes (links, references,
// session tombstones) are read by key and scanned rarely, if ever, and an
// insertion into a large tree was most of a write's cost: a write now notes
// its record as stale, and a Scan sorts what is stale and applies it to the
// tree first.
type memBucket struct {
	slabs [][]byte
	// byHash finds a key's record from the key's hash: an open-addressing
	// table (linear probing). Keys whose hashes are equal sit side by
	// side, told apart by their bytes. (A Go map of hash to record cost a
	// second hash per Get.)
	byHash []memSlot
	n      int // keys present
	m      *Mem
	// live and dead are the bytes of the records present and of those
	// overwritten or deleted since the last compaction (and slab tails
	// left unused): compact reclaims dead ones.
	live, dead int
	tree       *btree.BTreeG[ref]
	// stale holds the records put, and those deleted, since the tree was
	// last synced, in the order written, maybe more than one of a key.
	stale []ref
	// dirty says stale is not empty. A write sets it under the store's
	// write lock; a Scan in a View (read lock, shared with other Views)
	// clears it under syncMu, once it has synced.
	dirty  atomic.Bool
	syncMu sync.Mutex
	// probes holds the keys Scans in progress seek, by the number in their
	// probeRef (Views scan concurrently).
	probeMu  sync.Mutex
	probes   map[uint64][]byte
	probeSeq uint64
	// version is Mem.writes at the bucket's last write (BucketVersion).
	version uint64
}

// maxStale is how many stale records a bucket holds beyond its size before
// a write syncs it: a bucket written and never scanned (or one key written
// over and over) keeps its stale list within bounds.
const maxStale = 1024

func newMemBucket(m *Mem) *memBucket {
	b := &memBucket{m: m}
	b.tree = btree.NewG(32, b.less)
	return b
}

// key is r's key (or, for a probeRef, the key sought): the tree's view.
func (b *memBucket) key(r ref) []byte {
	if r&probeRef != 0 {
		return b.sought(r)
	}
	return b.recordKey(r)
}

func (b *memBucket) sought(r ref) []byte {
	b.probeMu.Lock()
	defer b.probeMu.Unlock()
	return b.probes[r&^probeRef]
}

// recordKey is the key of record r (small enough to be inlined in Get's
// path).
func (b *memBucket) recordKey(r ref) []byte {
	s := b.slabs[r>>32]
	off := uint32(r)
	klen := binary.LittleEndian.Uint32(s[off:])
	return s[off+recordHeader : off+recordHeader+klen : off+recordHeader+klen]
}

// value is r's value: not nil, also when empty (present with an empty
// value, as bbolt keeps it). Its capacity ends with it.
func (b *memBucket) value(r ref) []byte {
	s := b.slabs[r>>32]
	off := uint32(r)
	klen := binary.LittleEndian.Uint32(s[off:])
	vlen := binary.LittleEndian.Uint32(s[off+4:])
	if vlen == 0 {
		return []byte{}
	}
	from := off + recordHeader + klen
	return s[from : from+vlen : from+vlen]
}

func (b *memBucket) size(r ref) int {
	s := b.slabs[r>>32]
	off := uint32(r)
	return recordHeader + int(binary.LittleEndian.Uint32(s[off:])) + int(binary.LittleEndian.Uint32(s[off+4:]))
}

func (b *memBucket) less(x, y ref) bool { return bytes.Compare(b.key(x), b.key(y)) < 0 }

// memSlot is a slot of byHash: a key's hash (0: an empty slot) beside its
// record, so that a probe reads one cache line.
type memSlot struct {
	hash uint64
	ref  ref
}

// hash is key's hash, never 0.
func (b *memBucket) hash(key []byte) uint64 {
	return max(maphash.Bytes(b.m.seed, key)&b.m.hashMask, 1)
}

// slot returns the slot of key (of hash h) in byHash, and whether key is
// there; if not, the empty slot where it would go. The table must not be
// full.
func (b *memBucket) slot(key []byte, h uint64) (int, bool) {
	mask := uint64(len(b.byHash) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s := b.byHash[i]; s.hash {
		case 0:
			return int(i), false
		case h:
			if bytes.Equal(b.recordKey(s.ref), key) {
				return int(i), true
			}
		}
	}
}

// find returns key's record, if present.
func (b *memBucket) find(key []byte) (ref, bool) {
	if b.n == 0 {
		return 0, false
	}
	if i, ok := b.slot(key, b.hash(key)); ok {
		return b.byHash[i].ref, true
	}
	return 0, false
}

// index makes r key's record (r is present: written, or restored by a
// rollback).
func (b *memBucket) index(key []byte, r ref) {
	if 4*(b.n+1) > 3*len(b.byHash) {
		b.grow()
	}
	h := b.hash(key)
	i, ok := b.slot(key, h)
	if !ok {
		b.n++
	}
	b.byHash[i] = memSlot{hash: h, ref: r}
}

// grow doubles byHash (it starts at 16 slots), keeping it at most three
// quarters full.
func (b *memBucket) grow() {
	old := b.byHash
	b.byHash = make([]memSlot, max(2*len(old), 16))
	mask := uint64(len(b.byHash) - 1)
	for _, s := range old {
		if s.hash == 0 {
			continue
		}
		i := s.hash & mask
		for b.byHash[i].hash != 0 {
			i = (i + 1) & mask
		}
		b.byHash[i] = s
	}
}

// unindex removes key from the hash, moving back the keys after it that
// would no longer be found (linear probing's deletion, without tombstones).
func (b *memBucket) unindex(key []byte) {
	if b.n == 0 {
		return
	}
	i, ok := b.slot(key, b.hash(key))
	if !ok {
		return
	}
	mask := len(b.byHash) - 1
	for j := (i + 1) & mask; b.byHash[j].hash != 0; j = (j + 1) & mask {
		// The key in j belongs at home; it may move to the hole at i
		// unless home lies cyclically in (i, j].
		home := int(b.byHash[j].hash) & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			b.byHash[i] = b.byHash[j]
			i = j
		}
	}
	b.byHash[i] = memSlot{}
	b.n--
}

// append stores a record of key and value and returns it.
func (b *memBucket) append(key, value []byte) ref {
	n := recordHeader + len(key) + len(value)
	last := len(b.slabs) - 1
	if last < 0 || cap(b.slabs[last])-len(b.slabs[last]) < n {
		size := minSlab
		if last >= 0 {
			size = min(2*cap(b.slabs[last]), maxSlab)
			b.dead += cap(b.slabs[last]) - len(b.slabs[last])
		}
		if n > size/4 {
			size = n
		}
		b.slabs = append(b.slabs, make([]byte, 0, size))
		last++
	}
	s := b.slabs[last]
	off := len(s)
	s = binary.LittleEndian.AppendUint32(s, uint32(len(key)))
	s = binary.LittleEndian.AppendUint32(s, uint32(len(value)))
	s = append(s, key...)
	s = append(s, value...)
	b.slabs[last] = s
	b.live += n
	return ref(last)<<32 | ref(off)
}

// put makes r key's record and returns the one it replaced, if any.
func (b *memBucket) put(key []byte, r ref) (ref, bool) {
	old, existed := b.find(key)
	if existed {
		n := b.size(old)
		b.live -= n
		b.dead += n
	}
	b.index(key, r)
	b.touched(r)
	return old, existed
}

// restore makes r, a record replaced or deleted by the transaction being
// rolled back, key's record again.
func (b *memBucket) restore(key []byte, r ref) {
	if cur, ok := b.find(key); ok {
		n := b.size(cur)
		b.live -= n
		b.dead += n
	}
	n := b.size(r)
	b.live += n
	b.dead -= n
	b.index(key, r)
	b.touched(r)
}

// delete removes key and returns its record, if it was there.
func (b *memBucket) delete(key []byte) (ref, bool) {
	old, existed := b.find(key)
	if existed {
		n := b.size(old)
		b.live -= n
		b.dead += n
		b.unindex(key)
		b.touched(old)
	}
	return old, existed
}

// touched notes that r's key changed in the hash but not in the tree
// (the store's write lock held).
func (b *memBucket) touched(r ref) {
	b.stale = append(b.stale, r)
	if !b.dirty.Load() {
		b.dirty.Store(true)
	}
	if len(b.stale) > maxStale+b.n {
		b.sync()
	}
}

// ordered brings the tree up to date for a Scan. Under the write lock no
// one else touches the bucket; under a read lock, Views share it, and the
// first to come syncs for all of them (no write can run meanwhile).
func (b *memBucket) ordered() *btree.BTreeG[ref] {
	if b.dirty.Load() {
		b.syncMu.Lock()
		if b.dirty.Load() {
			b.sync()
		}
		b.syncMu.Unlock()
	}
	return b.tree
}

// sync applies the stale records to the tree, in key order (an insertion
// next to the last one finds its path in cache): each key gets its record
// from the hash, or goes.
func (b *memBucket) sync() {
	slices.SortFunc(b.stale, func(x, y ref) int { return bytes.Compare(b.key(x), b.key(y)) })
	for i, s := range b.stale {
		k := b.key(s)
		if i > 0 && bytes.Equal(k, b.key(b.stale[i-1])) {
			continue
		}
		if r, ok := b.find(k); ok {
			b.tree.ReplaceOrInsert(r)
		} else {
			b.tree.Delete(s)
		}
	}
	if cap(b.stale) > 4*maxStale {
		b.stale = nil
	} else {
		b.stale = b.stale[:0]
	}
	b.dirty.Store(false)
}

// Compaction: a bucket whose dead bytes reach its live ones (and
// minCompact) is copied into new slabs with only its records present, so
// that a store under churn holds about twice what it keeps at most.
const minCompact = 64 << 10

func (b *memBucket) wantsCompaction() bool {
	return b.dead >= minCompact && b.dead >= b.live
}

// compact copies the records present into new slabs, in key order, and
// rebuilds the hash and the tree over them (the store's write lock held,
// no transaction in progress: the undo log names records by where they
// are). Values returned before stay as they were: old slabs are dropped,
// not reused.
func (b *memBucket) compact() {
	b.sync()
	refs := make([]ref, 0, b.tree.Len())
	nb := &memBucket{m: b.m}
	b.tree.Ascend(func(r ref) bool {
		refs = append(refs, nb.append(b.key(r), b.value(r)))
		return true
	})
	// The last slab's room is not dead (yet): counted so, it could be as
	// much as what is live, and the next write would compact again.
	b.slabs, b.live, b.dead = nb.slabs, nb.live, 0
	b.byHash, b.n = nil, 0
	b.tree.Clear(false)
	for _, r := range refs {
		b.index(b.key(r), r)
		b.tree.ReplaceOrInsert(r)
	}
}

// seek registers key as what the probeRef it returns names, until unseek.
func (b *memBucket) seek(key []byte) ref {
	b.probeMu.Lock()
	defer b.probeMu.Unlock()
	if b.probes == nil {
		b.probes = map[uint64][]byte{}
	}
	b.probeSeq++
	b.probes[b.probeSeq] = key
	return probeRef | b.probeSeq
}

func (b *memBucket) unseek(r ref) {
	b.probeMu.Lock()
	delete(b.probes, r&^probeRef)
	b.probeMu.Unlock()
}

// NewMem returns an empty in-memory store.
func NewMem() *Mem {
	m := &Mem{buckets: map[string]*memBucket{}, seed: maphash.MakeSeed(), hashMask: ^uint64(0)}
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
		p := recover()
		if p != nil {
			tx.rollback()
		}
		// Compaction moves records: only between transactions, when no
		// undo log names them.
		for _, u := range tx.log {
			if u.b.wantsCompaction() {
				u.b.compact()
			}
		}
		// Kept for the next Update, unless a large transaction grew it.
		if cap(tx.log) > 64 {
			tx.log = nil
		}
		clear(tx.log)
		tx.log = tx.log[:0]
		if p != nil {
			panic(p)
		}
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

// undo is how to restore a key a transaction wrote: its old record, if it
// existed, or no record. The key is rec's: the record written, or deleted.
type undo struct {
	b       *memBucket
	rec     ref
	old     ref
	existed bool
}

type memTx struct {
	m        *Mem
	writable bool
	log      []undo
}

// Snapshot identifies the committed state a read transaction sees, as
// Bolt's does (see ovTx.Snapshot): the count of committed writes, which
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
	if r, ok := b.find(key); ok {
		return b.value(r)
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
	b := t.bucket(bucket)
	t.wrote(b)
	r := b.append(key, value)
	old, existed := b.put(key, r)
	t.log = append(t.log, undo{b: b, rec: r, old: old, existed: existed})
	return nil
}

// maxMemValue is the largest value a memory store keeps: bbolt's own limit
// (and within a record's length).
const maxMemValue = 1<<31 - 2

var errMemValueTooLarge = errors.New("kv: value too large")

func (t *memTx) Delete(bucket string, key []byte) error {
	if !t.writable {
		return ErrReadOnly
	}
	b := t.m.buckets[bucket]
	if b == nil {
		return nil
	}
	t.wrote(b)
	if old, existed := b.delete(key); existed {
		t.log = append(t.log, undo{b: b, rec: old, old: old, existed: true})
	}
	return nil
}

// wrote counts a write to b. Every write, also one rolled back later or
// one that deletes nothing: a version that changes when nothing did costs
// a cache a read, one that stayed would serve a stale answer.
func (t *memTx) wrote(b *memBucket) {
	t.m.writes++
	b.version = t.m.writes + 1 // above an absent bucket's 1
	if t.log == nil {
		t.log = make([]undo, 0, 8) // most transactions write a few keys: one allocation, kept (Mem.rw)
	}
}

// bucket returns a bucket, creating it if needed.
func (t *memTx) bucket(bucket string) *memBucket {
	b := t.m.buckets[bucket]
	if b == nil {
		b = newMemBucket(t.m)
		t.m.buckets[bucket] = b
	}
	return b
}

func (t *memTx) rollback() {
	for i := len(t.log) - 1; i >= 0; i-- {
		u := t.log[i]
		if u.existed {
			u.b.restore(u.b.key(u.rec), u.old)
		} else {
			u.b.delete(u.b.key(u.rec))
		}
	}
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
	tree := b.ordered()
	from := b.seek(seek)
	defer b.unseek(from)
	tree.AscendGreaterOrEqual(from, func(r ref) bool {
		k := b.key(r)
		return bytes.HasPrefix(k, prefix) && fn(k, b.value(r))
	})
	return nil
}
