// Package blob is berth's content-addressed blob store. Bytes stream in through
// an Upload, are hashed while they are written, and become a blob only when
// Commit sees the digest the client promised; nothing holds a whole blob in
// memory in the filesystem implementation. A blob store knows nothing about
// repositories: which repository may reach which blob is core's business.
//
// Inline wraps a Store and keeps small blobs in the metadata store (kv)
// instead, where the commit that links one writes it: on disk, a file of its
// own would cost each small blob two more syncs.
package blob

import (
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	_ "crypto/sha256" // registers the digest algorithms go-digest may be asked for
	_ "crypto/sha512"

	"github.com/opencontainers/go-digest"
)

var (
	// ErrNotFound: no blob with that digest, or no upload with that id.
	ErrNotFound = errors.New("blob: not found")
	// ErrDigestMismatch: the uploaded bytes do not hash to the expected digest.
	ErrDigestMismatch = errors.New("blob: digest does not match content")
	// ErrBadID: an upload id that cannot name a file.
	ErrBadID = errors.New("blob: invalid upload id")
)

// Store is implemented by FS (on disk) and Mem (in memory); blobtest is the
// suite both pass. A Store is safe for concurrent use; an Upload is not.
// A blob is stored only under the digest it was committed as.
type Store interface {
	// Stat returns the size of the blob, or ErrNotFound (also for a malformed
	// digest).
	Stat(d digest.Digest) (int64, error)
	// Open returns the blob for reading, or ErrNotFound (also for a malformed
	// digest). Each Reader has its own position. FS's Reader holds an
	// *os.File (see Seeker) so large responses can use sendfile.
	Open(d digest.Digest) (Reader, error)
	// Delete removes the blob; absent (or malformed) is not an error.
	Delete(d digest.Digest) error
	// CreateUpload starts an empty upload under id. An id of 1 to 128
	// characters from [A-Za-z0-9_-] is valid; others fail with ErrBadID. An
	// id that names a pending upload (created, not yet committed or
	// cancelled) fails with an error matching fs.ErrExist; once the upload
	// has ended its id may be used again.
	CreateUpload(id string) (Upload, error)
	// ResumeUpload reopens an upload that was created earlier (possibly
	// before a restart) and not committed or cancelled; ErrNotFound if none,
	// also for an invalid id. Resuming an upload that was closed should not
	// cost in proportion to its size (FS keeps its running hash beside it):
	// core reopens a session's upload for each request.
	ResumeUpload(id string) (Upload, error)
	// Walk calls fn once for every stored blob, in no particular order. It
	// stops at the first error fn returns and returns it.
	Walk(fn func(d digest.Digest, size int64) error) error
	// ListUploads calls fn once for every pending upload, closed or not, in
	// no particular order. It stops at the first error fn returns and returns
	// it. (How old an upload is, is core's business, on core's clock.)
	ListUploads(fn func(id string) error) error
}

// Reader reads one blob.
type Reader interface {
	io.ReadSeekCloser
	Size() int64
}

// Upload appends bytes to a pending blob. It is not safe for concurrent use;
// core serializes requests per upload. Once Commit has succeeded or Cancel
// was called, the Upload must not be used again.
type Upload interface {
	io.Writer
	// ID is the id the upload was created under.
	ID() string
	// Size is the number of bytes written so far (before a restart too).
	Size() int64
	// Commit verifies that the bytes hash to expected (sha256, sha384 or
	// sha512) and stores them as that blob; committing content that is
	// already stored is not an error. On ErrDigestMismatch, which a
	// malformed or unsupported digest also gets, nothing is stored and the
	// upload is left as it was: more bytes may be written and Commit called
	// again.
	Commit(expected digest.Digest) (size int64, err error)
	// Truncate discards the bytes after the first size (0 ≤ size ≤ Size),
	// so that a chunk that was refused leaves nothing behind; writing and
	// Commit go on from there. Cutting back to where the upload was created
	// or resumed rereads nothing; further back may rehash what is kept.
	Truncate(size int64) error
	// Cancel discards the upload.
	Cancel() error
	// Close releases resources and keeps the bytes, and what a later
	// ResumeUpload needs to continue them cheaply.
	Close() error
}

// SHA256Upload is an Upload that keeps the sha256 of its bytes as they are
// written (FS's and Mem's do). SHA256 returns it without committing them:
// a caller streaming the bytes on elsewhere can refuse content that does not
// match before the commit's sync, rather than after.
type SHA256Upload interface {
	Upload
	SHA256() digest.Digest
}

func badTruncate(size, to int64) error {
	return fmt.Errorf("blob: cannot truncate an upload of %d bytes to %d", size, to)
}

// restoreHash returns a sha256 set to state (nil: a fresh one).
func restoreHash(state []byte) (hash.Hash, error) {
	h := digest.SHA256.Hash()
	if state == nil {
		return h, nil
	}
	um, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, errors.New("blob: the sha256 implementation cannot restore a state")
	}
	return h, um.UnmarshalBinary(state)
}

// hashState returns h's state, or nil when it cannot be saved.
func hashState(h hash.Hash) []byte {
	if m, ok := h.(encoding.BinaryMarshaler); ok {
		if st, err := m.MarshalBinary(); err == nil {
			return st
		}
	}
	return nil
}

// validID keeps upload ids to a conservative alphabet so they are safe as file names.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// digestOf hashes r with the algorithm of want (used when the streaming hash
// was of another algorithm, e.g. a sha512 blob).
func digestOf(alg digest.Algorithm, r io.Reader) (digest.Digest, error) {
	dg := alg.Digester()
	if _, err := io.Copy(dg.Hash(), r); err != nil {
		return "", err
	}
	return dg.Digest(), nil
}

// Seeker returns what an HTTP response should copy from: the *os.File itself
// when the blob is a file, so that ServeContent can write it from a mapping
// (large) or net/http with sendfile (small), else r.
func Seeker(r Reader) io.ReadSeeker {
	if f, ok := r.(interface{ OSFile() *os.File }); ok {
		return f.OSFile()
	}
	return r
}
