package core

import (
	"context"
	"strings"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Per-image data: what features record about one image (a scan's findings,
// a replication's status per destination) lives beside the image, under a
// name the feature chooses, and is removed in the transaction that removes
// the image or its repository — so nothing outlives what it describes, and a
// feature never sweeps up after deletions.
const bImageData = "image-data" // reg|repo|digest|name → the feature's bytes

func imageDataKey(reg RegistryID, repo string, dg digest.Digest, name string) []byte {
	return itemKey(reg, repo, string(dg), name)
}

func validDataName(name string) error {
	if name == "" || strings.Contains(name, sep) {
		return Errorf(KindInvalidParameter, "image data name %q is empty or holds a NUL", name)
	}
	return nil
}

// ImageData returns the data stored under name for an image; found is false
// when there is none (or no such image).
func (r *Registry) ImageData(ctx context.Context, reg RegistryID, repo string, dg digest.Digest, name string) (data []byte, found bool, err error) {
	if err := validDataName(name); err != nil {
		return nil, false, err
	}
	err = r.kv.View(func(tx kv.Tx) error {
		if b := tx.Get(bImageData, imageDataKey(reg, repo, dg, name)); b != nil {
			data, found = append([]byte{}, b...), true
		}
		return nil
	})
	return data, found, err
}

// UpdateImageData replaces the data stored under name for an image with
// what change returns, given the current data (nil if none), in one
// transaction; change returning nil data removes it. It fails with
// KindManifestNotFound when the image is not in the repository, so data is
// never written for an image that is gone.
func (r *Registry) UpdateImageData(ctx context.Context, reg RegistryID, repo string, dg digest.Digest, name string, change func(old []byte) ([]byte, error)) error {
	if err := validDataName(name); err != nil {
		return err
	}
	return r.kv.Update(func(tx kv.Tx) error {
		if _, found, err := getImage(tx, reg, repo, dg, false); err != nil {
			return err
		} else if !found {
			return manifestNotFound(repo, string(dg))
		}
		key := imageDataKey(reg, repo, dg, name)
		var old []byte
		if b := tx.Get(bImageData, key); b != nil {
			old = append([]byte{}, b...)
		}
		data, err := change(old)
		if err != nil {
			return err
		}
		if data == nil {
			return tx.Delete(bImageData, key)
		}
		return tx.Put(bImageData, key, data)
	})
}

// deleteImageDataTx removes everything stored for one image.
func deleteImageDataTx(tx kv.Tx, reg RegistryID, repo string, dg digest.Digest) error {
	return deletePrefix(tx, bImageData, itemKey(reg, repo, string(dg), ""))
}
