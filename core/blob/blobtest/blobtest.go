// Package blobtest is the test suite every blob.Store implementation must
// pass, in the spirit of distribution's storage-driver suite: one set of
// behaviours, written down once, that each backend is held to.
//
// Run checks the contract of blob.Store, blob.Upload and blob.Reader as
// documented in package blob:
//
//   - Stat and Open of an absent (or malformed) digest fail with
//     blob.ErrNotFound;
//   - an upload written in several chunks (also through io.Copy) reports its
//     Size as it grows, keeps its ID, and commits under the right digest with
//     the right size; sha256, sha512 (and sha384) digests; an empty blob;
//   - Commit with a wrong (or malformed) digest fails with
//     blob.ErrDigestMismatch, stores nothing, and leaves the upload usable:
//     more bytes can be written and a later Commit with the right digest
//     succeeds; a blob is stored only under the digest it was committed as;
//   - Cancel discards the upload (ResumeUpload then fails with
//     blob.ErrNotFound, ListUploads no longer lists it, the id can be used
//     again); a committed upload is gone in the same way;
//   - Close keeps the bytes and ResumeUpload continues them, as often as
//     needed; ResumeUpload of an unknown id fails with blob.ErrNotFound;
//   - CreateUpload of an id that is already pending fails with an error
//     matching fs.ErrExist and leaves the pending upload alone;
//   - Truncate drops the bytes after a size — back to where the upload was
//     resumed, or further — and writing and Commit (sha256 and sha512) go on
//     from there; a size above Size or below 0 is refused and changes nothing;
//   - Open returns the exact bytes, its Size, and seeks (start, current,
//     end); independent Readers keep independent positions;
//   - Delete removes a blob and leaves others; deleting an absent blob is not
//     an error; a deleted blob can be committed again;
//   - committing the same content twice is fine and stores one blob;
//   - Walk lists exactly the committed blobs, each once, with their sizes,
//     and stops at (and returns) an error from fn; ListUploads lists exactly
//     the pending uploads, and stops at an error from fn;
//   - invalid upload ids ("", "../x", "a/b", ids longer than 128 characters,
//     characters outside [A-Za-z0-9_-]) fail with blob.ErrBadID, and
//     ResumeUpload of one fails with blob.ErrNotFound;
//   - concurrent uploads of the same content from several goroutines all
//     commit while readers open the blob, which is always intact.
//
// RunPersistent runs all of that and adds what a durable store must keep
// across a restart (a new Store on the same data): committed blobs, deletes,
// and uploads that were closed, which resume where they stopped (also after
// a Truncate) and commit under sha256 and sha512; cancelled and committed
// uploads stay gone.
//
// Run the tests with -race: some subtests are concurrent on purpose.
//
// A new implementation uses it from its own tests:
//
//	func TestStore(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store { return myblob.New() })
//	}
//
// and a durable one, giving the suite a way to reopen the same data:
//
//	func TestStore(t *testing.T) {
//		blobtest.RunPersistent(t, func(t *testing.T) (blob.Store, func() blob.Store) {
//			dir := t.TempDir()
//			open := func() blob.Store {
//				s, err := myblob.Open(dir)
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			}
//			return open(), open
//		})
//	}
//
// open must return a fresh, empty store for each call. reopen returns a new
// Store on the same data; the suite closes its uploads and stops using the
// old Store before it calls reopen.
package blobtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core/blob"
	"github.com/opencontainers/go-digest"
)

// Run runs the suite against stores made by open, each subtest on a fresh one.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

// RunPersistent runs Run and then the restart checks against stores made by
// open; reopen returns a new Store on the same data.
func RunPersistent(t *testing.T, open func(t *testing.T) (s blob.Store, reopen func() blob.Store)) {
	t.Helper()
	Run(t, func(t *testing.T) blob.Store { s, _ := open(t); return s })
	for _, c := range persistentCases {
		t.Run(c.name, func(t *testing.T) {
			s, reopen := open(t)
			c.fn(t, s, reopen)
		})
	}
}

var cases = []struct {
	name string
	fn   func(t *testing.T, s blob.Store)
}{
	{"AbsentBlobIsNotFound", testAbsent},
	{"UploadInChunksCommits", testChunks},
	{"UploadThroughIOCopyCommits", testIOCopy},
	{"SHA512AndSHA384", testSHA512},
	{"EmptyBlob", testEmpty},
	{"WrongDigestLeavesUploadUsable", testMismatch},
	{"MalformedDigestIsMismatch", testMalformedDigest},
	{"BlobIsStoredOnlyUnderItsDigest", testOnlyUnderDigest},
	{"CancelDiscards", testCancel},
	{"CommittedUploadIsGone", testCommittedGone},
	{"CloseKeepsBytesForResume", testCloseResume},
	{"ResumeUnknownIsNotFound", testResumeUnknown},
	{"CreatePendingIDFails", testCreatePending},
	{"TruncateDropsTheBytesAfterASize", testTruncate},
	{"TruncateAfterResume", testTruncateAfterResume},
	{"OpenReadsExactBytesAndSeeks", testOpenSeek},
	{"ReadersAreIndependent", testReadersIndependent},
	{"Delete", testDelete},
	{"DeleteAbsentIsNotAnError", testDeleteAbsent},
	{"CommitSameContentTwice", testSameContentTwice},
	{"WalkListsCommittedBlobs", testWalk},
	{"WalkStopsAtFnError", testWalkError},
	{"ListUploadsListsPendingUploads", testListUploads},
	{"ListUploadsStopsAtFnError", testListUploadsError},
	{"BadUploadIDs", testBadIDs},
	{"ConcurrentUploadsOfSameContent", testConcurrentSame},
	{"ConcurrentUploadsOfDifferentContent", testConcurrentDifferent},
}

var persistentCases = []struct {
	name string
	fn   func(t *testing.T, s blob.Store, reopen func() blob.Store)
}{
	{"BlobsSurviveReopen", testBlobsSurvive},
	{"UploadResumesAfterReopen", testResumeAfterReopen},
	{"TruncatedUploadResumesAfterReopen", testTruncateAcrossReopen},
	{"FinishedUploadsStayGoneAfterReopen", testFinishedStayGone},
}

var errStop = errors.New("blobtest: stop")

// data returns n pseudo-random bytes, the same for the same seed.
func data(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func create(t *testing.T, s blob.Store, id string) blob.Upload {
	t.Helper()
	u, err := s.CreateUpload(id)
	if err != nil {
		t.Fatalf("CreateUpload(%q): %v", id, err)
	}
	return u
}

func resume(t *testing.T, s blob.Store, id string) blob.Upload {
	t.Helper()
	u, err := s.ResumeUpload(id)
	if err != nil {
		t.Fatalf("ResumeUpload(%q): %v", id, err)
	}
	return u
}

func write(t *testing.T, u blob.Upload, p []byte) {
	t.Helper()
	n, err := u.Write(p)
	if err != nil || n != len(p) {
		t.Fatalf("Write of %d bytes = %d, %v", len(p), n, err)
	}
}

func commit(t *testing.T, u blob.Upload, d digest.Digest, size int) {
	t.Helper()
	n, err := u.Commit(d)
	if err != nil {
		t.Fatalf("Commit(%s): %v", d, err)
	}
	if n != int64(size) {
		t.Fatalf("Commit(%s) size = %d, want %d", d, n, size)
	}
}

// put stores b as a blob through a fresh upload and returns its digest.
func put(t *testing.T, s blob.Store, id string, alg digest.Algorithm, b []byte) digest.Digest {
	t.Helper()
	d := alg.FromBytes(b)
	u := create(t, s, id)
	write(t, u, b)
	commit(t, u, d, len(b))
	return d
}

// wantBlob checks that d is stored with exactly the bytes want.
func wantBlob(t *testing.T, s blob.Store, d digest.Digest, want []byte) {
	t.Helper()
	if n, err := s.Stat(d); err != nil || n != int64(len(want)) {
		t.Errorf("Stat(%s) = %d, %v; want %d", d, n, err, len(want))
	}
	r, err := s.Open(d)
	if err != nil {
		t.Errorf("Open(%s): %v", d, err)
		return
	}
	defer r.Close()
	if r.Size() != int64(len(want)) {
		t.Errorf("Open(%s).Size() = %d, want %d", d, r.Size(), len(want))
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Errorf("reading %s: %v", d, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("blob %s holds %d bytes that differ from the %d committed", d, len(got), len(want))
	}
}

// wantNoBlob checks that d is not stored.
func wantNoBlob(t *testing.T, s blob.Store, d digest.Digest) {
	t.Helper()
	if n, err := s.Stat(d); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat(%s) = %d, %v; want blob.ErrNotFound", d, n, err)
	}
	if r, err := s.Open(d); !errors.Is(err, blob.ErrNotFound) {
		if err == nil {
			r.Close()
		}
		t.Errorf("Open(%s) = %v, want blob.ErrNotFound", d, err)
	}
}

// wantGone checks that no upload id is pending.
func wantGone(t *testing.T, s blob.Store, id string) {
	t.Helper()
	if u, err := s.ResumeUpload(id); !errors.Is(err, blob.ErrNotFound) {
		if err == nil {
			u.Close()
		}
		t.Errorf("ResumeUpload(%q) = %v, want blob.ErrNotFound", id, err)
	}
	if _, ok := uploads(t, s)[id]; ok {
		t.Errorf("ListUploads lists %q", id)
	}
}

// walk returns what Walk reports, failing on a blob reported twice.
func walk(t *testing.T, s blob.Store) map[digest.Digest]int64 {
	t.Helper()
	got := map[digest.Digest]int64{}
	err := s.Walk(func(d digest.Digest, size int64) error {
		if _, dup := got[d]; dup {
			t.Errorf("Walk reported %s twice", d)
		}
		got[d] = size
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

// uploads returns what ListUploads reports, failing on an id reported twice.
func uploads(t *testing.T, s blob.Store) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	err := s.ListUploads(func(id string) error {
		if got[id] {
			t.Errorf("ListUploads reported %q twice", id)
		}
		got[id] = true
		return nil
	})
	if err != nil {
		t.Fatalf("ListUploads: %v", err)
	}
	return got
}

func wantUploads(t *testing.T, s blob.Store, want ...string) {
	t.Helper()
	var got []string
	for id := range uploads(t, s) {
		got = append(got, id)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ListUploads = %q, want %q", got, want)
	}
}

func testAbsent(t *testing.T, s blob.Store) {
	wantNoBlob(t, s, digest.SHA256.FromString("absent"))
	wantNoBlob(t, s, digest.SHA512.FromString("absent"))
	put(t, s, "other", digest.SHA256, []byte("present"))
	wantNoBlob(t, s, digest.SHA256.FromString("absent"))
	for _, d := range []digest.Digest{
		"",
		"sha256",
		"sha256:",
		"sha256:abc",
		"sha256:" + digest.Digest(strings.Repeat("z", 64)),
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha256:../../../etc/passwd",
		digest.SHA256.FromString("x")[:40],
	} {
		wantNoBlob(t, s, d)
	}
}

func testChunks(t *testing.T, s blob.Store) {
	b := data(1, 3<<20+17)
	d := digest.SHA256.FromBytes(b)
	u := create(t, s, "chunks")
	if u.ID() != "chunks" {
		t.Errorf("ID() = %q, want %q", u.ID(), "chunks")
	}
	if u.Size() != 0 {
		t.Errorf("Size() of a new upload = %d, want 0", u.Size())
	}
	off := 0
	for _, n := range []int{1, 0, 1000, 65536, 1 << 20, 3, len(b)} {
		n = min(n, len(b)-off)
		write(t, u, b[off:off+n])
		off += n
		if u.Size() != int64(off) {
			t.Fatalf("Size() after writing %d bytes = %d", off, u.Size())
		}
	}
	wantNoBlob(t, s, d)
	commit(t, u, d, len(b))
	wantBlob(t, s, d, b)
}

func testIOCopy(t *testing.T, s blob.Store) {
	b := data(2, 5<<20+3)
	d := digest.SHA256.FromBytes(b)
	u := create(t, s, "copy")
	// A reader that returns short reads, as a network body does.
	n, err := io.Copy(u, io.LimitReader(&shortReader{b: b}, int64(len(b))))
	if err != nil || n != int64(len(b)) {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	if u.Size() != int64(len(b)) {
		t.Fatalf("Size() = %d, want %d", u.Size(), len(b))
	}
	commit(t, u, d, len(b))
	wantBlob(t, s, d, b)
}

type shortReader struct {
	b []byte
	i int
}

func (r *shortReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	r.i++
	n := min(len(p), len(r.b), 1+r.i*7919%100000)
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

func testSHA512(t *testing.T, s blob.Store) {
	b := data(3, 300000)
	d := digest.SHA512.FromBytes(b)
	u := create(t, s, "sha512")
	write(t, u, b[:1000])
	write(t, u, b[1000:])
	if _, err := u.Commit(digest.SHA512.FromBytes(b[:1000])); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Commit with a wrong sha512 digest = %v, want blob.ErrDigestMismatch", err)
	}
	commit(t, u, d, len(b))
	wantBlob(t, s, d, b)
	if got := walk(t, s); got[d] != int64(len(b)) || len(got) != 1 {
		t.Errorf("Walk = %v, want only %s", got, d)
	}
	// sha384 comes with the same hash package and is accepted too.
	d384 := put(t, s, "sha384", digest.SHA384, b[:5000])
	wantBlob(t, s, d384, b[:5000])
}

func testEmpty(t *testing.T, s blob.Store) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		d := alg.FromBytes(nil)
		u := create(t, s, "empty-"+string(alg))
		write(t, u, []byte{})
		if u.Size() != 0 {
			t.Errorf("Size() after writing nothing = %d", u.Size())
		}
		commit(t, u, d, 0)
		wantBlob(t, s, d, nil)
		r, err := s.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Errorf("Read of an empty blob = %d, %v; want 0, io.EOF", n, err)
		}
		r.Close()
	}
	if got := walk(t, s); len(got) != 2 || got[digest.SHA256.FromBytes(nil)] != 0 || got[digest.SHA512.FromBytes(nil)] != 0 {
		t.Errorf("Walk = %v, want the two empty blobs with size 0", got)
	}
}

func testMismatch(t *testing.T, s blob.Store) {
	b := data(4, 100000)
	u := create(t, s, "mismatch")
	write(t, u, b[:60000])
	wrong := digest.SHA256.FromString("something else")
	if _, err := u.Commit(wrong); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Commit with a wrong digest = %v, want blob.ErrDigestMismatch", err)
	}
	// The digest of all the bytes, before all of them were written.
	full := digest.SHA256.FromBytes(b)
	if _, err := u.Commit(full); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Commit with the digest of bytes not yet written = %v, want blob.ErrDigestMismatch", err)
	}
	if _, err := u.Commit(digest.SHA512.FromBytes(b)); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Commit with a wrong sha512 digest = %v, want blob.ErrDigestMismatch", err)
	}
	wantNoBlob(t, s, wrong)
	wantNoBlob(t, s, full)
	wantNoBlob(t, s, digest.SHA256.FromBytes(b[:60000]))
	if len(walk(t, s)) != 0 {
		t.Error("Walk lists a blob after failed commits")
	}
	if u.Size() != 60000 {
		t.Errorf("Size() after failed commits = %d, want 60000", u.Size())
	}
	wantUploads(t, s, "mismatch")
	// The upload goes on: write the rest and commit with the right digest.
	write(t, u, b[60000:])
	if u.Size() != int64(len(b)) {
		t.Errorf("Size() = %d, want %d", u.Size(), len(b))
	}
	commit(t, u, full, len(b))
	wantBlob(t, s, full, b)
	wantGone(t, s, "mismatch")

	// A failed commit of a closed and resumed upload leaves it usable too.
	u = create(t, s, "mismatch2")
	write(t, u, b[:10])
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	u = resume(t, s, "mismatch2")
	if _, err := u.Commit(wrong); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Commit with a wrong digest = %v, want blob.ErrDigestMismatch", err)
	}
	write(t, u, b[10:20])
	commit(t, u, digest.SHA256.FromBytes(b[:20]), 20)
	wantBlob(t, s, digest.SHA256.FromBytes(b[:20]), b[:20])
}

func testMalformedDigest(t *testing.T, s blob.Store) {
	b := []byte("malformed digests")
	u := create(t, s, "malformed")
	write(t, u, b)
	good := digest.SHA256.FromBytes(b)
	for _, d := range []digest.Digest{
		"",
		"sha256",
		"sha256:",
		"sha256:" + digest.Digest(strings.ToUpper(good.Encoded())),
		good[:len(good)-1],
		good + "0",
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"unknown:" + digest.Digest(good.Encoded()),
	} {
		if n, err := u.Commit(d); !errors.Is(err, blob.ErrDigestMismatch) {
			t.Errorf("Commit(%q) = %d, %v; want blob.ErrDigestMismatch", d, n, err)
		}
	}
	if len(walk(t, s)) != 0 {
		t.Error("Walk lists a blob after failed commits")
	}
	commit(t, u, good, len(b))
	wantBlob(t, s, good, b)
}

func testOnlyUnderDigest(t *testing.T, s blob.Store) {
	b := []byte("one content, two algorithms")
	d512 := put(t, s, "u1", digest.SHA512, b)
	wantNoBlob(t, s, digest.SHA256.FromBytes(b))
	d256 := put(t, s, "u2", digest.SHA256, b)
	wantBlob(t, s, d512, b)
	wantBlob(t, s, d256, b)
	if got := walk(t, s); len(got) != 2 {
		t.Errorf("Walk = %v, want the sha256 and the sha512 blob", got)
	}
	if err := s.Delete(d256); err != nil {
		t.Fatal(err)
	}
	wantBlob(t, s, d512, b)
}

func testCancel(t *testing.T, s blob.Store) {
	b := []byte("cancelled bytes")
	u := create(t, s, "cancel")
	write(t, u, b)
	if err := u.Cancel(); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	wantGone(t, s, "cancel")
	wantNoBlob(t, s, digest.SHA256.FromBytes(b))
	if len(walk(t, s)) != 0 {
		t.Error("Walk lists a blob after Cancel")
	}
	// A closed upload can be cancelled after resuming it.
	u = create(t, s, "cancel2")
	write(t, u, b)
	u.Close()
	u = resume(t, s, "cancel2")
	if err := u.Cancel(); err != nil {
		t.Fatalf("Cancel of a resumed upload: %v", err)
	}
	wantGone(t, s, "cancel2")
	// The id is free again, for an empty upload.
	u = create(t, s, "cancel")
	if u.Size() != 0 {
		t.Errorf("Size() of an upload created under a cancelled id = %d, want 0", u.Size())
	}
	write(t, u, []byte("new"))
	commit(t, u, digest.SHA256.FromString("new"), 3)
	wantBlob(t, s, digest.SHA256.FromString("new"), []byte("new"))
}

func testCommittedGone(t *testing.T, s blob.Store) {
	d := put(t, s, "done", digest.SHA256, []byte("done"))
	wantGone(t, s, "done")
	wantUploads(t, s)
	u := create(t, s, "done")
	if u.Size() != 0 {
		t.Errorf("Size() of an upload created under a committed id = %d, want 0", u.Size())
	}
	u.Cancel()
	wantBlob(t, s, d, []byte("done"))
}

func testCloseResume(t *testing.T, s blob.Store) {
	b := data(5, 200000)
	u := create(t, s, "resume")
	write(t, u, b[:1])
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantUploads(t, s, "resume")
	for _, end := range []int{1000, 150000, len(b)} {
		u = resume(t, s, "resume")
		if u.ID() != "resume" {
			t.Errorf("ID() of a resumed upload = %q", u.ID())
		}
		start := int(u.Size())
		if start == 0 {
			t.Fatalf("resumed Size() = 0, want the bytes written before Close")
		}
		write(t, u, b[start:end])
		if u.Size() != int64(end) {
			t.Fatalf("Size() = %d, want %d", u.Size(), end)
		}
		if end < len(b) {
			if err := u.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	}
	d := digest.SHA256.FromBytes(b)
	commit(t, u, d, len(b))
	wantBlob(t, s, d, b)
	wantGone(t, s, "resume")

	// And with sha512, which cannot use a running sha256.
	u = create(t, s, "resume512")
	write(t, u, b[:777])
	u.Close()
	u = resume(t, s, "resume512")
	if u.Size() != 777 {
		t.Fatalf("resumed Size() = %d, want 777", u.Size())
	}
	write(t, u, b[777:])
	commit(t, u, digest.SHA512.FromBytes(b), len(b))
	wantBlob(t, s, digest.SHA512.FromBytes(b), b)
}

func testResumeUnknown(t *testing.T, s blob.Store) {
	put(t, s, "other", digest.SHA256, []byte("x"))
	for _, id := range []string{"never-created", "other"} {
		if u, err := s.ResumeUpload(id); !errors.Is(err, blob.ErrNotFound) {
			if err == nil {
				u.Close()
			}
			t.Errorf("ResumeUpload(%q) = %v, want blob.ErrNotFound", id, err)
		}
	}
}

func testCreatePending(t *testing.T, s blob.Store) {
	u := create(t, s, "pending")
	write(t, u, []byte("first"))
	if u2, err := s.CreateUpload("pending"); !errors.Is(err, fs.ErrExist) {
		if err == nil {
			u2.Close()
		}
		t.Errorf("CreateUpload of a pending id = %v, want an error matching fs.ErrExist", err)
	}
	u.Close()
	if u2, err := s.CreateUpload("pending"); !errors.Is(err, fs.ErrExist) {
		if err == nil {
			u2.Close()
		}
		t.Errorf("CreateUpload of a closed pending id = %v, want an error matching fs.ErrExist", err)
	}
	u = resume(t, s, "pending")
	if u.Size() != 5 {
		t.Errorf("the pending upload has %d bytes after a second CreateUpload, want 5", u.Size())
	}
	write(t, u, []byte(" and more"))
	commit(t, u, digest.SHA256.FromString("first and more"), 14)
	wantUploads(t, s)
}

func truncate(t *testing.T, u blob.Upload, size int) {
	t.Helper()
	if err := u.Truncate(int64(size)); err != nil {
		t.Fatalf("Truncate(%d): %v", size, err)
	}
	if u.Size() != int64(size) {
		t.Fatalf("Size() after Truncate(%d) = %d", size, u.Size())
	}
}

func testTruncate(t *testing.T, s blob.Store) {
	b := data(21, 300000)
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		id := "truncate-" + string(alg)
		u := create(t, s, id)
		write(t, u, b[:1000])
		write(t, u, b[:5000]) // a chunk that is then refused
		for _, bad := range []int64{-1, 6001} {
			if err := u.Truncate(bad); err == nil {
				t.Errorf("Truncate(%d) of an upload of 6000 bytes succeeded", bad)
			}
			if u.Size() != 6000 {
				t.Fatalf("Size() after a refused Truncate(%d) = %d, want 6000", bad, u.Size())
			}
		}
		truncate(t, u, 1000)
		truncate(t, u, 1000) // to its own size: nothing changes
		write(t, u, b[1000:])
		if _, err := u.Commit(alg.FromBytes(append(append([]byte{}, b[:6000]...), b[1000:]...))); !errors.Is(err, blob.ErrDigestMismatch) {
			t.Errorf("Commit with the digest of the dropped bytes = %v, want blob.ErrDigestMismatch", err)
		}
		commit(t, u, alg.FromBytes(b), len(b))
		wantBlob(t, s, alg.FromBytes(b), b)
	}

	u := create(t, s, "to-zero")
	write(t, u, b[:10])
	truncate(t, u, 0)
	write(t, u, []byte("fresh"))
	commit(t, u, digest.SHA256.FromString("fresh"), 5)
}

func testTruncateAfterResume(t *testing.T, s blob.Store) {
	b := data(22, 200000)
	u := create(t, s, "resumed")
	write(t, u, b[:100000])
	u.Close()
	u = resume(t, s, "resumed")
	write(t, u, b[:50000]) // refused
	truncate(t, u, 100000) // back to where it was resumed
	write(t, u, b[100000:150000])
	u.Close()
	u = resume(t, s, "resumed")
	truncate(t, u, 120000) // before where it was resumed
	write(t, u, b[120000:])
	commit(t, u, digest.SHA256.FromBytes(b), len(b))
	wantBlob(t, s, digest.SHA256.FromBytes(b), b)
}

func testOpenSeek(t *testing.T, s blob.Store) {
	b := data(6, 100000)
	d := put(t, s, "seek", digest.SHA256, b)
	r, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(b)) {
		t.Errorf("Size() = %d, want %d", r.Size(), len(b))
	}
	readAt := func(what string, want []byte) {
		t.Helper()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: read other bytes", what)
		}
	}
	seek := func(off int64, whence int, want int64) {
		t.Helper()
		got, err := r.Seek(off, whence)
		if err != nil || got != want {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", off, whence, got, err, want)
		}
	}
	readAt("first bytes", b[:10])
	seek(0, io.SeekCurrent, 10)
	seek(5000, io.SeekStart, 5000)
	readAt("bytes at 5000", b[5000:6000])
	seek(1000, io.SeekCurrent, 7000)
	readAt("bytes at 7000", b[7000:7100])
	seek(-100, io.SeekEnd, int64(len(b)-100))
	readAt("last bytes", b[len(b)-100:])
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read at the end = %d, %v; want 0, io.EOF", n, err)
	}
	seek(0, io.SeekStart, 0)
	all, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(all, b) {
		t.Errorf("ReadAll after seeking back = %d bytes, %v", len(all), err)
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek to a negative offset succeeded")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func testReadersIndependent(t *testing.T, s blob.Store) {
	b := data(7, 10000)
	d := put(t, s, "two", digest.SHA256, b)
	r1, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	buf := make([]byte, 4000)
	io.ReadFull(r1, buf)
	r2.Seek(8000, io.SeekStart)
	if _, err := io.ReadFull(r1, buf); err != nil || !bytes.Equal(buf, b[4000:8000]) {
		t.Errorf("the first Reader lost its place when the second moved: %v", err)
	}
	rest, _ := io.ReadAll(r2)
	if !bytes.Equal(rest, b[8000:]) {
		t.Error("the second Reader read other bytes")
	}
}

func testDelete(t *testing.T, s blob.Store) {
	keep := put(t, s, "keep", digest.SHA256, []byte("keep"))
	gone := put(t, s, "gone", digest.SHA256, []byte("gone"))
	if err := s.Delete(gone); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNoBlob(t, s, gone)
	wantBlob(t, s, keep, []byte("keep"))
	if got := walk(t, s); len(got) != 1 || got[keep] != 4 {
		t.Errorf("Walk after Delete = %v, want only %s", got, keep)
	}
	// Deleted content can be committed again.
	put(t, s, "again", digest.SHA256, []byte("gone"))
	wantBlob(t, s, gone, []byte("gone"))
}

func testDeleteAbsent(t *testing.T, s blob.Store) {
	d := put(t, s, "x", digest.SHA256, []byte("x"))
	for _, absent := range []digest.Digest{digest.SHA256.FromString("absent"), digest.SHA512.FromString("absent"), "", "sha256:bad"} {
		if err := s.Delete(absent); err != nil {
			t.Errorf("Delete(%q) of an absent blob: %v", absent, err)
		}
	}
	if err := s.Delete(d); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(d); err != nil {
		t.Errorf("Delete of a blob deleted before: %v", err)
	}
}

func testSameContentTwice(t *testing.T, s blob.Store) {
	b := data(8, 50000)
	d := put(t, s, "first", digest.SHA256, b)
	// The second upload is pending while the blob exists, then commits.
	u := create(t, s, "second")
	write(t, u, b[:100])
	u.Close()
	u = resume(t, s, "second")
	write(t, u, b[100:])
	commit(t, u, d, len(b))
	wantBlob(t, s, d, b)
	wantGone(t, s, "second")
	if got := walk(t, s); len(got) != 1 || got[d] != int64(len(b)) {
		t.Errorf("Walk = %v, want %s once", got, d)
	}
}

func testWalk(t *testing.T, s blob.Store) {
	if got := walk(t, s); len(got) != 0 {
		t.Errorf("Walk of an empty store = %v", got)
	}
	want := map[digest.Digest]int64{}
	for i, n := range []int{0, 1, 100, 4096, 70000} {
		alg := digest.SHA256
		if i%2 == 1 {
			alg = digest.SHA512
		}
		b := data(uint64(100+i), n)
		want[put(t, s, fmt.Sprintf("walk%d", i), alg, b)] = int64(n)
	}
	// Pending, closed and cancelled uploads are not blobs.
	u := create(t, s, "pending")
	write(t, u, []byte("pending"))
	c := create(t, s, "closed")
	write(t, c, []byte("closed"))
	c.Close()
	x := create(t, s, "cancelled")
	write(t, x, []byte("cancelled"))
	x.Cancel()
	got := walk(t, s)
	if len(got) != len(want) {
		t.Errorf("Walk reported %d blobs, want %d", len(got), len(want))
	}
	for d, n := range want {
		if size, ok := got[d]; !ok || size != n {
			t.Errorf("Walk reported %s with size %d (listed: %v), want %d", d, size, ok, n)
		}
	}
	for d := range got {
		if _, ok := want[d]; !ok {
			t.Errorf("Walk reported %s, which was never committed", d)
		}
	}
	u.Close()
}

func testWalkError(t *testing.T, s blob.Store) {
	for i := range 3 {
		put(t, s, fmt.Sprintf("w%d", i), digest.SHA256, []byte{byte(i)})
	}
	calls := 0
	err := s.Walk(func(digest.Digest, int64) error { calls++; return errStop })
	if !errors.Is(err, errStop) {
		t.Errorf("Walk returned %v, want the error fn returned", err)
	}
	if calls != 1 {
		t.Errorf("Walk called fn %d times after it returned an error, want 1", calls)
	}
}

func testListUploads(t *testing.T, s blob.Store) {
	wantUploads(t, s)
	open := create(t, s, "open")
	write(t, open, []byte("open"))
	closed := create(t, s, "closed")
	write(t, closed, []byte("closed"))
	closed.Close()
	create(t, s, "empty").Close()
	cancelled := create(t, s, "cancelled")
	write(t, cancelled, []byte("x"))
	cancelled.Cancel()
	committed := create(t, s, "committed")
	write(t, committed, []byte("x"))
	commit(t, committed, digest.SHA256.FromString("x"), 1)
	wantUploads(t, s, "closed", "empty", "open")
	open.Close()
}

func testListUploadsError(t *testing.T, s blob.Store) {
	for i := range 3 {
		create(t, s, fmt.Sprintf("u%d", i)).Close()
	}
	calls := 0
	err := s.ListUploads(func(string) error { calls++; return errStop })
	if !errors.Is(err, errStop) {
		t.Errorf("ListUploads returned %v, want the error fn returned", err)
	}
	if calls != 1 {
		t.Errorf("ListUploads called fn %d times after it returned an error, want 1", calls)
	}
}

func testBadIDs(t *testing.T, s blob.Store) {
	for _, id := range []string{
		"",
		"../x",
		"..",
		".",
		"a/b",
		`a\b`,
		"/abs",
		"a b",
		"a.b",
		"a\x00b",
		"é",
		strings.Repeat("a", 129),
		strings.Repeat("x", 200),
	} {
		if u, err := s.CreateUpload(id); !errors.Is(err, blob.ErrBadID) {
			if err == nil {
				u.Cancel()
			}
			t.Errorf("CreateUpload(%.40q) = %v, want blob.ErrBadID", id, err)
		}
		if u, err := s.ResumeUpload(id); !errors.Is(err, blob.ErrNotFound) {
			if err == nil {
				u.Close()
			}
			t.Errorf("ResumeUpload(%.40q) = %v, want blob.ErrNotFound", id, err)
		}
	}
	wantUploads(t, s)
	// The longest and the most varied good ids work.
	good := []string{strings.Repeat("a", 128), "AZaz09-_", "-", "_"}
	for _, id := range good {
		u := create(t, s, id)
		write(t, u, []byte(id))
		u.Close()
	}
	wantUploads(t, s, good...)
	for _, id := range good {
		u := resume(t, s, id)
		commit(t, u, digest.SHA256.FromString(id), len(id))
	}
}

// testConcurrentSame has goroutines upload the same content under their own
// ids while others read the blob: every commit succeeds and every reader that
// finds the blob reads all of it.
func testConcurrentSame(t *testing.T, s blob.Store) {
	const uploaders, readers = 8, 3
	b := data(9, 1<<20+5)
	d := digest.SHA256.FromBytes(b)
	var wg, rwg sync.WaitGroup
	done := make(chan struct{})
	for i := range uploaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := s.CreateUpload(fmt.Sprintf("same%d", i))
			if err != nil {
				t.Errorf("CreateUpload: %v", err)
				return
			}
			for off := 0; off < len(b); off += 100000 {
				if _, err := u.Write(b[off:min(off+100000, len(b))]); err != nil {
					t.Errorf("Write: %v", err)
					u.Cancel()
					return
				}
			}
			if n, err := u.Commit(d); err != nil || n != int64(len(b)) {
				t.Errorf("upload %d: Commit = %d, %v", i, n, err)
			}
		}()
	}
	for range readers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				r, err := s.Open(d)
				if errors.Is(err, blob.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Errorf("Open during commits: %v", err)
					return
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || !bytes.Equal(got, b) {
					t.Errorf("a reader during commits read %d bytes (%v), not the blob", len(got), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	rwg.Wait()
	wantBlob(t, s, d, b)
	if got := walk(t, s); len(got) != 1 || got[d] != int64(len(b)) {
		t.Errorf("Walk = %v, want %s once", got, d)
	}
	wantUploads(t, s)
}

func testConcurrentDifferent(t *testing.T, s blob.Store) {
	const n = 8
	blobs := make([][]byte, n)
	for i := range blobs {
		blobs[i] = data(uint64(200+i), 50000+i)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			alg := digest.SHA256
			if i%2 == 1 {
				alg = digest.SHA512
			}
			u, err := s.CreateUpload(fmt.Sprintf("diff%d", i))
			if err != nil {
				t.Errorf("CreateUpload: %v", err)
				return
			}
			u.Write(blobs[i][:1000])
			u.Close()
			if u, err = s.ResumeUpload(fmt.Sprintf("diff%d", i)); err != nil {
				t.Errorf("ResumeUpload: %v", err)
				return
			}
			u.Write(blobs[i][1000:])
			if _, err := u.Commit(alg.FromBytes(blobs[i])); err != nil {
				t.Errorf("Commit: %v", err)
			}
			// Walk and ListUploads run alongside the others' commits.
			s.Walk(func(digest.Digest, int64) error { return nil })
			s.ListUploads(func(string) error { return nil })
		}()
	}
	wg.Wait()
	for i, b := range blobs {
		alg := digest.SHA256
		if i%2 == 1 {
			alg = digest.SHA512
		}
		wantBlob(t, s, alg.FromBytes(b), b)
	}
	if got := walk(t, s); len(got) != n {
		t.Errorf("Walk reported %d blobs, want %d", len(got), n)
	}
	wantUploads(t, s)
}

func testBlobsSurvive(t *testing.T, s blob.Store, reopen func() blob.Store) {
	b := data(10, 300000)
	d256 := put(t, s, "a", digest.SHA256, b)
	d512 := put(t, s, "b", digest.SHA512, b[:1000])
	empty := put(t, s, "c", digest.SHA256, nil)
	deleted := put(t, s, "d", digest.SHA256, []byte("deleted"))
	if err := s.Delete(deleted); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	wantBlob(t, s, d256, b)
	wantBlob(t, s, d512, b[:1000])
	wantBlob(t, s, empty, nil)
	wantNoBlob(t, s, deleted)
	want := map[digest.Digest]int64{d256: int64(len(b)), d512: 1000, empty: 0}
	if got := walk(t, s); !mapsEqual(got, want) {
		t.Errorf("Walk after reopen = %v, want %v", got, want)
	}
	wantUploads(t, s)
}

func mapsEqual(a, b map[digest.Digest]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testResumeAfterReopen(t *testing.T, s blob.Store, reopen func() blob.Store) {
	b := data(11, 2<<20+9)
	for i := range 2 {
		id := fmt.Sprintf("restart%d", i)
		u := create(t, s, id)
		write(t, u, b[:1<<20])
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s = reopen()
	wantUploads(t, s, "restart0", "restart1")
	for i, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		id := fmt.Sprintf("restart%d", i)
		u := resume(t, s, id)
		if u.Size() != 1<<20 {
			t.Fatalf("Size() after reopen = %d, want %d", u.Size(), 1<<20)
		}
		write(t, u, b[1<<20:])
		if _, err := u.Commit(alg.FromBytes(b[:1<<20])); !errors.Is(err, blob.ErrDigestMismatch) {
			t.Errorf("Commit with the digest of the bytes before the restart = %v, want blob.ErrDigestMismatch", err)
		}
		commit(t, u, alg.FromBytes(b), len(b))
		wantBlob(t, s, alg.FromBytes(b), b)
	}
	wantUploads(t, s)

	// Several restarts in the middle of one upload.
	u := create(t, s, "many")
	write(t, u, b[:10])
	u.Close()
	for _, end := range []int{20, 30} {
		s = reopen()
		u = resume(t, s, "many")
		write(t, u, b[u.Size():end])
		u.Close()
	}
	s = reopen()
	u = resume(t, s, "many")
	commit(t, u, digest.SHA256.FromBytes(b[:30]), 30)
	wantBlob(t, s, digest.SHA256.FromBytes(b[:30]), b[:30])
}

func testTruncateAcrossReopen(t *testing.T, s blob.Store, reopen func() blob.Store) {
	b := data(23, 100000)
	u := create(t, s, "cut")
	write(t, u, b[:60000])
	truncate(t, u, 40000)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	u = resume(t, s, "cut")
	if u.Size() != 40000 {
		t.Fatalf("Size() after reopen = %d, want 40000", u.Size())
	}
	write(t, u, b[40000:])
	commit(t, u, digest.SHA256.FromBytes(b), len(b))
	wantBlob(t, s, digest.SHA256.FromBytes(b), b)
}

func testFinishedStayGone(t *testing.T, s blob.Store, reopen func() blob.Store) {
	c := create(t, s, "cancelled")
	write(t, c, []byte("cancelled"))
	c.Close()
	c = resume(t, s, "cancelled")
	c.Cancel()
	put(t, s, "committed", digest.SHA256, []byte("committed"))
	p := create(t, s, "pending")
	write(t, p, []byte("pending"))
	p.Close()
	s = reopen()
	wantGone(t, s, "cancelled")
	wantGone(t, s, "committed")
	wantUploads(t, s, "pending")
	wantNoBlob(t, s, digest.SHA256.FromString("cancelled"))
}
