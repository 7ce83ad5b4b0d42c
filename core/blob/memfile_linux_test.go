package blob

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(b)
	return b
}

func pushMem(t *testing.T, s *Mem, id string, data []byte) digest.Digest {
	t.Helper()
	up, err := s.CreateUpload(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.(io.ReaderFrom).ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(data)
	if _, err := up.Commit(d); err != nil {
		t.Fatal(err)
	}
	return d
}

// A large blob's bytes are kept in a memory file, not in the Go heap: the
// kernel then need not zero fresh heap pages and fault them in one by one
// as the upload writes them (memfile.go).
func TestMemLargeUploadKeepsItsBytesOutOfTheHeap(t *testing.T) {
	data := randomBytes(64 << 20)
	s := NewMem()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := pushMem(t, s, "big", data)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Errorf("the heap grew by %d bytes for a blob of %d", grew, len(data))
	}
	r, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(r); !bytes.Equal(got, data) {
		t.Fatal("the blob read back differs")
	}
	runtime.KeepAlive(s)
}

// A reader opened before its large blob was deleted reads it to the end: it
// holds the memory file open.
func TestMemLargeBlobStaysReadableByAReaderOpenedBeforeItsDelete(t *testing.T) {
	data := randomBytes(memFileAt + 12345)
	s := NewMem()
	d := pushMem(t, s, "big", data)
	r, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := s.Delete(d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(d); err != ErrNotFound {
		t.Fatalf("Open after Delete: %v, want ErrNotFound", err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, data) {
		t.Fatal("the blob read after its delete differs")
	}
}

// A large blob is served like a file: ranges, whole, from a memory file.
func TestMemLargeBlobServesRanges(t *testing.T) {
	data := randomBytes(memFileAt + 777)
	s := NewMem()
	d := pushMem(t, s, "big", data)
	for _, c := range []struct {
		rng    string
		status int
		want   []byte
	}{
		{"", http.StatusOK, data},
		{"bytes=10-19", http.StatusPartialContent, data[10:20]},
		{"bytes=-5", http.StatusPartialContent, data[len(data)-5:]},
	} {
		r, err := s.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		rec := httptest.NewRecorder()
		ServeContent(rec, req, r)
		r.Close()
		if rec.Code != c.status || !bytes.Equal(rec.Body.Bytes(), c.want) {
			t.Errorf("Range %q: %d, %d bytes; want %d, %d bytes", c.rng, rec.Code, rec.Body.Len(), c.status, len(c.want))
		}
	}
}

// An upload that ends, whichever way, leaves no memory file open but its
// blob's, and a deleted blob's goes once its readers are closed.
func TestMemLargeUploadsLeaveNoFileOpen(t *testing.T) {
	// The memory files open, by inode: earlier tests' stores may have theirs
	// closed by the collector meanwhile, never opened.
	memFiles := func() map[uint64]bool {
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip(err)
		}
		m := map[uint64]bool{}
		for _, f := range fds {
			p := "/proc/self/fd/" + f.Name()
			l, _ := os.Readlink(p)
			if fi, err := os.Stat(p); err == nil && strings.HasPrefix(l, "/memfd:berth-blob") {
				m[fi.Sys().(*syscall.Stat_t).Ino] = true
			}
		}
		return m
	}
	opened := func(before map[uint64]bool) int {
		n := 0
		for ino := range memFiles() {
			if !before[ino] {
				n++
			}
		}
		return n
	}
	data := randomBytes(memFileAt + 1)
	s := NewMem()
	before := memFiles()

	up, err := s.CreateUpload("cancelled")
	if err != nil {
		t.Fatal(err)
	}
	up.Write(data)
	up.Cancel()

	d := pushMem(t, s, "first", data)
	pushMem(t, s, "again", data) // the same blob: already stored
	if n := opened(before); n != 1 {
		t.Errorf("%d memory files opened for one large blob, want 1", n)
	}
	r, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	s.Delete(d)
	r.Close()
	if n := opened(before); n != 0 {
		t.Errorf("%d memory files open after its delete, want 0", n)
	}
}

// Where /proc is hidden, a large blob is still served, whole and by range,
// and a reader opened before its delete still reads it to the end.
func TestMemLargeBlobIsReadableWithoutProc(t *testing.T) {
	defer func(p string) { procSelfFD = p }(procSelfFD)
	procSelfFD = t.TempDir() + "/no-proc/"
	data := randomBytes(memFileAt + 4321)
	s := NewMem()
	d := pushMem(t, s, "big", data)

	r, err := s.Open(d)
	if err != nil {
		t.Fatalf("Open without /proc: %v", err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Range", "bytes=100-199")
	rec := httptest.NewRecorder()
	ServeContent(rec, req, r)
	r.Close()
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), data[100:200]) {
		t.Fatalf("Range without /proc: %d, %d bytes", rec.Code, rec.Body.Len())
	}

	r, err = s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := s.Delete(d); err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, data) {
		t.Fatal("the blob read without /proc after its delete differs")
	}
}
