package core

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// schemaVersion is the layout of the metadata store this code writes:
//
//	1  image records held the whole parsed manifest; no digest → tags index
//	2  compact image records (imageSize, configMediaType); the digest-tags bucket
const schemaVersion = "2"

var schemaKey = []byte("schema")

// Open builds a Registry over stores that may hold data written by an
// earlier version of berth, upgrading their layout first. Over new stores it
// is New.
func Open(o Options) (*Registry, error) {
	r := New(o)
	if err := r.upgrade(); err != nil {
		return nil, fmt.Errorf("upgrading the metadata store: %w", err)
	}
	return r, nil
}

// upgradeBatch bounds the records one upgrade transaction rewrites.
var upgradeBatch = 1000

// upgrade brings a version-1 store to version 2. Each step is idempotent and
// the version is written last, so an upgrade interrupted by a crash resumes.
func (r *Registry) upgrade() error {
	var version []byte
	empty := true
	err := r.kv.View(func(tx kv.Tx) error {
		version = bytes.Clone(tx.Get(bMeta, schemaKey))
		tx.Scan(bManifests, nil, nil, func(k, v []byte) bool { empty = false; return false })
		return nil
	})
	switch {
	case err != nil:
		return err
	case string(version) == schemaVersion:
		return nil
	case version != nil:
		return fmt.Errorf("the store has layout version %s; this berth knows %s and older", version, schemaVersion)
	}
	if !empty {
		r.log.Info("upgrading the metadata store", "from", 1, "to", schemaVersion)
		if err := r.rewriteImageRecords(); err != nil {
			return err
		}
		if err := r.indexTagsByDigest(); err != nil {
			return err
		}
	}
	return r.kv.Update(func(tx kv.Tx) error { return tx.Put(bMeta, schemaKey, []byte(schemaVersion)) })
}

// rewriteImageRecords turns version-1 records (the whole parsed manifest)
// into compact ones, computing what they now carry from the exact bytes.
func (r *Registry) rewriteImageRecords() error {
	var last []byte
	for {
		n := 0
		err := r.kv.Update(func(tx kv.Tx) error {
			type item struct{ key, value []byte }
			var items []item
			tx.Scan(bManifests, nil, after(nil, string(last)), func(k, v []byte) bool {
				items = append(items, item{bytes.Clone(k), bytes.Clone(v)})
				return len(items) < upgradeBatch
			})
			for _, it := range items {
				var rec imageRecord
				if err := json.Unmarshal(it.value, &rec); err != nil {
					return corrupt("image", it.key, err)
				}
				m, err := ParseManifest(tx.Get(bBytes, it.key), rec.MediaType)
				if err != nil {
					return corrupt("manifest bytes", it.key, err)
				}
				rec.ImageSize, rec.ConfigMediaType = m.imageSize(), ""
				if m.Config != nil {
					rec.ConfigMediaType = m.Config.MediaType
				}
				if err := putJSON(tx, bManifests, it.key, rec); err != nil {
					return err
				}
				last = it.key
			}
			n = len(items)
			return nil
		})
		if err != nil || n < upgradeBatch {
			return err
		}
	}
}

// indexTagsByDigest builds the digest → tags index from the tags.
func (r *Registry) indexTagsByDigest() error {
	var last []byte
	for {
		n := 0
		err := r.kv.Update(func(tx kv.Tx) error {
			type item struct{ key, value []byte }
			var items []item
			tx.Scan(bTags, nil, after(nil, string(last)), func(k, v []byte) bool {
				items = append(items, item{bytes.Clone(k), bytes.Clone(v)})
				return len(items) < upgradeBatch
			})
			for _, it := range items {
				// reg|repo|tag → reg|repo|digest|tag
				cut := bytes.LastIndex(it.key, []byte(sep))
				if cut < 0 {
					return corrupt("tag", it.key, fmt.Errorf("no separator"))
				}
				if _, err := digest.Parse(string(it.value)); err != nil {
					return corrupt("tag", it.key, err)
				}
				key := append(append(append(bytes.Clone(it.key[:cut+1]), it.value...), sep...), it.key[cut+1:]...)
				if err := tx.Put(bDigestTags, key, nil); err != nil {
					return err
				}
				last = it.key
			}
			n = len(items)
			return nil
		})
		if err != nil || n < upgradeBatch {
			return err
		}
	}
}
