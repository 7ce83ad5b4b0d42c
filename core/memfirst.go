package core

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// bUploadBytes: id → the acknowledged bytes of a small upload session.
//
// Why: a chunk that must outlive its request (a client that sends a blob
// with PATCH, then completes it with an empty PUT, as go-containerregistry
// and crane do) was written to a file of its own: created, synced with its
// state file, then read back and removed by the PUT — for a config or a
// tiny layer, three file syncs besides the commit that records the session.
// A chunk that leaves the session within the inline size instead goes in
// that very commit (keepInline), beside the record; the PUT then stores the
// blob inline and deletes them in its own commit.
const bUploadBytes = "upload-bytes"

// inMemory reports whether up is a memFirst whose bytes are all in memory.
func inMemory(up blob.Upload) bool {
	mf, ok := up.(*memFirst)
	return ok && mf.up == nil
}

// spilled reports whether up is a memFirst whose bytes went to a file.
func spilled(up blob.Upload) bool {
	mf, ok := up.(*memFirst)
	return ok && mf.up != nil
}

// inlineUpload reopens the bytes an inline session keeps in the store.
func (r *Registry) inlineUpload(u *openUpload) (*memFirst, error) {
	var buf []byte
	err := r.kv.View(func(tx kv.Tx) error {
		buf = bytes.Clone(tx.Get(bUploadBytes, []byte(u.rec.ID)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	mf := newMemFirst(r.blobs, u.rec.ID, r.inlineMax)
	mf.buf = buf
	mf.h.Write(buf)
	return mf, nil
}

// keepInline records the session (the caller holds it) with its bytes, in
// one commit, before the chunk that brought them is acknowledged; it fails
// with KindUploadNotFound when the session was ended meanwhile.
func (r *Registry) keepInline(u *openUpload, mf *memFirst) error {
	rec, key, recorded := u.rec, u.key, u.recorded
	rec.Inline = true
	data := mf.buf
	err := r.kv.Batch(func(tx kv.Tx) error { // changes only tx
		if recorded {
			if tx.Get(bUploads, []byte(rec.ID)) == nil {
				return uploadNotFound(rec.ID) // ended meanwhile
			}
			if err := putJSON(tx, bUploads, []byte(rec.ID), rec); err != nil {
				return err
			}
		} else {
			if err := unrecordedLiveTx(tx, &rec, key); err != nil {
				return err
			}
			if err := putUploadRecord(tx, rec); err != nil {
				return err
			}
		}
		return tx.Put(bUploadBytes, []byte(rec.ID), data)
	})
	if err != nil {
		return err
	}
	u.rec.Inline, u.inlineSize, u.stored = true, int64(len(data)), false
	if !recorded {
		r.markRecorded(u)
	}
	return nil
}

// dropInline records that an inline session's bytes moved to a file of
// the blob store (synced already), and deletes the inline copy.
func (r *Registry) dropInline(u *openUpload) error {
	rec := u.rec
	rec.Inline = false
	err := r.kv.Batch(func(tx kv.Tx) error { // changes only tx
		if tx.Get(bUploads, []byte(rec.ID)) == nil {
			return nil // ended meanwhile
		}
		if err := putJSON(tx, bUploads, []byte(rec.ID), rec); err != nil {
			return err
		}
		return tx.Delete(bUploadBytes, []byte(rec.ID))
	})
	if err == nil {
		u.rec.Inline, u.inlineSize = false, 0
	}
	return err
}

// memFirst is an upload that keeps its first bytes in memory and makes an
// upload in the blob store only when they outgrow max, or must outlive the
// request (Close: a chunk is acknowledged once it is on disk), or are
// committed as a blob too large to go inline. So a small blob sent whole —
// the POST then PUT of a config or a tiny layer — never touches a file: the
// blob store (blob.Inline) takes its bytes from memory, and the commit that
// links them makes them durable. Nothing is acknowledged that is only here.
type memFirst struct {
	blobs blob.Store
	id    string
	max   int64
	buf   []byte
	h     hash.Hash   // sha256 of buf
	up    blob.Upload // once spilled; then buf is unused
}

func newMemFirst(blobs blob.Store, id string, max int64) *memFirst {
	return &memFirst{blobs: blobs, id: id, max: max, h: digest.SHA256.Hash()}
}

// spill moves the bytes into an upload of the blob store.
func (u *memFirst) spill() error {
	if u.up != nil {
		return nil
	}
	up, err := u.blobs.CreateUpload(u.id)
	if err != nil {
		return err
	}
	if _, err := up.Write(u.buf); err != nil {
		up.Cancel()
		return err
	}
	u.up, u.buf = up, nil
	return nil
}

func (u *memFirst) ID() string { return u.id }

func (u *memFirst) Size() int64 {
	if u.up != nil {
		return u.up.Size()
	}
	return int64(len(u.buf))
}

func (u *memFirst) Write(p []byte) (int, error) {
	if u.up == nil && int64(len(u.buf)+len(p)) <= u.max {
		u.buf = append(u.buf, p...)
		u.h.Write(p)
		return len(p), nil
	}
	if err := u.spill(); err != nil {
		return 0, err
	}
	return u.up.Write(p)
}

// smallBufs are ReadFrom's buffers: one read into a stack array escapes
// (the reader is an interface), which cost every small blob 4 KiB of heap.
var smallBufs = sync.Pool{New: func() any { return new([4 << 10]byte) }}

// ReadFrom keeps the blob store's own ReadFrom (its large buffer) for what
// does not fit in memory.
func (u *memFirst) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	if u.up == nil {
		small := smallBufs.Get().(*[4 << 10]byte)
		defer smallBufs.Put(small)
		for u.up == nil {
			n, err := r.Read(small[:])
			if n > 0 {
				if _, werr := u.Write(small[:n]); werr != nil {
					return total, werr
				}
				total += int64(n)
			}
			if err == io.EOF {
				return total, nil
			}
			if err != nil {
				return total, err
			}
		}
	}
	var n int64
	var err error
	if rf, ok := u.up.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{u.up}, r)
	}
	return total + n, err
}

func (u *memFirst) ReadAt(p []byte, off int64) (int, error) {
	if u.up != nil {
		if ra, ok := u.up.(io.ReaderAt); ok {
			return ra.ReadAt(p, off)
		}
		return 0, errors.ErrUnsupported
	}
	if off >= int64(len(u.buf)) {
		return 0, io.EOF
	}
	n := copy(p, u.buf[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (u *memFirst) SHA256() digest.Digest {
	if u.up == nil {
		return blob.SHA256Digest(u.h)
	}
	if su, ok := u.up.(blob.SHA256Upload); ok {
		return su.SHA256()
	}
	d, _ := digest.SHA256.FromReader(io.NewSectionReader(u, 0, u.Size()))
	return d
}

func (u *memFirst) Truncate(size int64) error {
	if u.up != nil {
		return u.up.Truncate(size)
	}
	if size < 0 || size > int64(len(u.buf)) {
		return u.badTruncate(size)
	}
	u.buf = u.buf[:size]
	u.h.Reset()
	u.h.Write(u.buf)
	return nil
}

func (u *memFirst) badTruncate(size int64) error {
	return fmt.Errorf("core: cannot truncate an upload of %d bytes to %d", len(u.buf), size)
}

func (u *memFirst) Commit(expected digest.Digest) (int64, error) {
	if err := u.spill(); err != nil {
		return 0, err
	}
	return u.up.Commit(expected)
}

func (u *memFirst) Cancel() error {
	if u.up != nil {
		return u.up.Cancel()
	}
	u.buf = nil
	return nil
}

// Close keeps the bytes for the next request: on disk, synced (the blob
// store's Close), before the chunk is acknowledged.
func (u *memFirst) Close() error {
	if u.up == nil && len(u.buf) == 0 {
		return nil
	}
	if err := u.spill(); err != nil {
		return err
	}
	return u.up.Close()
}
