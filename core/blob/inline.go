package blob

import (
	"bytes"
	"errors"
	"io"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Inline keeps blobs of at most max bytes as values of one bucket of the
// metadata store, and the others (and every upload) in an inner Store.
//
// Why: on disk, a small blob as a file of its own costs a sync of the file
// and one of its directory, besides the metadata commit that links it — and
// on a push of many small blobs (configs, tiny layers, signatures) those
// syncs are most of the time. Kept inline, a blob is written by a metadata
// commit: core's commit stores it in the very transaction that links it
// (Take, then Put inside the link's kv.Batch), so bytes and link become
// durable together, in one group-committed sync shared with concurrent
// pushes. Committing an Upload of the store directly also works (the
// blobtest suite): it costs a commit of its own.
//
// An upload's bytes stay in the inner store until its commit; an inline
// blob's upload is then cancelled (its bytes are in the metadata store, and
// a crash before the cancel leaves a stray upload for core's janitor).
type Inline struct {
	inner  Store
	meta   kv.Store
	bucket string
	max    int64
}

// NewInline keeps blobs of at most max bytes in bucket of meta, the rest in
// inner. With max 0 it stores none there, and reads those it finds. The
// bucket may hold other keys, none of them a digest (core keeps a blob's
// references there, beside its bytes): Inline's keys are the digests.
func NewInline(inner Store, meta kv.Store, bucket string, max int64) *Inline {
	return &Inline{inner: inner, meta: meta, bucket: bucket, max: max}
}

func (s *Inline) get(d digest.Digest) (b []byte, ok bool, err error) {
	err = s.meta.View(func(tx kv.Tx) error {
		v := tx.Get(s.bucket, []byte(d))
		if ok = v != nil; ok {
			b = bytes.Clone(v)
		}
		return nil
	})
	return b, ok, err
}

func (s *Inline) Stat(d digest.Digest) (int64, error) {
	var size int64 = -1
	err := s.meta.View(func(tx kv.Tx) error {
		if v := tx.Get(s.bucket, []byte(d)); v != nil {
			size = int64(len(v))
		}
		return nil
	})
	if err != nil || size >= 0 {
		return size, err
	}
	return s.inner.Stat(d)
}

func (s *Inline) Open(d digest.Digest) (Reader, error) {
	b, ok, err := s.get(d)
	if err != nil {
		return nil, err
	}
	if ok {
		return &memReader{p: pieces{b}, size: int64(len(b))}, nil
	}
	return s.inner.Open(d)
}

func (s *Inline) Delete(d digest.Digest) error {
	_, err := s.DeleteMany([]digest.Digest{d}, nil)
	return err
}

// DeleteMany deletes blobs in one metadata commit (when any is inline) and
// returns how many it deleted or found absent. keep, when not nil, is asked
// inside that commit's transaction, and a blob it says to keep is not
// deleted: core asks whether a repository links it, so a blob cannot be
// linked again between that check and its deletion.
func (s *Inline) DeleteMany(ds []digest.Digest, keep func(kv.Tx, digest.Digest) (bool, error)) ([]digest.Digest, error) {
	var inline, files []digest.Digest
	err := s.meta.View(func(tx kv.Tx) error {
		inline, files = inline[:0], files[:0]
		for _, d := range ds {
			if tx.Get(s.bucket, []byte(d)) != nil {
				inline = append(inline, d)
			} else {
				files = append(files, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var deleted []digest.Digest
	if len(inline) > 0 {
		// A Batch: deletions in parallel share a commit (fn changes only tx
		// and deleted, which it resets).
		err = s.meta.Batch(func(tx kv.Tx) error {
			deleted = deleted[:0]
			for _, d := range inline {
				if keep != nil {
					if k, err := keep(tx, d); err != nil || k {
						if err != nil {
							return err
						}
						continue
					}
				}
				if err := tx.Delete(s.bucket, []byte(d)); err != nil {
					return err
				}
				deleted = append(deleted, d)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, d := range files {
		if keep != nil {
			var k bool
			err := s.meta.View(func(tx kv.Tx) (err error) { k, err = keep(tx, d); return err })
			if err != nil {
				return deleted, err
			}
			if k {
				continue
			}
		}
		if err := s.inner.Delete(d); err != nil {
			return deleted, err
		}
		deleted = append(deleted, d)
	}
	return deleted, nil
}

// Walk lists the inline blobs, then the inner store's. fn runs outside any
// transaction, so it may delete.
func (s *Inline) Walk(fn func(d digest.Digest, size int64) error) error {
	type entry struct {
		d    digest.Digest
		size int64
	}
	var inline []entry
	err := s.meta.View(func(tx kv.Tx) error {
		return tx.Scan(s.bucket, nil, nil, func(k, v []byte) bool {
			if d := digest.Digest(k); d.Validate() == nil {
				inline = append(inline, entry{d, int64(len(v))})
			}
			return true
		})
	})
	if err != nil {
		return err
	}
	for _, e := range inline {
		if err := fn(e.d, e.size); err != nil {
			return err
		}
	}
	return s.inner.Walk(fn)
}

func (s *Inline) ListUploads(fn func(id string) error) error { return s.inner.ListUploads(fn) }

func (s *Inline) CreateUpload(id string) (Upload, error) { return s.wrap(s.inner.CreateUpload(id)) }

func (s *Inline) ResumeUpload(id string) (Upload, error) { return s.wrap(s.inner.ResumeUpload(id)) }

// Take returns the bytes of up when its blob belongs inline — at most max
// bytes, hashing to expected, and not already stored in the inner store —
// for the caller to Put in the transaction that links it, and then Cancel
// up. ok false: commit up as usual. A digest that does not match is
// ErrDigestMismatch, and up is left as it was.
func (s *Inline) Take(up Upload, expected digest.Digest) (data []byte, ok bool, err error) {
	if up.Size() > s.max || s.max <= 0 {
		return nil, false, nil
	}
	ra, isRA := up.(io.ReaderAt)
	if !isRA {
		return nil, false, nil
	}
	if err := validDigest(expected); err != nil {
		return nil, false, ErrDigestMismatch
	}
	data = make([]byte, up.Size())
	if _, err := ra.ReadAt(data, 0); errors.Is(err, errors.ErrUnsupported) {
		return nil, false, nil
	} else if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	var got digest.Digest
	if su, isSHA := up.(SHA256Upload); isSHA && expected.Algorithm() == digest.SHA256 {
		got = su.SHA256()
	} else {
		got = expected.Algorithm().FromBytes(data)
	}
	if got != expected {
		return nil, false, ErrDigestMismatch
	}
	// Stored as a file already (by a berth from before Inline, or larger
	// limits): the usual commit finds it and keeps the one copy.
	if _, err := s.inner.Stat(expected); err == nil {
		return nil, false, nil
	}
	return data, true, nil
}

// Put stores data as blob d inside tx (see Take).
func (s *Inline) Put(tx kv.Tx, d digest.Digest, data []byte) error {
	return tx.Put(s.bucket, []byte(d), data)
}

// wrap gives an inner upload Inline's Commit, keeping the optional
// interfaces callers look for (io.ReaderFrom for large copies, SHA256Upload).
func (s *Inline) wrap(up Upload, err error) (Upload, error) {
	if err != nil {
		return nil, err
	}
	u := &inlineUpload{Upload: up, s: s}
	if sh, ok := up.(SHA256Upload); ok {
		return inlineSHA256Upload{u, sh}, nil
	}
	return u, nil
}

type inlineUpload struct {
	Upload
	s *Inline
}

type inlineSHA256Upload struct {
	*inlineUpload
	sh SHA256Upload
}

func (u inlineSHA256Upload) SHA256() digest.Digest { return u.sh.SHA256() }

// ReadAt reads the inner upload's bytes (Take reads a small blob's).
func (u *inlineUpload) ReadAt(p []byte, off int64) (int, error) {
	if ra, ok := u.Upload.(io.ReaderAt); ok {
		return ra.ReadAt(p, off)
	}
	return 0, errors.ErrUnsupported
}

func (u *inlineUpload) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := u.Upload.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{u.Upload}, r)
}

// Commit stores a small blob inline, in a commit of its own, and any other
// in the inner store.
func (u *inlineUpload) Commit(expected digest.Digest) (int64, error) {
	var self Upload = u
	if sh, ok := u.Upload.(SHA256Upload); ok {
		self = inlineSHA256Upload{u, sh}
	}
	data, ok, err := u.s.Take(self, expected)
	if err != nil {
		return 0, err
	}
	if !ok {
		return u.Upload.Commit(expected)
	}
	if err := u.s.meta.Batch(func(tx kv.Tx) error { return u.s.Put(tx, expected, data) }); err != nil {
		return 0, err
	}
	u.Upload.Cancel() // its bytes are stored; a stray upload is the janitor's
	return int64(len(data)), nil
}
