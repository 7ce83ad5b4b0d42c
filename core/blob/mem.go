package blob

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"unsafe"

	"github.com/opencontainers/go-digest"
)

// Mem keeps blobs in memory, for --memory mode and tests.
//
// A blob is kept as the pieces its upload was read into (pieces), not one
// slice: an upload does not know its size in advance, and one slice grown by
// doubling copies the blob over and over and touches half as much memory
// again (a 200 MiB push allocated 512 MiB, each page faulted in and zeroed,
// and kept a 256 MiB slice). Pieces grow with the upload up to maxPiece, so
// a small blob is one piece; each is written once and kept as it is. From
// memFileAt bytes on, an upload goes to a memory file instead (memfile.go).
type Mem struct {
	mu      sync.RWMutex
	blobs   map[digest.Digest]memBlob
	uploads map[string]*memUpload
}

func NewMem() *Mem {
	return &Mem{blobs: map[digest.Digest]memBlob{}, uploads: map[string]*memUpload{}}
}

// memBlob is a stored blob: one piece (every blob of up to minPiece bytes,
// which is most of them), or more.
//
// A one-piece blob is kept in one allocation with its digest (the map's
// key), and holds no pointer: the collector marks it without scanning it.
// Kept as its upload's pieces, as before, it held the upload's whole
// memUpload (its first piece lives in it), hash state included, a piece of
// minPiece bytes for a blob of 20, and the request line its digest was cut
// from: five objects, three with pointers, for each small blob, which after
// the bench's pushes was most of berth --memory's live heap.
type memBlob struct {
	one  []byte
	more pieces   // when not nil, the blob is these pieces (and one is nil)
	file *memFile // when not nil, the blob is this file's bytes (a large one)
}

func (b memBlob) size() int64 {
	if b.file != nil {
		return b.file.size
	}
	if b.more != nil {
		return b.more.size()
	}
	return int64(len(b.one))
}

func (b memBlob) reader() *memReader {
	r := &memReader{p: b.more, size: b.size()}
	if b.more == nil {
		r.one[0] = b.one
		r.p = r.one[:]
	}
	return r
}

// keep is how Commit stores an upload's pieces p of n bytes under d.
func keep(d digest.Digest, p pieces, n int64) (digest.Digest, memBlob) {
	if len(p) > 1 {
		return digest.Digest(strings.Clone(string(d))), memBlob{more: p}
	}
	buf := make([]byte, len(d)+int(n))
	copy(buf, d)
	if len(p) == 1 {
		copy(buf[len(d):], p[0])
	}
	return digest.Digest(unsafe.String(&buf[0], len(d))), memBlob{one: buf[len(d):len(buf):len(buf)]}
}

// pieces is a blob's bytes, in order; only the last may have spare capacity.
type pieces [][]byte

func (p pieces) size() int64 {
	var n int64
	for _, b := range p {
		n += int64(len(b))
	}
	return n
}

// Piece sizes: the first holds a small blob whole (what bytes.Buffer's
// ReadFrom reserved, bytes.MinRead); each next one is as large as the upload
// so far, up to maxPiece, which bounds the spare capacity an upload keeps.
const (
	minPiece = 512
	maxPiece = 8 << 20
)

func (s *Mem) Stat(d digest.Digest) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.blobs[d]
	if !ok {
		return 0, ErrNotFound
	}
	return b.size(), nil
}

func (s *Mem) Open(d digest.Digest) (Reader, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.blobs[d]
	if !ok {
		return nil, ErrNotFound
	}
	if b.file != nil {
		return b.file.open()
	}
	return b.reader(), nil
}

// memReader reads a blob's pieces. Like a bytes.Reader, it tells what it has
// left (Len) and writes it in one call per piece (WriteTo), so that a
// response copies it without a buffer (oci's inMemory).
type memReader struct {
	p    pieces
	one  [1][]byte // p, for a one-piece blob
	size int64
	pos  int64
	i    int   // the piece pos is in
	off  int64 // where piece i starts
}

// seekPiece moves i and off to the piece that holds pos.
func (r *memReader) seekPiece() {
	if r.pos < r.off {
		r.i, r.off = 0, 0
	}
	for r.i < len(r.p) && r.pos >= r.off+int64(len(r.p[r.i])) {
		r.off += int64(len(r.p[r.i]))
		r.i++
	}
}

func (r *memReader) Read(b []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && r.pos < r.size {
		r.seekPiece()
		k := copy(b[n:], r.p[r.i][r.pos-r.off:])
		n += k
		r.pos += int64(k)
	}
	return n, nil
}

func (r *memReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for r.pos < r.size {
		r.seekPiece()
		b := r.p[r.i][r.pos-r.off:]
		k, err := w.Write(b)
		n += int64(k)
		r.pos += int64(k)
		if err != nil {
			return n, err
		}
		if k != len(b) {
			return n, io.ErrShortWrite
		}
	}
	return n, nil
}

func (r *memReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	default:
		return r.pos, errors.New("blob: invalid whence")
	}
	if offset < 0 {
		return r.pos, errors.New("blob: seek before the start")
	}
	r.pos = offset
	return offset, nil
}

// Len is how many bytes are left to read.
func (r *memReader) Len() int {
	if r.pos >= r.size {
		return 0
	}
	return int(r.size - r.pos)
}

func (r *memReader) Size() int64  { return r.size }
func (r *memReader) Close() error { return nil }

func (s *Mem) Delete(d digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.blobs[d]; ok && b.file != nil {
		b.file.f.Close() // its open readers keep it
	}
	delete(s.blobs, d)
	return nil
}

func (s *Mem) Walk(fn func(d digest.Digest, size int64) error) error {
	s.mu.RLock()
	sizes := make(map[digest.Digest]int64, len(s.blobs))
	for d, b := range s.blobs {
		sizes[d] = b.size()
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
	u.p = u.one[:0]
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
	u.baseSize, u.baseState = u.n, hashState(u.h)
	return u, nil
}

type memUpload struct {
	s  *Mem
	id string
	p  pieces // the bytes so far; only the last piece has spare capacity
	n  int64  // their length
	// one is where p starts, so that a small blob's one piece costs no
	// allocation for the list of pieces.
	one [1][]byte
	h   hash.Hash
	// Where the upload was created or last resumed, and its hash there: a
	// Truncate back to it (a refused chunk) hashes nothing again.
	baseSize  int64
	baseState []byte
	sums      [2][sha256.Size]byte // Commit's (sumIs)
	// first is the upload's first piece while it is one of firstPieces
	// (nil once it is kept as a blob's, or given back).
	first *[minPiece]byte
	// From memFileAt bytes on, the upload is in a memory file (memfile.go),
	// and p is nil; noFile tells that none could be made.
	file   *os.File
	fd     int
	noFile bool
}

func (u *memUpload) Truncate(size int64) error {
	if size < 0 || size > u.n {
		return badTruncate(u.n, size)
	}
	from, state := int64(0), []byte(nil)
	if size >= u.baseSize && u.baseState != nil {
		from, state = u.baseSize, u.baseState
	}
	h, err := restoreHash(state)
	if err != nil {
		return err
	}
	if u.file != nil {
		if err := u.file.Truncate(size); err != nil {
			return err
		}
		if _, err := io.Copy(h, io.NewSectionReader(u.file, from, size-from)); err != nil {
			return err
		}
		u.n, u.h = size, h
		return nil
	}
	// Rehash what is kept after from, and cut the pieces at size.
	var off int64
	keep := 0
	for _, b := range u.p {
		if off >= size {
			break
		}
		end := off + int64(len(b))
		if end > size {
			b = b[:size-off]
			end = size
		}
		if end > from {
			h.Write(b[max(from-off, 0):])
		}
		u.p[keep] = b
		keep++
		off = end
	}
	clear(u.p[keep:])
	u.p, u.n, u.h = u.p[:keep], size, h
	return nil
}

func (u *memUpload) SHA256() digest.Digest { return SHA256Digest(u.h) }

// ReadAt reads the bytes written so far (Inline takes a small blob's).
func (u *memUpload) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("blob: negative offset")
	}
	if u.file != nil {
		return u.file.ReadAt(p, off)
	}
	n := 0
	for _, b := range u.p {
		if off >= int64(len(b)) {
			off -= int64(len(b))
			continue
		}
		k := copy(p[n:], b[off:])
		n, off = n+k, 0
		if n == len(p) {
			return n, nil
		}
	}
	return n, io.EOF
}

func (u *memUpload) ID() string   { return u.id }
func (u *memUpload) Size() int64  { return u.n }
func (u *memUpload) Close() error { return nil }

// spare returns the room left in the last piece, adding a piece when there
// is none; the caller extends the last piece by what it fills.
func (u *memUpload) spare() []byte {
	if k := len(u.p); k > 0 {
		if last := u.p[k-1]; len(last) < cap(last) {
			return last[len(last):cap(last)]
		}
	}
	if len(u.p) == 0 && u.first == nil {
		u.first = firstPieces.Get().(*[minPiece]byte)
		u.p = append(u.p, u.first[:0])
	} else {
		u.p = append(u.p, make([]byte, 0, min(max(u.n, minPiece), maxPiece)))
	}
	last := u.p[len(u.p)-1]
	return last[:cap(last)]
}

// firstPieces are uploads' first pieces, given back when the upload ends
// without keeping it: a small blob (nearly every upload) is copied into an
// allocation of its own size when it is committed (keep), and its first
// piece, 512 bytes for a blob of 20, was garbage from then on.
var firstPieces = sync.Pool{New: func() any { return new([minPiece]byte) }}

// dropPieces forgets the upload's pieces, giving its first back unless a
// blob keeps it (kept). Nothing reads the upload's bytes afterwards: it
// has ended.
func (u *memUpload) dropPieces(kept bool) {
	if !kept {
		clear(u.p)
		if u.first != nil {
			firstPieces.Put(u.first)
		}
	}
	u.p, u.first = nil, nil
}

// filled extends the last piece by k bytes written into its spare room, and
// hashes them.
func (u *memUpload) filled(k int) {
	last := &u.p[len(u.p)-1]
	u.h.Write((*last)[len(*last) : len(*last)+k])
	*last = (*last)[:len(*last)+k]
	u.n += int64(k)
}

func (u *memUpload) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if u.wantsFile() {
			u.spill()
		}
		if u.file != nil {
			if err := u.appendFile(p); err != nil {
				return n - len(p), err
			}
			return n, nil
		}
		k := copy(u.spare(), p)
		u.filled(k)
		p = p[k:]
	}
	return n, nil
}

// ReadFrom reads r straight into the upload's pieces (io.Copy would
// allocate a 32 KiB buffer per chunk, most of a small blob push's memory)
// and hashes what it read, as Write does.
func (u *memUpload) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		if u.wantsFile() {
			u.spill()
		}
		if u.file != nil {
			k, err := u.readFile(r)
			return n + k, err
		}
		k, err := r.Read(u.spare())
		if k > 0 {
			u.filled(k)
			n += int64(k)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (u *memUpload) Commit(expected digest.Digest) (int64, error) {
	if isSHA256, match := sumIs(u.h, &u.sums, expected); isSHA256 {
		if !match {
			return 0, ErrDigestMismatch
		}
	} else {
		if err := expected.Validate(); err != nil {
			return 0, ErrDigestMismatch
		}
		if got, _ := digestOf(expected.Algorithm(), u.reader()); got != expected {
			return 0, ErrDigestMismatch
		}
	}
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	if _, ok := u.s.blobs[expected]; !ok {
		if u.file != nil {
			u.s.blobs[digest.Digest(strings.Clone(string(expected)))] = memBlob{file: &memFile{f: u.file, fd: u.fd, size: u.n}}
			u.file = nil
		} else {
			d, b := keep(expected, u.p, u.n) // the upload ends here, so its pieces can be kept
			u.s.blobs[d] = b
			u.dropPieces(b.more != nil)
		}
	}
	u.end()
	return u.n, nil
}

// reader reads the upload's bytes so far.
func (u *memUpload) reader() io.Reader {
	if u.file != nil {
		return io.NewSectionReader(u.file, 0, u.n)
	}
	return &memReader{p: u.p, size: u.n}
}

// end forgets the upload, and closes its memory file unless a blob took it;
// the caller holds u.s.mu.
func (u *memUpload) end() {
	delete(u.s.uploads, u.id)
	if u.first != nil {
		u.dropPieces(false)
	}
	if u.file != nil {
		u.file.Close()
		u.file = nil
	}
}

func (u *memUpload) Cancel() error {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	u.end()
	return nil
}
