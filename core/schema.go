package core

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// schemaVersion is the layout of the metadata store this code writes:
//
//	1  image records held the whole parsed manifest; no digest → tags index
//	2  compact image records (imageSize, configMediaType); the digest-tags bucket
//	3  the blob-uses bucket; an index's imageSize is its largest manifest's
//	4  small blobs may be kept in the inline-blobs bucket (Options.InlineBlobs),
//	   which a berth of layout 3 would not look in: it must refuse the store
//	5  an upload session may have no record (its id describes it; tombstones
//	   keep ended ids unknown), and keeps small chunks in its record: a berth
//	   of layout 4 would lose them, so it must refuse the store
//	6  small blobs are kept in blob-refs, beside their references (keys.go,
//	   bInlineBlobs), not in inline-blobs: a berth of layout 5 would not find
//	   them, so it must refuse the store
//	7  a manifest's bytes are kept after its record, in one value (imagevalue.go),
//	   not in manifest-bytes; blob links are kept in blob-refs, not in links; no
//	   blob-uses index (keys.go): a berth of layout 6 would find neither bytes
//	   nor links, so it must refuse the store
//	8  upload ids' nonces come from a counter, and ended sessions are kept as
//	   runs of nonces (upload-ended), not a tombstone per id (uploadids.go): a
//	   berth of layout 7 would take those sessions for live ones, so it must
//	   refuse the store; layout 7's tombstones are kept, and read, as they are
const schemaVersion = "8"

var schemaKey = []byte("schema")

// Open builds a Registry over stores that may hold data written by an
// earlier version of berth, upgrading their layout first. Over new stores it
// is New.
func Open(o Options) (*Registry, error) {
	r := New(o)
	if err := r.upgrade(); err != nil {
		return nil, fmt.Errorf("upgrading the metadata store: %w", err)
	}
	if o.InlineBlobs <= 0 {
		// Blobs kept inline by an earlier run stay readable, whatever
		// Options say now; none is added.
		hasInline := false
		r.kv.View(func(tx kv.Tx) error {
			// Keys with a separator are references, not blobs.
			return tx.Scan(bInlineBlobs, nil, nil, func(k, v []byte) bool {
				hasInline = !bytes.Contains(k, []byte(sep))
				return !hasInline
			})
		})
		if hasInline {
			r.blobs = blob.NewInline(o.Blobs, o.KV, bInlineBlobs, 0)
		}
	}
	return r, nil
}

// upgradeBatch bounds the records one upgrade transaction rewrites.
var upgradeBatch = 1000

// upgrade brings a store of an earlier layout to this one. Each step is
// idempotent, moves its records in batches of one transaction each, and
// finds nothing to do in a store without what it moves; the version is
// written last, so an upgrade interrupted by a crash resumes.
func (r *Registry) upgrade() error {
	var version []byte
	empty := true
	err := r.kv.View(func(tx kv.Tx) error {
		version = bytes.Clone(tx.Get(bMeta, schemaKey))
		tx.Scan(bManifests, nil, nil, func(k, v []byte) bool { empty = false; return false })
		return nil
	})
	from := string(version)
	switch {
	case err != nil:
		return err
	case from == schemaVersion:
		return nil
	case from == "":
		from = "1"
	case from < "2" || from > "7" || len(from) != 1:
		return fmt.Errorf("the store has layout version %s; this berth knows %s and older", version, schemaVersion)
	}
	if !empty {
		r.log.Info("upgrading the metadata store", "from", from, "to", schemaVersion)
	}
	// 3 → 4 → 5 added buckets and rewrote nothing; 4 and 5 kept small
	// blobs in a bucket of their own, which 6 moved beside their references.
	if err := r.moveInlineBlobs(); err != nil {
		return err
	}
	// 7 keeps a manifest's bytes with its record: moved first, as what
	// follows reads them there.
	if err := r.mergeManifestBytes(); err != nil {
		return err
	}
	if from == "1" || from == "2" {
		if err := r.rewriteImageRecords(); err != nil {
			return err
		}
		if from == "1" {
			if err := r.indexTagsByDigest(); err != nil {
				return err
			}
		}
	}
	if err := r.moveLinks(); err != nil {
		return err
	}
	if err := r.rewriteBucket(bBlobUsesV6, func(tx kv.Tx, key, _ []byte) error { return tx.Delete(bBlobUsesV6, key) }); err != nil {
		return err
	}
	return r.kv.Update(func(tx kv.Tx) error { return tx.Put(bMeta, schemaKey, []byte(schemaVersion)) })
}

// rewriteImageRecords brings every image record to the current layout —
// computing what it carries from the exact bytes (version 1 records held the
// whole parsed manifest; version 2 summed an index's children).
func (r *Registry) rewriteImageRecords() error {
	return r.rewriteBucket(bManifests, func(tx kv.Tx, key, value []byte) error {
		reg, repo, _, ok := splitItemKey(key)
		if !ok {
			return corrupt("image", key, fmt.Errorf("not a registry, repository and digest"))
		}
		var rec imageRecord
		if err := json.Unmarshal(recordPart(value), &rec); err != nil {
			return corrupt("image", key, err)
		}
		body := bodyPart(value)
		m, err := ParseManifest(body, rec.MediaType)
		if err != nil {
			return corrupt("manifest bytes", key, err)
		}
		if rec.ImageSize, err = imageSizeTx(tx, reg, repo, &m, false); err != nil {
			return err
		}
		rec.ConfigMediaType = ""
		if m.Config != nil {
			rec.ConfigMediaType = m.Config.MediaType
		}
		enc, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Put(bManifests, key, appendImageValue(nil, enc, body))
	})
}

// mergeManifestBytes moves each manifest's bytes of layouts 1 to 6 into its
// image's value (layout 7), in the transaction that deletes them from
// manifest-bytes, so a crash leaves every manifest's bytes in one place or
// the other. Bytes without a record (no reader could reach them) go.
func (r *Registry) mergeManifestBytes() error {
	return r.rewriteBucket(bBytesV6, func(tx kv.Tx, key, value []byte) error {
		if rec := tx.Get(bManifests, key); rec != nil {
			v := appendImageValue(make([]byte, 0, len(rec)+len(sep)+len(value)), recordPart(rec), value)
			if err := tx.Put(bManifests, key, v); err != nil {
				return err
			}
		}
		return tx.Delete(bBytesV6, key)
	})
}

// moveLinks moves the blob links of layouts 1 to 6 (reg|repo|digest → size)
// into blob-refs (digest|reg|repo → size, layout 7), where each already had
// its reverse entry, deleting them in the same transaction.
func (r *Registry) moveLinks() error {
	return r.rewriteBucket(bLinksV6, func(tx kv.Tx, key, value []byte) error {
		reg, repo, d, ok := splitItemKey(key)
		if !ok {
			return corrupt("blob link", key, fmt.Errorf("not a registry, repository and digest"))
		}
		if err := tx.Put(bBlobRefs, blobRefKey(digest.Digest(d), reg, repo), value); err != nil {
			return err
		}
		return tx.Delete(bLinksV6, key)
	})
}

// moveInlineBlobs moves the small blobs of layouts 4 and 5 into blob-refs
// (layout 6), each with its digest for key as before. Each batch moves its
// entries in one transaction, so a crash leaves every blob in one place or
// the other, and the next Open moves the rest.
func (r *Registry) moveInlineBlobs() error {
	return r.rewriteBucket(bInlineBlobsV5, func(tx kv.Tx, key, value []byte) error {
		if bytes.Contains(key, []byte(sep)) {
			return corrupt("inline blob", key, fmt.Errorf("not a digest"))
		}
		if err := tx.Put(bInlineBlobs, key, value); err != nil {
			return err
		}
		return tx.Delete(bInlineBlobsV5, key)
	})
}

// splitItemKey reads reg|repo|item back out of a key built by itemKey.
func splitItemKey(key []byte) (RegistryID, string, string, bool) {
	parts := bytes.Split(key, []byte(sep))
	if len(parts) != 4 {
		return RegistryID{}, "", "", false
	}
	return RegistryID{Account: string(parts[0]), Region: string(parts[1])}, string(parts[2]), string(parts[3]), true
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
