package blob_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/blob/blobtest"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

func TestMem(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return blob.NewMem() })
}

func TestFS(t *testing.T) {
	blobtest.RunPersistent(t, func(t *testing.T) (blob.Store, func() blob.Store) {
		root := t.TempDir()
		open := func() blob.Store {
			s, err := blob.NewFS(root)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return open(), open
	})
}

func newFS(t *testing.T) (*blob.FS, string) {
	t.Helper()
	root := t.TempDir()
	s, err := blob.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func store(t *testing.T, s blob.Store, id string, b []byte) digest.Digest {
	t.Helper()
	u, err := s.CreateUpload(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(b); err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(b)
	if _, err := u.Commit(d); err != nil {
		t.Fatal(err)
	}
	return d
}

// An FS blob reads through its *os.File, so net/http can use sendfile; a Mem
// blob is its own ReadSeeker.
func TestSeekerSendfile(t *testing.T) {
	fs, _ := newFS(t)
	d := store(t, fs, "f", []byte("file bytes"))
	r, err := fs.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, ok := blob.Seeker(r).(*os.File)
	if !ok {
		t.Fatalf("Seeker of an FS blob is a %T, want *os.File", blob.Seeker(r))
	}
	if got, _ := io.ReadAll(f); string(got) != "file bytes" {
		t.Errorf("the *os.File reads %q", got)
	}

	mem := blob.NewMem()
	d = store(t, mem, "m", []byte("memory bytes"))
	mr, err := mem.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	if s := blob.Seeker(mr); s != io.ReadSeeker(mr) {
		t.Errorf("Seeker of a Mem blob is %T, want the Reader itself", s)
	}
}

// FS writes an upload to uploads/<id> and renames it, verified, to
// blobs/<algorithm>/<first two hex>/<hex>: a blob path never holds a partial
// blob, and a failed commit leaves nothing under blobs/.
func TestFSLayoutAndRename(t *testing.T) {
	s, root := newFS(t)
	b := []byte("laid out on disk")
	d := digest.SHA512.FromBytes(b)
	u, err := s.CreateUpload("layout")
	if err != nil {
		t.Fatal(err)
	}
	u.Write(b)
	upPath := filepath.Join(root, "uploads", "layout")
	if got, err := os.ReadFile(upPath); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("upload file = %q, %v", got, err)
	}
	if _, err := u.Commit(digest.SHA512.FromString("wrong")); err == nil {
		t.Fatal("Commit with a wrong digest succeeded")
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "blobs")); len(entries) != 0 {
		t.Errorf("a failed commit left %d entries under blobs/", len(entries))
	}
	if _, err := u.Commit(d); err != nil {
		t.Fatal(err)
	}
	blobPath := filepath.Join(root, "blobs", "sha512", d.Encoded()[:2], d.Encoded())
	if got, err := os.ReadFile(blobPath); err != nil || !bytes.Equal(got, b) {
		t.Errorf("blob file = %q, %v", got, err)
	}
	if _, err := os.Stat(upPath); !os.IsNotExist(err) {
		t.Errorf("the upload file is still there after Commit: %v", err)
	}

	// Committing content that is already stored drops the upload's file and
	// keeps the stored one.
	before, _ := os.Stat(blobPath)
	u, _ = s.CreateUpload("again")
	u.Write(b)
	if _, err := u.Commit(d); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(blobPath)
	if !os.SameFile(before, after) {
		t.Error("a second commit of the same content replaced the stored file")
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "uploads")); len(entries) != 0 {
		t.Errorf("uploads/ holds %d entries after the commits", len(entries))
	}
}

// Files FS did not put there are not blobs or uploads.
func TestFSIgnoresStrayFiles(t *testing.T) {
	s, root := newFS(t)
	d := store(t, s, "real", []byte("real"))
	os.WriteFile(filepath.Join(root, "blobs", "sha256", "stray.tmp"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(root, "blobs", "md5", "ab"), 0o755)
	os.WriteFile(filepath.Join(root, "blobs", "md5", "ab", "abcdef"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(root, "uploads", ".hidden"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(root, "uploads", "has.dot"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(root, "uploads", "ok-id"), []byte("x"), 0o644)
	var blobs []digest.Digest
	s.Walk(func(d digest.Digest, _ int64) error { blobs = append(blobs, d); return nil })
	if len(blobs) != 1 || blobs[0] != d {
		t.Errorf("Walk = %v, want only %s", blobs, d)
	}
	var ids []string
	s.ListUploads(func(id string) error { ids = append(ids, id); return nil })
	if len(ids) != 1 || ids[0] != "ok-id" {
		t.Errorf("ListUploads = %q, want only the well-named file", ids)
	}
}

// closeWith writes b to a new FS upload and closes it, returning the paths
// of its file and of the state Close saves beside it.
func closeWith(t *testing.T, s *blob.FS, root, id string, b []byte) (file, state string) {
	t.Helper()
	u, err := s.CreateUpload(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(root, "uploads", id)
	return file, file + ".state"
}

// resumeAndCommit resumes id, checks its size, appends more and commits
// under the sha256 of want.
func resumeAndCommit(t *testing.T, s *blob.FS, id string, size int, more, want []byte) {
	t.Helper()
	u, err := s.ResumeUpload(id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Size() != int64(size) {
		t.Fatalf("resumed Size() = %d, want %d", u.Size(), size)
	}
	if _, err := u.Write(more); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(digest.FromBytes(want)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// A closed FS upload resumes from the hash state Close saved beside it and
// does not reread its bytes: here they were changed behind its back, and
// the upload still commits under the digest of what it was sent.
func TestFSResumeDoesNotRereadClosedUpload(t *testing.T) {
	s, root := newFS(t)
	sent := []byte("bytes sent before the upload was closed")
	file, _ := closeWith(t, s, root, "saved", sent)
	if err := os.WriteFile(file, bytes.Repeat([]byte("x"), len(sent)), 0o644); err != nil {
		t.Fatal(err)
	}
	resumeAndCommit(t, s, "saved", len(sent), []byte(", and after"), append(sent, ", and after"...))
	if entries, _ := os.ReadDir(filepath.Join(root, "uploads")); len(entries) != 0 {
		t.Errorf("uploads/ holds %d entries after the commit, want none (no state left behind)", len(entries))
	}
}

// Without a sound state the whole file is hashed (no state, a damaged one,
// one that covers more than the file holds: bytes lost in a crash). Bytes
// after a sound state are cut off: a crash interrupted the chunk they belong
// to, which was never acknowledged, and the upload goes on from the state.
func TestFSResumeHashesWhatTheStateDoesNotCover(t *testing.T) {
	sent := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	appendTo := func(file, tail string) {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(tail))
		f.Close()
	}
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, file, state string)
		size   int // of the file after damage
		kept   int // of the upload once resumed
	}{
		{"no state", func(t *testing.T, file, state string) { os.Remove(state) }, len(sent), len(sent)},
		{"damaged state", func(t *testing.T, file, state string) {
			b, err := os.ReadFile(state)
			if err != nil {
				t.Fatal("Close saved no state:", err)
			}
			b[len(b)/2] ^= 0xff
			os.WriteFile(state, b, 0o644)
		}, len(sent), len(sent)},
		{"truncated state", func(t *testing.T, file, state string) {
			b, err := os.ReadFile(state)
			if err != nil {
				t.Fatal("Close saved no state:", err)
			}
			os.WriteFile(state, b[:len(b)/2], 0o644)
		}, len(sent), len(sent)},
		{"bytes after the state", func(t *testing.T, file, state string) { appendTo(file, "+tail") }, len(sent) + len("+tail"), len(sent)},
		{"file shorter than the state", func(t *testing.T, file, state string) { os.Truncate(file, 10) }, 10, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, root := newFS(t)
			file, state := closeWith(t, s, root, "u", sent)
			c.damage(t, file, state)
			now, err := os.ReadFile(file)
			if err != nil || len(now) != c.size {
				t.Fatalf("the file has %d bytes (%v), want %d", len(now), err, c.size)
			}
			resumeAndCommit(t, s, "u", c.kept, []byte("!"), append(now[:c.kept:c.kept], '!'))
		})
	}
}

// A crash during an upload's first chunk leaves none of it: a new upload,
// once closed, has a state of no bytes.
func TestFSResumeCutsOffAFirstChunkACrashInterrupted(t *testing.T) {
	s, root := newFS(t)
	file, _ := closeWith(t, s, root, "u", nil)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half a chunk"))
	f.Close()
	resumeAndCommit(t, s, "u", 0, []byte("the chunk, sent again"), []byte("the chunk, sent again"))
}

// Both stores' uploads tell the sha256 of what was written so far, across a
// resume, without committing it.
func TestUploadsTellTheirSHA256(t *testing.T) {
	fs, _ := newFS(t)
	for name, s := range map[string]blob.Store{"mem": blob.NewMem(), "fs": fs} {
		up, err := s.CreateUpload("sum-" + name)
		if err != nil {
			t.Fatal(err)
		}
		up.Write([]byte("hello, "))
		up.Close()
		if up, err = s.ResumeUpload("sum-" + name); err != nil {
			t.Fatal(err)
		}
		up.Write([]byte("world"))
		su, ok := up.(blob.SHA256Upload)
		if !ok {
			t.Fatalf("%s: the upload does not keep its sha256", name)
		}
		if got := su.SHA256(); got != digest.FromString("hello, world") {
			t.Fatalf("%s: SHA256 = %s", name, got)
		}
		if _, err := s.Stat(digest.FromString("hello, world")); err == nil {
			t.Fatalf("%s: SHA256 committed the upload", name)
		}
		if _, err := up.Commit(digest.FromString("hello, world")); err != nil {
			t.Fatalf("%s: Commit after SHA256: %v", name, err)
		}
	}
}

func TestInlineOverFS(t *testing.T) {
	blobtest.RunPersistent(t, func(t *testing.T) (blob.Store, func() blob.Store) {
		root := t.TempDir()
		meta, err := kv.OpenBolt(filepath.Join(root, "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { meta.Close() })
		open := func() blob.Store {
			s, err := blob.NewFS(filepath.Join(root, "data"))
			if err != nil {
				t.Fatal(err)
			}
			// 64 KiB: the suite's blobs of 10 and 50 kB go inline, its larger ones to files.
			return blob.NewInline(s, meta, "inline", 64<<10)
		}
		return open(), open
	})
}

func TestInlineOverMem(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return blob.NewInline(blob.NewMem(), kv.NewMem(), "inline", 100) })
}

// BenchmarkFSLargeUpload pushes a 64 MiB blob through an FS upload (ReadFrom
// from a reader handing out 256 KiB at a time, as a socket does) and commits
// it: hashing, writing and the commit's sync.
//
//	go test ./core/blob -run '^$' -bench FSLargeUpload -benchtime 5x -count 5
func BenchmarkFSLargeUpload(b *testing.B) {
	const size = 64 << 20
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i * 7 / 5)
	}
	d := digest.FromBytes(content)
	s, _ := newFSForBench(b)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u, err := s.CreateUpload("large")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(u, &pieces{b: content, n: 256 << 10}); err != nil {
			b.Fatal(err)
		}
		if _, err := u.Commit(d); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Delete(d); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// pieces reads b at most n bytes at a time.
type pieces struct {
	b []byte
	n int
}

func (p *pieces) Read(q []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(q), p.n, len(p.b))
	copy(q, p.b[:k])
	p.b = p.b[k:]
	return k, nil
}

func newFSForBench(b *testing.B) (*blob.FS, string) {
	root := b.TempDir()
	s, err := blob.NewFS(root)
	if err != nil {
		b.Fatal(err)
	}
	return s, root
}

// Inline keeps a blob of at most its size in the metadata store and no file
// for it; a larger one is a file. Both read, list and delete the same way.
func TestInlineKeepsSmallBlobsOutOfFiles(t *testing.T) {
	root := t.TempDir()
	meta, err := kv.OpenBolt(filepath.Join(root, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	fs, err := blob.NewFS(filepath.Join(root, "data"))
	if err != nil {
		t.Fatal(err)
	}
	s := blob.NewInline(fs, meta, "inline", 16)
	small, large := []byte("sixteen bytes..."), []byte("seventeen bytes..")
	ds, dl := store(t, s, "a", small), store(t, s, "b", large)
	if _, err := fs.Stat(ds); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("the small blob has a file: %v", err)
	}
	if _, err := fs.Stat(dl); err != nil {
		t.Errorf("the large blob has no file: %v", err)
	}
	for d, want := range map[digest.Digest][]byte{ds: small, dl: large} {
		rd, err := s.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rd)
		rd.Close()
		if !bytes.Equal(got, want) || rd.Size() != int64(len(want)) {
			t.Errorf("%s reads %q (size %d), want %q", d, got, rd.Size(), want)
		}
		if n, err := s.Stat(d); err != nil || n != int64(len(want)) {
			t.Errorf("Stat(%s) = %d, %v", d, n, err)
		}
	}
	walked := map[digest.Digest]int64{}
	s.Walk(func(d digest.Digest, n int64) error { walked[d] = n; return nil })
	if len(walked) != 2 || walked[ds] != 16 || walked[dl] != 17 {
		t.Errorf("Walk = %v", walked)
	}
	uploads := 0
	s.ListUploads(func(string) error { uploads++; return nil })
	if uploads != 0 {
		t.Errorf("%d uploads left after the commits", uploads)
	}
	// DeleteMany keeps what keep says to, and deletes the rest of both kinds.
	deleted, err := s.DeleteMany([]digest.Digest{ds, dl}, func(_ kv.Tx, d digest.Digest) (bool, error) { return d == dl, nil })
	if err != nil || len(deleted) != 1 || deleted[0] != ds {
		t.Fatalf("DeleteMany = %v, %v; want only the small blob", deleted, err)
	}
	if _, err := s.Stat(ds); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("the deleted small blob: %v", err)
	}
	if err := s.Delete(dl); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(dl); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("the deleted large blob: %v", err)
	}
}

// Take leaves an upload whose bytes do not match the digest as it was, and
// does not take a blob the inner store already has as a file.
func TestInlineTakeRefusesMismatchAndStoredFiles(t *testing.T) {
	fs := blob.NewMem()
	s := blob.NewInline(fs, kv.NewMem(), "inline", 64)
	up, err := s.CreateUpload("u")
	if err != nil {
		t.Fatal(err)
	}
	up.Write([]byte("content"))
	if _, ok, err := s.Take(up, digest.FromString("other")); !errors.Is(err, blob.ErrDigestMismatch) || ok {
		t.Fatalf("Take with a wrong digest = %v, %v", ok, err)
	}
	if up.Size() != 7 {
		t.Fatalf("the refused upload has %d bytes", up.Size())
	}
	data, ok, err := s.Take(up, digest.FromString("content"))
	if err != nil || !ok || string(data) != "content" {
		t.Fatalf("Take = %q, %v, %v", data, ok, err)
	}
	store(t, fs, "f", []byte("as a file"))
	up2, _ := s.CreateUpload("u2")
	up2.Write([]byte("as a file"))
	if _, ok, err := s.Take(up2, digest.FromString("as a file")); err != nil || ok {
		t.Fatalf("Take of a blob stored as a file = %v, %v; want the usual commit", ok, err)
	}
}

// A crash during an upload's first chunk — bytes written, no Close yet, as
// when core writes a session's first bytes at once — leaves none of them:
// they were never acknowledged.
func TestFSCrashDuringFirstChunkKeepsNoBytes(t *testing.T) {
	s, root := newFS(t)
	u, err := s.CreateUpload("first")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write([]byte("never acknowledged")); err != nil {
		t.Fatal(err)
	}
	// The process dies here: no Close. Another store on the same files:
	again, err := blob.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	r, err := again.ResumeUpload("first")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != 0 {
		t.Fatalf("the resumed upload has %d bytes, want none", r.Size())
	}
}

// A Mem upload larger than a piece (written by Write and ReadFrom in uneven
// sizes, cut back across piece boundaries, resumed) commits the bytes it was
// left with, and its blob reads back whole, from any offset, by Read, Seek
// and WriteTo.
func TestMemBlobAcrossPieces(t *testing.T) {
	mem := blob.NewMem()
	up, err := mem.CreateUpload("pieces")
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	next := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(len(want) + i*31)
		}
		return b
	}
	for i, n := range []int{1, 511, 700, 5000, 3 << 20, 123457, 9 << 20} {
		b := next(n)
		if i%2 == 0 {
			_, err = up.Write(b)
		} else {
			_, err = up.(io.ReaderFrom).ReadFrom(iotest.HalfReader(bytes.NewReader(b)))
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
	}
	// Cut back into an earlier piece, then write on; resume, write, cut back
	// to the resumption point, and before it.
	for _, cut := range []int{len(want) - 100, 5000, 3<<20 + 17} {
		if cut < len(want) {
			if err := up.Truncate(int64(cut)); err != nil {
				t.Fatal(err)
			}
			want = want[:cut]
		}
		b := next(1 << 20)
		up.Write(b)
		want = append(want, b...)
	}
	b := next(5 << 20)
	up.(io.ReaderFrom).ReadFrom(bytes.NewReader(b))
	want = append(want, b...)
	up.Close()
	if up, err = mem.ResumeUpload("pieces"); err != nil {
		t.Fatal(err)
	}
	up.Write(next(777))
	if err := up.Truncate(int64(len(want))); err != nil {
		t.Fatal(err)
	}
	if err := up.Truncate(int64(len(want) - 1<<20 - 3)); err != nil {
		t.Fatal(err)
	}
	want = want[:len(want)-1<<20-3]
	if up.Size() != int64(len(want)) {
		t.Fatalf("size %d, want %d", up.Size(), len(want))
	}
	if got := up.(blob.SHA256Upload).SHA256(); got != digest.FromBytes(want) {
		t.Fatalf("running sha256 %s, want %s", got, digest.FromBytes(want))
	}
	if _, err := up.Commit(digest.SHA512.FromBytes(want)); err != nil {
		t.Fatalf("commit by sha512: %v", err)
	}
	d := digest.SHA512.FromBytes(want)
	if n, err := mem.Stat(d); err != nil || n != int64(len(want)) {
		t.Fatalf("Stat: %d %v", n, err)
	}
	r, err := mem.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(iotest.OneByteReader(io.LimitReader(r, 3000))); !bytes.Equal(got, want[:3000]) {
		t.Fatal("the first bytes, one at a time, differ")
	}
	for _, off := range []int64{0, 1, 511, 512, 1023, 4 << 20, int64(len(want)) - 1, int64(len(want))} {
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := r.(io.WriterTo).WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), want[off:]) {
			t.Fatalf("WriteTo from %d: %d bytes, %v", off, buf.Len(), err)
		}
		if _, err := r.Seek(off-int64(len(want)), io.SeekEnd); err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, want[off:]) {
			t.Fatalf("Read from %d: %d bytes, %v", off, len(got), err)
		}
	}
	r.Seek(0, io.SeekStart)
	if err := iotest.TestReader(struct{ io.ReadSeeker }{r}, want); err != nil {
		t.Fatal(err)
	}
}

// writeLog is a ResponseWriter that keeps the body and the largest single
// Write: a file written from a mapping arrives a window at a time.
type writeLog struct {
	h        http.Header
	status   int
	body     bytes.Buffer
	largestW int
	writes   int
}

func (w *writeLog) Header() http.Header { return w.h }
func (w *writeLog) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *writeLog) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.largestW = max(w.largestW, len(p))
	w.writes++
	return w.body.Write(p)
}

// A large file blob is written from a mapping of the file, a window at a
// time, byte for byte what the file holds, from any offset a range asks for;
// what a mapping does not serve (several ranges) is copied as before.
func TestServeContentWritesALargeFileFromAMapping(t *testing.T) {
	old := *blob.MapWindow
	*blob.MapWindow = 1 << 20
	defer func() { *blob.MapWindow = old }()
	data := make([]byte, 3<<20+1234)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	fs, _ := newFS(t)
	d := store(t, fs, "big", data)
	for _, c := range []struct {
		rng        string
		status     int
		want       []byte
		mappedOnce bool // at least one Write of a whole window
	}{
		{"", http.StatusOK, data, true},
		{"bytes=5000-2200000", http.StatusPartialContent, data[5000:2200001], true},
		{"bytes=1048577-", http.StatusPartialContent, data[1048577:], true},
		{"bytes=-100", http.StatusPartialContent, data[len(data)-100:], false},
		{"bytes=0-10,2000000-2000010", http.StatusPartialContent, nil, false},
	} {
		rd, err := fs.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/blob", nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		w := &writeLog{h: http.Header{}}
		blob.ServeContent(w, req, rd)
		rd.Close()
		if w.status != c.status {
			t.Fatalf("%q: status %d, want %d", c.rng, w.status, c.status)
		}
		if c.want != nil && !bytes.Equal(w.body.Bytes(), c.want) {
			t.Fatalf("%q: body of %d bytes differs from the %d wanted", c.rng, w.body.Len(), len(c.want))
		}
		if c.want == nil && (!bytes.Contains(w.body.Bytes(), data[0:11]) || !bytes.Contains(w.body.Bytes(), data[2000000:2000011])) {
			t.Fatalf("%q: the multipart body lacks a part", c.rng)
		}
		if mapped := w.largestW >= 1<<20; mapped != c.mappedOnce && runtime.GOOS == "linux" {
			t.Errorf("%q: largest write %d bytes: mapped %v, want %v", c.rng, w.largestW, mapped, c.mappedOnce)
		}
	}
}

// An in-memory blob's bytes (a reader that tells its Len and writes itself,
// as a bytes.Reader or a Mem blob's) reach the response in one Write when the
// copy wants all of them, and a range of them exactly, through the writer's
// own copy otherwise.
func TestInMemoryBlobsAreWrittenWhole(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	for _, c := range []struct {
		limit      int64
		whole      bool
		wantWrites int
	}{{int64(len(data)), true, 1}, {int64(len(data)) + 5, true, 1}, {1000, false, 0}} {
		w := &writeLog{h: http.Header{}}
		n, err := blob.DirectWrites(w).ReadFrom(&io.LimitedReader{R: bytes.NewReader(data), N: c.limit})
		want := min(c.limit, int64(len(data)))
		if err != nil || n != want || !bytes.Equal(w.body.Bytes(), data[:want]) {
			t.Fatalf("limit %d: copied %d (%v), body of %d bytes; want %d", c.limit, n, err, w.body.Len(), want)
		}
		if c.whole && w.writes != c.wantWrites {
			t.Errorf("limit %d: %d writes, want %d", c.limit, w.writes, c.wantWrites)
		}
	}
}

// The bucket may hold other records than blobs (core keeps a blob's
// references beside its bytes): Walk lists only the keys that are digests.
func TestInlineWalkListsOnlyDigestKeys(t *testing.T) {
	meta := kv.NewMem()
	s := blob.NewInline(blob.NewMem(), meta, "shared", 64)
	d := store(t, s, "a", []byte("small"))
	ref := []byte(string(d) + "\x00000000000000\x00us-east-1\x00app")
	if err := meta.Update(func(tx kv.Tx) error { return tx.Put("shared", ref, nil) }); err != nil {
		t.Fatal(err)
	}
	walked := map[digest.Digest]int64{}
	s.Walk(func(d digest.Digest, n int64) error { walked[d] = n; return nil })
	if len(walked) != 1 || walked[d] != 5 {
		t.Errorf("Walk = %v, want only %s", walked, d)
	}
}
