package blob

import (
	"bytes"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"sync"

	"github.com/opencontainers/go-digest"
)

// Mem keeps blobs in memory, for --memory mode and tests.
type Mem struct {
	mu      sync.RWMutex
	blobs   map[digest.Digest][]byte
	uploads map[string]*memUpload
}

func NewMem() *Mem {
	return &Mem{blobs: map[digest.Digest][]byte{}, uploads: map[string]*memUpload{}}
}

func (s *Mem) Stat(d digest.Digest) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.blobs[d]
	if !ok {
		return 0, ErrNotFound
	}
	return int64(len(b)), nil
}

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

func (s *Mem) Open(d digest.Digest) (Reader, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.blobs[d]
	if !ok {
		return nil, ErrNotFound
	}
	return memReader{bytes.NewReader(b)}, nil
}

func (s *Mem) Delete(d digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blobs, d)
	return nil
}

func (s *Mem) Walk(fn func(d digest.Digest, size int64) error) error {
	s.mu.RLock()
	sizes := make(map[digest.Digest]int64, len(s.blobs))
	for d, b := range s.blobs {
		sizes[d] = int64(len(b))
	}
	s.mu.RUnlock()
	for d, n := range sizes {
		if err := fn(d, n); err != nil {
			return err
		}
	}
	return nil
}

func (s *Mem) ListUploads(fn func(id string) error) error {
	s.mu.RLock()
	ids := make([]string, 0, len(s.uploads))
	for id := range s.uploads {
		ids = append(ids, id)
	}
	s.mu.RUnlock()
	for _, id := range ids {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

func (s *Mem) CreateUpload(id string) (Upload, error) {
	if !validID(id) {
		return nil, ErrBadID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.uploads[id]; ok {
		// Replacing it would orphan the pending upload's handle, whose
		// Commit or Cancel would then end the new one.
		return nil, fmt.Errorf("blob: upload %s: %w", id, fs.ErrExist)
	}
	u := &memUpload{s: s, id: id, h: digest.SHA256.Hash()}
	s.uploads[id] = u
	return u, nil
}

func (s *Mem) ResumeUpload(id string) (Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[id]
	if !ok {
		return nil, ErrNotFound
	}
	u.baseSize, u.baseState = int64(u.buf.Len()), hashState(u.h)
	return u, nil
}

type memUpload struct {
	s   *Mem
	id  string
	buf bytes.Buffer
	h   hash.Hash
	// Where the upload was created or last resumed, and its hash there: a
	// Truncate back to it (a refused chunk) hashes nothing again.
	baseSize  int64
	baseState []byte
}

func (u *memUpload) Truncate(size int64) error {
	if size < 0 || size > int64(u.buf.Len()) {
		return badTruncate(int64(u.buf.Len()), size)
	}
	from, state := int64(0), []byte(nil)
	if size >= u.baseSize && u.baseState != nil {
		from, state = u.baseSize, u.baseState
	}
	h, err := restoreHash(state)
	if err != nil {
		return err
	}
	h.Write(u.buf.Bytes()[from:size])
	u.buf.Truncate(int(size))
	u.h = h
	return nil
}

func (u *memUpload) SHA256() digest.Digest { return digest.NewDigest(digest.SHA256, u.h) }

// ReadAt reads the bytes written so far (Inline takes a small blob's).
func (u *memUpload) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(u.buf.Bytes()).ReadAt(p, off)
}

func (u *memUpload) ID() string   { return u.id }
func (u *memUpload) Size() int64  { return int64(u.buf.Len()) }
func (u *memUpload) Close() error { return nil }

func (u *memUpload) Write(p []byte) (int, error) {
	u.h.Write(p)
	return u.buf.Write(p)
}

// ReadFrom reads r straight into the upload's buffer (io.Copy would
// allocate a 32 KiB buffer per chunk, most of a small blob push's memory)
// and hashes what it read, as Write does.
func (u *memUpload) ReadFrom(r io.Reader) (int64, error) {
	start := u.buf.Len()
	n, err := u.buf.ReadFrom(r)
	u.h.Write(u.buf.Bytes()[start:])
	return n, err
}

func (u *memUpload) Commit(expected digest.Digest) (int64, error) {
	if err := expected.Validate(); err != nil {
		return 0, ErrDigestMismatch
	}
	var got digest.Digest
	if expected.Algorithm() == digest.SHA256 {
		got = digest.NewDigest(digest.SHA256, u.h)
	} else {
		got, _ = digestOf(expected.Algorithm(), bytes.NewReader(u.buf.Bytes()))
	}
	if got != expected {
		return 0, ErrDigestMismatch
	}
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	if _, ok := u.s.blobs[expected]; !ok {
		u.s.blobs[expected] = u.buf.Bytes() // the upload ends here, so its buffer can be kept
	}
	delete(u.s.uploads, u.id)
	return int64(u.buf.Len()), nil
}

func (u *memUpload) Cancel() error {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	delete(u.s.uploads, u.id)
	return nil
}
