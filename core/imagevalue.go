package core

import (
	"bytes"

	"github.com/berth-dev/berth/core/kv"
)

// An image's value in bManifests (layout 7) is its record, a separator,
// then the manifest's exact bytes: one key, so that a push writes one leaf
// where a record and its bytes in two trees took two, each with its branch
// pages. The record is JSON, in which a NUL byte is always escaped, so the
// first NUL ends it; the bytes may hold anything.

// appendImageValue appends the value of an image whose record is rec and
// whose manifest is body.
func appendImageValue(dst, rec, body []byte) []byte {
	dst = append(dst, rec...)
	dst = append(dst, sep...)
	return append(dst, body...)
}

// recordPart is the record of an image's value.
func recordPart(v []byte) []byte {
	if i := bytes.IndexByte(v, sep[0]); i >= 0 {
		return v[:i]
	}
	return v // an upgrade of an earlier layout reads records alone
}

// bodyPart is the manifest's bytes in an image's value (nil: none).
func bodyPart(v []byte) []byte {
	if i := bytes.IndexByte(v, sep[0]); i >= 0 {
		return v[i+1:]
	}
	return nil
}

// manifestBody returns the stored bytes of the manifest under key (reg|repo|digest), or nil.
// They are valid until tx ends.
func manifestBody(tx kv.Tx, key []byte) []byte {
	return bodyPart(tx.Get(bManifests, key))
}

// putRecord replaces the record of the image under key, keeping its bytes.
func putRecord(tx kv.Tx, key, rec []byte) error {
	old := tx.Get(bManifests, key)
	v := make([]byte, 0, len(rec)+1+len(old))
	return tx.Put(bManifests, key, appendImageValue(v, rec, bodyPart(old)))
}
