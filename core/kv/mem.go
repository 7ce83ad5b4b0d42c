package kv

import (
	"bytes"
	"slices"
	"sort"
	"sync"
)

// Mem is an in-memory Store. Each bucket is a sorted slice, which keeps scans
// ordered and is plenty for an emulator's working set. Update applies writes in
// place and keeps an undo log, so a failed transaction leaves nothing behind.
type Mem struct {
	mu      sync.RWMutex
	buckets map[string]*memBucket
	closed  bool
}

type memEntry struct{ k, v []byte }

type memBucket struct{ entries []memEntry }

// NewMem returns an empty in-memory store.
func NewMem() *Mem { return &Mem{buckets: map[string]*memBucket{}} }

func (m *Mem) View(fn func(Tx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return fn(&memTx{m: m})
}

func (m *Mem) Update(fn func(Tx) error) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	tx := &memTx{m: m, writable: true}
	defer func() {
		if p := recover(); p != nil {
			tx.rollback()
			panic(p)
		}
	}()
	if err = fn(tx); err != nil {
		tx.rollback()
	}
	return err
}

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

func (b *memBucket) find(key []byte) (int, bool) {
	i := sort.Search(len(b.entries), func(i int) bool { return bytes.Compare(b.entries[i].k, key) >= 0 })
	return i, i < len(b.entries) && bytes.Equal(b.entries[i].k, key)
}

func (t *memTx) Get(bucket string, key []byte) []byte {
	b := t.m.buckets[bucket]
	if b == nil {
		return nil
	}
	if i, ok := b.find(key); ok {
		return b.entries[i].v
	}
	return nil
}

func (t *memTx) Put(bucket string, key, value []byte) error {
	if !t.writable {
		return errReadOnly
	}
	t.set(bucket, key, slices.Clone(value), true, true)
	return nil
}

func (t *memTx) Delete(bucket string, key []byte) error {
	if !t.writable {
		return errReadOnly
	}
	t.set(bucket, key, nil, false, true)
	return nil
}

// set writes (present) or removes (!present) key, logging the old state when record is set.
func (t *memTx) set(bucket string, key, value []byte, present, record bool) {
	b := t.m.buckets[bucket]
	if b == nil {
		if !present {
			return
		}
		b = &memBucket{}
		t.m.buckets[bucket] = b
	}
	i, ok := b.find(key)
	if record {
		u := undo{bucket: bucket, key: slices.Clone(key), existed: ok}
		if ok {
			u.prev = b.entries[i].v
		}
		t.log = append(t.log, u)
	}
	switch {
	case present && ok:
		b.entries[i].v = value
	case present:
		b.entries = slices.Insert(b.entries, i, memEntry{k: slices.Clone(key), v: value})
	case ok:
		b.entries = slices.Delete(b.entries, i, i+1)
	}
}

func (t *memTx) rollback() {
	for i := len(t.log) - 1; i >= 0; i-- {
		u := t.log[i]
		t.set(u.bucket, u.key, u.prev, u.existed, false)
	}
	t.log = nil
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
	i, _ := b.find(seek)
	for ; i < len(b.entries); i++ {
		e := b.entries[i]
		if !bytes.HasPrefix(e.k, prefix) {
			return nil
		}
		if !fn(e.k, e.v) {
			return nil
		}
	}
	return nil
}
