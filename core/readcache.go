package core

import (
	"sync"
	"sync/atomic"
)

// readCache remembers the last value read from the store for each key,
// for what is read far more often than written (a registry's settings,
// read on every push; its feature data, read on every pull by tag). Every
// write to what it caches ends a generation once it has committed (or
// failed: then it costs a read); an entry read in an earlier generation is
// read again, so no read that starts after a write has returned sees what
// was there before it. Values go in and come out through their clone: a
// caller may change what it is given. The zero value is ready to use.
type readCache[K comparable, V cloner[V]] struct {
	gen atomic.Uint64
	mu  sync.Mutex
	m   map[K]readCacheEntry[V]
}

// cloner is a value a readCache holds: clone is a deep copy, sharing
// nothing with the original.
type cloner[V any] interface{ clone() V }

type readCacheEntry[V any] struct {
	gen uint64
	v   V
}

// readCacheMax bounds a cache; past it, it starts over.
const readCacheMax = 1024

// generation is what a reader notes before it reads the store, to put
// what it read: a write after that makes what it reads stale.
func (c *readCache[K, V]) generation() uint64 { return c.gen.Load() }

// get returns what was read for k in the current generation.
func (c *readCache[K, V]) get(k K) (V, bool) {
	gen := c.gen.Load()
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || e.gen != gen {
		var zero V
		return zero, false
	}
	return e.v.clone(), true
}

// put remembers v, read for k in generation gen.
func (c *readCache[K, V]) put(k K, gen uint64, v V) {
	e := readCacheEntry[V]{gen: gen, v: v.clone()}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= readCacheMax {
		c.m = map[K]readCacheEntry[V]{}
	}
	c.m[k] = e
	c.mu.Unlock()
}

// changed ends the generation: call it after every write to what the cache
// holds has committed or failed.
func (c *readCache[K, V]) changed() { c.gen.Add(1) }
