package blob

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/internal/fsync"
)

// FS stores blobs as files under root:
//
//	root/blobs/<algorithm>/<first two hex>/<hex>   committed blobs
//	root/uploads/<id>                              pending uploads
//	root/uploads/<id>.state                        how far an upload's running hash got
//
// A blob file appears only by rename after its bytes were fsynced and
// verified, so a crash never leaves a partial blob under a digest.
//
// Close saves the upload's size and running sha256 beside it, synced, after
// syncing the bytes they cover: core closes an upload before it acknowledges
// a chunk, so the state records what was acknowledged. ResumeUpload reads
// those few hundred bytes instead of rehashing the upload — a session can be
// reopened for every request, and after a restart, without rereading
// gigabytes — and cuts off any bytes after them: a chunk a crash interrupted
// was never acknowledged, and the client sends it again from where the
// upload was. A state that is missing or damaged is ignored and the whole
// file hashed; one that covers more than the file holds (bytes lost) too.
type FS struct{ root string }

// NewFS creates the directories under root.
func NewFS(root string) (*FS, error) {
	for _, d := range []string{"blobs", "uploads"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	return &FS{root: root}, nil
}

func (s *FS) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	h := d.Encoded()
	return filepath.Join(s.root, "blobs", string(d.Algorithm()), h[:2], h), nil
}

func (s *FS) uploadPath(id string) (string, error) {
	if !validID(id) {
		return "", ErrBadID
	}
	return filepath.Join(s.root, "uploads", id), nil
}

func (s *FS) Stat(d digest.Digest) (int64, error) {
	p, err := s.path(d)
	if err != nil {
		return 0, ErrNotFound
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

type fileReader struct {
	*os.File
	size int64
}

func (f fileReader) Size() int64 { return f.size }

// File exposes the *os.File so HTTP responses can hand it to sendfile.
func (f fileReader) OSFile() *os.File { return f.File }

func (s *FS) Open(d digest.Digest) (Reader, error) {
	p, err := s.path(d)
	if err != nil {
		return nil, ErrNotFound
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return fileReader{File: f, size: fi.Size()}, nil
}

func (s *FS) Delete(d digest.Digest) error {
	p, err := s.path(d)
	if err != nil {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *FS) Walk(fn func(d digest.Digest, size int64) error) error {
	base := filepath.Join(s.root, "blobs")
	return filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		alg, _, _ := cutDir(rel)
		d := digest.NewDigestFromEncoded(digest.Algorithm(alg), e.Name())
		if d.Validate() != nil {
			return nil // a stray file, not a blob
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		return fn(d, fi.Size())
	})
}

func (s *FS) ListUploads(fn func(id string) error) error {
	entries, err := os.ReadDir(filepath.Join(s.root, "uploads"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !validID(e.Name()) {
			continue
		}
		if err := fn(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

func cutDir(rel string) (string, string, bool) {
	for i := 0; i < len(rel); i++ {
		if os.IsPathSeparator(rel[i]) {
			return rel[:i], rel[i+1:], true
		}
	}
	return rel, "", false
}

func (s *FS) CreateUpload(id string) (Upload, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	// A state of no bytes, now (it replaces one an earlier upload under this
	// id left, describing other bytes): a crash during the first chunk —
	// which may be written at once, with no Close before it — leaves none
	// of it behind either. Like Close's for no bytes, it is not synced.
	u := &fsUpload{s: s, id: id, path: p, f: f, h: digest.SHA256.Hash()}
	if err := u.saveState(false); err != nil {
		f.Close()
		os.Remove(p)
		return nil, err
	}
	return u, nil
}

func (s *FS) ResumeUpload(id string) (Upload, error) {
	p, err := s.uploadPath(id)
	if err != nil {
		return nil, ErrNotFound
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	u := &fsUpload{s: s, id: id, path: p, f: f}
	if err := u.restore(); err != nil {
		f.Close()
		return nil, err
	}
	return u, nil
}

type fsUpload struct {
	s    *FS
	id   string
	path string
	f    *os.File  // positioned at size
	h    hash.Hash // sha256 of the bytes written so far
	size int64
	// dirty: the saved state does not describe the bytes (Close saves it).
	dirty bool
	// Where the upload was created or resumed, and its hash there: a
	// Truncate back to it (a refused chunk) rereads nothing.
	baseSize  int64
	baseState []byte
	// written: the bytes before it were handed to startWriteback.
	written int64
}

func (u *fsUpload) Truncate(size int64) error {
	if size < 0 || size > u.size {
		return badTruncate(u.size, size)
	}
	from, state := int64(0), []byte(nil)
	if size >= u.baseSize && u.baseState != nil {
		from, state = u.baseSize, u.baseState
	}
	h, err := restoreHash(state)
	if err != nil {
		return err
	}
	if _, err := io.Copy(h, io.NewSectionReader(u.f, from, size-from)); err != nil {
		return err
	}
	if err := u.f.Truncate(size); err != nil {
		return err
	}
	if _, err := u.f.Seek(size, io.SeekStart); err != nil {
		return err
	}
	u.h, u.size, u.dirty = h, size, true
	u.written = min(u.written, size)
	return nil
}

func (u *fsUpload) SHA256() digest.Digest { return SHA256Digest(u.h) }

// ReadAt reads the bytes written so far (Inline takes a small blob's).
func (u *fsUpload) ReadAt(p []byte, off int64) (int, error) { return u.f.ReadAt(p, off) }

func (u *fsUpload) ID() string  { return u.id }
func (u *fsUpload) Size() int64 { return u.size }

func (u *fsUpload) Write(p []byte) (int, error) {
	n, err := u.f.Write(p)
	u.h.Write(p[:n])
	u.wrote(n)
	return n, err
}

// wrote counts n bytes written to the file (and hashed, or being hashed).
func (u *fsUpload) wrote(n int) {
	u.size += int64(n)
	u.dirty = u.dirty || n > 0
	if u.size-u.written >= writebackEvery {
		startWriteback(u.f, u.written, u.size-u.written)
		u.written = u.size
	}
}

// writebackEvery is how many bytes an upload writes before it asks the
// kernel to start writing them out (startWriteback): large enough to make
// few calls, small enough that the disk works while the client still sends.
const writebackEvery = 8 << 20

// Close saves the size and running hash for the next ResumeUpload, which
// goes on from there. The bytes are synced first: a state must never
// describe bytes a crash could still lose, or a resumed upload would commit
// content it does not have. The state is synced too before Close returns
// (and core acknowledges the chunk): one a crash lost would send the upload
// back to an earlier one, cutting off acknowledged bytes.
//
// An upload of no bytes (new, or a refused first chunk cut off) syncs
// nothing: a crash that loses its state leaves no state, and the file is
// rehashed; nothing acknowledged can be cut off.
func (u *fsUpload) Close() error {
	if !u.dirty {
		return u.f.Close()
	}
	durable := u.size > 0
	var err error
	if durable {
		err = u.f.Sync()
	}
	if err == nil {
		err = u.saveState(durable)
	}
	return errors.Join(err, u.f.Close())
}

// stateMagic starts a saved state; its last 4 bytes are a CRC-32 of the rest.
const stateMagic = "berth-upload-state-1\n"

func statePath(upload string) string { return upload + ".state" }

// saveState writes what Close keeps, and syncs it if durable: the size and
// the marshalled sha256 (crypto/sha256 implements encoding.BinaryMarshaler).
// It overwrites the state in place, in one write of a fixed length, so that
// a crash leaves the old state, the new one, or (torn, failing its CRC)
// none that counts — never an empty file, as truncating first would.
func (u *fsUpload) saveState(durable bool) error {
	p := statePath(u.path)
	st := hashState(u.h)
	if st == nil {
		// Nothing to save: the next resume rehashes. An older state must
		// not outlive the bytes written since, or it would cut them off.
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	b := append([]byte(stateMagic), binary.BigEndian.AppendUint64(nil, uint64(u.size))...)
	b = append(b, st...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Truncate(int64(len(b))) // a no-op: states of sha256 have one length
	}
	if err == nil && durable {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// loadState returns the saved state's size and hash, if there is a sound one.
func loadState(upload string) (int64, hash.Hash, bool) {
	b, err := os.ReadFile(statePath(upload))
	if err != nil || len(b) < len(stateMagic)+8+4 || string(b[:len(stateMagic)]) != stateMagic {
		return 0, nil, false
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return 0, nil, false
	}
	size := int64(binary.BigEndian.Uint64(body[len(stateMagic):]))
	h, err := restoreHash(body[len(stateMagic)+8:])
	if err != nil || size < 0 {
		return 0, nil, false
	}
	return size, h, true
}

// restore sets the running hash and size from the saved state and the file,
// and leaves f at the end. Bytes after the state are cut off: they are what
// a crash left of a chunk that was never acknowledged. Without a sound state
// the whole file is hashed.
func (u *fsUpload) restore() error {
	fi, err := u.f.Stat()
	if err != nil {
		return err
	}
	end := fi.Size()
	from, h, ok := loadState(u.path)
	switch {
	case ok && from < end:
		if err := u.f.Truncate(from); err != nil {
			return err
		}
		end = from
	case !ok || from > end:
		from, h, ok = 0, digest.SHA256.Hash(), false
	}
	if _, err := io.Copy(h, io.NewSectionReader(u.f, from, end-from)); err != nil {
		return err
	}
	if _, err := u.f.Seek(end, io.SeekStart); err != nil {
		return err
	}
	u.h, u.size, u.written = h, end, end
	u.dirty = !ok // Close saves a state that describes the bytes
	u.baseSize, u.baseState = end, hashState(h)
	return nil
}

// copyBuffers hold ReadFrom's buffers between requests: allocating (and
// zeroing) a fresh MiB for every chunk cost more than a small chunk itself.
var copyBuffers = sync.Pool{New: func() any { return new([1 << 20]byte) }}

// filled is a buffer ReadFrom wrote to the file, for the hasher.
type filled struct {
	buf *[1 << 20]byte
	n   int
}

// ReadFrom copies with large buffers (fewer syscalls on big layers), and
// hashes each buffer in a goroutine of its own while the next is read and
// written: on a large push, hashing costs as much as writing, and a second
// core does it meanwhile. Only bytes that reached the file are hashed, so
// the hash describes the upload's bytes whatever fails.
func (u *fsUpload) ReadFrom(r io.Reader) (int64, error) {
	free := make(chan *[1 << 20]byte, 2)
	free <- copyBuffers.Get().(*[1 << 20]byte)
	free <- copyBuffers.Get().(*[1 << 20]byte)
	toHash := make(chan filled, 2)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for p := range toHash {
			u.h.Write(p.buf[:p.n])
			free <- p.buf
		}
	}()
	var total int64
	var err error
	for {
		buf := <-free
		n, rerr := r.Read(buf[:])
		if n > 0 {
			w, werr := u.f.Write(buf[:n])
			total += int64(w)
			u.wrote(w)
			toHash <- filled{buf, w}
			if werr != nil {
				err = werr
				break
			}
		} else {
			free <- buf
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	close(toHash)
	<-hashed
	copyBuffers.Put(<-free)
	copyBuffers.Put(<-free)
	return total, err
}

func (u *fsUpload) Commit(expected digest.Digest) (int64, error) {
	var sums [2][sha256.Size]byte
	if isSHA256, match := sumIs(u.h, &sums, expected); isSHA256 {
		if !match {
			return 0, ErrDigestMismatch
		}
	} else {
		if err := expected.Validate(); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrDigestMismatch, err)
		}
		if _, err := u.f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		got, err := digestOf(expected.Algorithm(), u.f)
		if err != nil {
			return 0, err
		}
		if got != expected {
			return 0, ErrDigestMismatch
		}
	}
	if err := u.f.Sync(); err != nil {
		return 0, err
	}
	if err := u.f.Close(); err != nil {
		return 0, err
	}
	dst, _ := u.s.path(expected)
	if _, err := os.Stat(dst); err == nil {
		// Same content already stored: content addressing makes them identical.
		if err := os.Remove(u.path); err != nil {
			return 0, err
		}
		u.dropState()
		return u.size, nil
	}
	if err := u.s.mkdirDurable(filepath.Dir(dst)); err != nil {
		return 0, err
	}
	if err := os.Rename(u.path, dst); err != nil {
		return 0, err
	}
	if err := fsync.Dir(filepath.Dir(dst)); err != nil {
		return 0, err
	}
	u.dropState()
	return u.size, nil
}

// dropState removes the state of an upload whose bytes have left (Commit).
// It goes last, not first: an upload a crash interrupts before its bytes
// have left must keep it, or it would be resumed with a last chunk that
// was not acknowledged. A state left behind describes nothing (ResumeUpload
// needs the upload's file; CreateUpload replaces it), so failing to remove
// it fails nothing.
func (u *fsUpload) dropState() {
	os.Remove(statePath(u.path))
}

func (u *fsUpload) Cancel() error {
	u.f.Close()
	for _, p := range []string{statePath(u.path), u.path} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// mkdirDurable creates dir and any missing parents below the store's root,
// syncing each parent that gained an entry, so a blob renamed into a new
// directory cannot vanish with it after a crash.
func (s *FS) mkdirDurable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && parent != s.root {
		if err := s.mkdirDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return fsync.Dir(parent)
}
