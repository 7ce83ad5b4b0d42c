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
	return r.rewriteBucket(bManifests, func(tx kv.Tx, key, value []byte) error {
		var rec imageRecord
		if err := json.Unmarshal(value, &rec); err != nil {
			return corrupt("image", key, err)
		}
		m, err := ParseManifest(tx.Get(bBytes, key), rec.MediaType)
		if err != nil {
			return corrupt("manifest bytes", key, err)
		}
		rec.ImageSize, rec.ConfigMediaType = m.imageSize(), ""
		if m.Config != nil {
			rec.ConfigMediaType = m.Config.MediaType
		}
		return putJSON(tx, bManifests, key, rec)
	})
}

// indexTagsByDigest builds the digest → tags index from the tags.
func (r *Registry) indexTagsByDigest() error {
	return r.rewriteBucket(bTags, func(tx kv.Tx, key, value []byte) error {
		// reg|repo|tag → reg|repo|digest|tag
		cut := bytes.LastIndex(key, []byte(sep))
		if cut < 0 {
			return corrupt("tag", key, fmt.Errorf("no separator"))
		}
		if _, err := digest.Parse(string(value)); err != nil {
			return corrupt("tag", key, err)
		}
		indexKey := append(append(append(bytes.Clone(key[:cut+1]), value...), sep...), key[cut+1:]...)
		return tx.Put(bDigestTags, indexKey, nil)
	})
}

// rewriteBucket calls fn for every entry of bucket, upgradeBatch entries per
// write transaction, so an upgrade of a large store holds no huge one.
func (r *Registry) rewriteBucket(bucket string, fn func(tx kv.Tx, key, value []byte) error) error {
	var last []byte
	for {
		n := 0
		err := r.kv.Update(func(tx kv.Tx) error {
			type entry struct{ key, value []byte }
			var batch []entry
			tx.Scan(bucket, nil, after(nil, string(last)), func(k, v []byte) bool {
				batch = append(batch, entry{bytes.Clone(k), bytes.Clone(v)})
				return len(batch) < upgradeBatch
			})
			for _, e := range batch {
				if err := fn(tx, e.key, e.value); err != nil {
					return err
				}
				last = e.key
			}
			n = len(batch)
			return nil
		})
		if err != nil || n < upgradeBatch {
			return err
		}
	}
}
