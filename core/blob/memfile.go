package blob

import (
	"io"
	"os"
	"sync"
)

// A large upload to the memory store goes to an anonymous memory file
// (memfd), not to pieces of the Go heap. Fresh heap memory is zeroed by the
// kernel and faulted in as it is first written, and under a hypervisor that
// is dear: 4 concurrent 100 MiB pushes took 3.4-3.7 s of server CPU, most of
// it page faults and zeroing, where durable berth, writing files, took about
// 1 s. A write to a memory file copies into pages the kernel neither zeroes
// first nor maps into the process (a Go loop: 400 MiB hashed and stored in
// 0.45-0.54 s of CPU against 1.9-2.2 s into new heap pieces). A blob read
// from one is served like a file (sendfile, or a mapping).

// memFileAt is the upload size from which its bytes go to a memory file:
// below it, pieces of the heap (most blobs are a few hundred bytes, and a
// file costs system calls and a descriptor).
const memFileAt = 4 << 20

// memFile is a committed blob's memory file. The store owns f and closes it
// when the blob is deleted; a reader opens a file of its own onto it (open),
// so that the bytes stay until the last reader is done.
type memFile struct {
	f    *os.File
	fd   int
	size int64
}

// memFileReader reads a memory file: a file, which ServeContent sends with
// sendfile.
type memFileReader struct{ fileReader }

// fileReadBufs are the buffers an upload reads its body through into its
// memory file.
var fileReadBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// spill moves the upload's bytes into a new memory file, from which on it
// writes there; where none can be made it keeps to pieces.
func (u *memUpload) spill() {
	f, fd, err := newMemFile()
	if err == nil {
		for _, b := range u.p {
			if _, err = f.Write(b); err != nil {
				break
			}
		}
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		u.noFile = true
		return
	}
	clear(u.p)
	u.file, u.fd, u.p = f, fd, nil
}

// wantsFile reports whether the upload should go to a memory file now.
func (u *memUpload) wantsFile() bool {
	return u.file == nil && !u.noFile && u.n >= memFileAt
}

// appendFile writes b at the end of the upload's memory file and hashes it.
// A failed write leaves the upload as it was.
func (u *memUpload) appendFile(b []byte) error {
	if _, err := u.file.WriteAt(b, u.n); err != nil {
		u.file.Truncate(u.n)
		return err
	}
	u.h.Write(b)
	u.n += int64(len(b))
	return nil
}

// readFile reads r to its end into the upload's memory file, through a
// buffer that stays in the CPU's cache between the read, the hash and the
// write.
func (u *memUpload) readFile(r io.Reader) (int64, error) {
	bp := fileReadBufs.Get().(*[]byte)
	defer fileReadBufs.Put(bp)
	var n int64
	for {
		k, err := r.Read(*bp)
		if k > 0 {
			if werr := u.appendFile((*bp)[:k]); werr != nil {
				return n, werr
			}
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
