package core

import (
	"context"

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
	if d, ok := r.registryData.get(id); ok {
		return d.data, d.found, nil
	}
	return r.readRegistryData(id)
}

// readRegistryData is RegistryData's read of the store (apart, so that an
// answer from the cache allocates nothing for the transaction's closure).
func (r *Registry) readRegistryData(id registryDataID) (data []byte, found bool, err error) {
	gen := r.registryData.generation() // before the read: a write after it makes what it reads stale
	err = r.kv.View(func(tx kv.Tx) error {
		if b := tx.Get(bRegistryData, registryDataKey(id.reg, id.name)); b != nil {
			data, found = append([]byte{}, b...), true
		}
		return nil
	})
	if err == nil {
		r.registryData.put(id, gen, storedData{data, found})
	}
	return data, found, err
}

// registryDataID names one registry's data.
type registryDataID struct {
	reg  RegistryID
	name string
}

// storedData is what RegistryData read under one name: the bytes, or
// found false for none (remembered too: most registries have no
// pull-through rules, asked for on every pull by tag).
type storedData struct {
	data  []byte
	found bool
}

func (d storedData) clone() storedData {
	if d.found {
		d.data = append([]byte{}, d.data...)
	}
	return d
}

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
