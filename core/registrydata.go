package core

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/berth-dev/berth/core/kv"
)

// Per-registry data: what a feature configures for a whole registry (its
// repository creation templates, its replication configuration) lives in a
// bucket of its own, under a name the feature chooses, in the feature's own
// encoding. It is not part of RegistrySettings, which every authorization
// reads: a feature's configuration can be large, and no decision needs it.
const bRegistryData = "registry-data" // reg|name → the feature's bytes

func registryDataKey(reg RegistryID, name string) []byte { return []byte(regPrefix(reg) + name) }

// RegistryData returns the data stored under name for a registry; found is
// false when there is none.
func (r *Registry) RegistryData(ctx context.Context, reg RegistryID, name string) (data []byte, found bool, err error) {
	if err := validDataName(name); err != nil {
		return nil, false, err
	}
	id := registryDataID{reg, name}
	if data, found, ok := r.registryData.get(id); ok {
		return data, found, nil
	}
	return r.readRegistryData(id)
}

// readRegistryData is RegistryData's read of the store (apart, so that an
// answer from the cache allocates nothing for the transaction's closure).
func (r *Registry) readRegistryData(id registryDataID) (data []byte, found bool, err error) {
	gen := r.registryData.gen.Load() // before the read: a write after it makes what it reads stale
	err = r.kv.View(func(tx kv.Tx) error {
		if b := tx.Get(bRegistryData, registryDataKey(id.reg, id.name)); b != nil {
			data, found = append([]byte{}, b...), true
		}
		return nil
	})
	if err == nil {
		r.registryData.put(id, gen, data, found)
	}
	return data, found, err
}

// registryDataID names one registry's data.
type registryDataID struct {
	reg  RegistryID
	name string
}

// registryDataCache remembers what RegistryData last read of each key:
// the pull-through cache asks for its rules on every pull by tag, and most
// registries have none, which is remembered too. Every write to the bucket
// (UpdateRegistryData, Reset) counts a generation once it has committed;
// an entry read in an earlier generation is read again, so no read after a
// write returns sees what was there before it.
type registryDataCache struct {
	gen atomic.Uint64
	mu  sync.Mutex
	m   map[registryDataID]registryDataEntry
}

type registryDataEntry struct {
	gen   uint64
	data  []byte // never handed out: get returns a copy
	found bool
}

// registryDataCacheMax bounds the cache; past it, it starts over.
const registryDataCacheMax = 1024

func (c *registryDataCache) get(id registryDataID) (data []byte, found, ok bool) {
	gen := c.gen.Load()
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if !ok || e.gen != gen {
		return nil, false, false
	}
	if e.found {
		data = append([]byte{}, e.data...)
	}
	return data, e.found, true
}

func (c *registryDataCache) put(id registryDataID, gen uint64, data []byte, found bool) {
	e := registryDataEntry{gen: gen, found: found}
	if found {
		e.data = append([]byte{}, data...)
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= registryDataCacheMax {
		c.m = map[registryDataID]registryDataEntry{}
	}
	c.m[id] = e
	c.mu.Unlock()
}

// changed ends the generation: call it after every write to the bucket has
// committed (or failed: then it costs a read).
func (c *registryDataCache) changed() { c.gen.Add(1) }

// UpdateRegistryData replaces the data stored under name for a registry
// with what change returns, given the current data (nil if none), in one
// transaction; change returning nil data removes it, and an error from
// change writes nothing and is returned as it is.
func (r *Registry) UpdateRegistryData(ctx context.Context, reg RegistryID, name string, change func(old []byte) ([]byte, error)) error {
	if err := validDataName(name); err != nil {
		return err
	}
	defer r.registryData.changed()
	return r.kv.Update(func(tx kv.Tx) error {
		key := registryDataKey(reg, name)
		var old []byte
		if b := tx.Get(bRegistryData, key); b != nil {
			old = append([]byte{}, b...)
		}
		data, err := change(old)
		if err != nil {
			return err
		}
		if data == nil {
			return tx.Delete(bRegistryData, key)
		}
		return tx.Put(bRegistryData, key, data)
	})
}
