package kv

import (
	"bytes"
	"slices"
	"sync"

	"github.com/google/btree"
)

// Mem is an in-memory Store: a B-tree per bucket keeps scans ordered and
// writes logarithmic. Update applies writes in place and keeps an undo log,
// so a failed transaction leaves nothing behind.
type Mem struct {
	mu      sync.RWMutex
	buckets map[string]*btree.BTreeG[memEntry]
	closed  bool
	// ro is every View's transaction (a read-only one holds no state), and
	// rw every Update's (one at a time, under mu): a request makes several
	// of each, and each cost an allocation.
	ro, rw memTx
}

type memEntry struct{ k, v []byte }

func lessEntry(a, b memEntry) bool { return bytes.Compare(a.k, b.k) < 0 }

// NewMem returns an empty in-memory store.
func NewMem() *Mem {
	m := &Mem{buckets: map[string]*btree.BTreeG[memEntry]{}}
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

type undo struct {
	bucket  string
	key     []byte
	prev    []byte
	existed bool
}

type memTx struct {
	m        *Mem
	writable bool
	log      []undo
}

func (t *memTx) Get(bucket string, key []byte) []byte {
	b := t.m.buckets[bucket]
	if b == nil {
		return nil
	}
	if e, ok := b.Get(memEntry{k: key}); ok {
		return e.v
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
	// Key and value in one allocation; the tree and the undo log share the
	// key (nothing changes a stored key).
	kv := make([]byte, len(key)+len(value))
	copy(kv, key)
	copy(kv[len(key):], value)
	t.set(bucket, kv[:len(key):len(key)], kv[len(key):], true, true)
	return nil
}

func (t *memTx) Delete(bucket string, key []byte) error {
	if !t.writable {
		return ErrReadOnly
	}
	t.set(bucket, slices.Clone(key), nil, false, true)
	return nil
}

// set writes (present) or removes (!present) key, logging the old state when
// record is set. key is the caller's to give: set keeps it.
func (t *memTx) set(bucket string, key, value []byte, present, record bool) {
	b := t.m.buckets[bucket]
	if b == nil {
		if !present {
			return
		}
		b = btree.NewG(32, lessEntry)
		t.m.buckets[bucket] = b
	}
	var old memEntry
	var existed bool
	if present {
		if value == nil {
			value = []byte{} // present with an empty value, as bbolt keeps it
		}
		old, existed = b.ReplaceOrInsert(memEntry{k: key, v: value})
	} else {
		old, existed = b.Delete(memEntry{k: key})
	}
	if record {
		if t.log == nil {
			t.log = make([]undo, 0, 8) // most transactions write a few keys: one allocation, kept (Mem.rw)
		}
		t.log = append(t.log, undo{bucket: bucket, key: key, prev: old.v, existed: existed})
	}
}

func (t *memTx) rollback() {
	for i := len(t.log) - 1; i >= 0; i-- {
		u := t.log[i]
		t.set(u.bucket, u.key, u.prev, u.existed, false)
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
	b.AscendGreaterOrEqual(memEntry{k: seek}, func(e memEntry) bool {
		return bytes.HasPrefix(e.k, prefix) && fn(e.k, e.v)
	})
	return nil
}
