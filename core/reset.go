package core

import (
	"context"
	"strings"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// allBuckets lists every bucket core writes, for Reset. Small blobs
// (bInlineBlobs) live in bBlobRefs since layout 6, and blob links and
// manifest bytes since layout 7 in bBlobRefs and bManifests.
var allBuckets = []string{bRepos, bManifests, bTags, bDigestTags, bBlobRefs, bReferrers, bParents, bUploads, bRegUploads, bSettings, bImageData, bRegistryData, bUploadKey, bUploadEnds, bUploadEnded, bUploadGens, bUploadBytes}

// Reset wipes all state: every registry, repository, image, blob and upload.
// Test suites call it between tests. It does not wait for requests writing
// into upload sessions: their sessions end and they fail (endSessions).
func (r *Registry) Reset(ctx context.Context) error {
	// The GC lock waits for commits in progress (none waits for a client).
	r.gcMu.Lock()
	defer r.gcMu.Unlock()
	var uploads []string
	defer r.registryData.changed()
	defer r.settings.changed()
	// A new secret for upload ids: every id handed out before stops checking.
	key, err := r.newUploadKey()
	if err != nil {
		return err
	}
	err = r.kv.Update(func(tx kv.Tx) error {
		tx.Scan(bUploads, nil, nil, func(k, v []byte) bool { uploads = append(uploads, string(k)); return true })
		for _, b := range allBuckets {
			if err := deletePrefix(tx, b, nil); err != nil {
				return err
			}
		}
		return tx.Put(bUploadKey, uploadKeyName, key)
	})
	if err != nil {
		return err
	}
	recorded := make(map[string]bool, len(uploads))
	for _, id := range uploads {
		recorded[id] = true
	}
	r.mu.Lock()
	r.idKey, r.idMACer = key, newIDMACer(key)
	r.nonces.next, r.nonces.end = 0, 0 // the counter went with the old secret
	for id := range r.uploads {
		if !recorded[id] {
			uploads = append(uploads, id) // a session whose record went otherwise
		}
	}
	r.mu.Unlock()
	r.endSessions(uploads)
	var blobs []digest.Digest
	if err := r.blobs.Walk(func(d digest.Digest, _ int64) error { blobs = append(blobs, d); return nil }); err != nil {
		return err
	}
	for _, d := range blobs {
		if err := r.blobs.Delete(d); err != nil {
			return err
		}
	}
	return nil
}

// BlobInfo describes one stored blob and the repositories that reach it.
type BlobInfo struct {
	Digest       digest.Digest `json:"digest"`
	Size         int64         `json:"size"`
	Repositories []string      `json:"repositories"` // "account/region/name"
}

// Blobs lists every stored blob, for introspection.
func (r *Registry) Blobs(ctx context.Context) ([]BlobInfo, error) {
	var out []BlobInfo
	err := r.blobs.Walk(func(d digest.Digest, size int64) error {
		out = append(out, BlobInfo{Digest: d, Size: size, Repositories: []string{}})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = r.kv.View(func(tx kv.Tx) error {
		for i := range out {
			pre := []byte(string(out[i].Digest) + sep)
			tx.Scan(bBlobRefs, pre, nil, func(k, v []byte) bool {
				parts := strings.Split(string(k[len(pre):]), sep)
				if len(parts) == 3 {
					out[i].Repositories = append(out[i].Repositories, parts[0]+"/"+parts[1]+"/"+parts[2])
				}
				return true
			})
		}
		return nil
	})
	return out, err
}

// Registries lists the registries that have repositories or settings.
func (r *Registry) Registries(ctx context.Context) ([]RegistryID, error) {
	seen := map[RegistryID]bool{}
	var out []RegistryID
	err := r.kv.View(func(tx kv.Tx) error {
		for _, b := range []string{bRepos, bSettings} {
			tx.Scan(b, nil, nil, func(k, v []byte) bool {
				parts := strings.Split(string(k), sep)
				if len(parts) >= 2 {
					id := RegistryID{Account: parts[0], Region: parts[1]}
					if !seen[id] {
						seen[id] = true
						out = append(out, id)
					}
				}
				return true
			})
		}
		return nil
	})
	return out, err
}
