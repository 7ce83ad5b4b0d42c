package blob

import (
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func newMemFile() (*os.File, int, error) {
	fd, err := unix.MemfdCreate("berth-blob", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, 0, err
	}
	return os.NewFile(uintptr(fd), "berth-blob"), fd, nil
}

// procSelfFD is where a process finds its own descriptors (a variable for
// the test of a system without /proc).
var procSelfFD = "/proc/self/fd/"

// open opens a file of the reader's own onto the memory file (its own
// offset, and the bytes kept while it is open even if the blob is deleted).
// Where /proc is hidden (some sandboxes) it reads a duplicate of the
// descriptor instead, which also keeps the bytes but shares the store's
// file offset: so by offset (pread), without sendfile.
func (m *memFile) open() (Reader, error) {
	f, err := os.Open(procSelfFD + strconv.Itoa(m.fd))
	if err == nil {
		return memFileReader{fileReader{File: f, size: m.size}}, nil
	}
	fd, derr := unix.FcntlInt(uintptr(m.fd), unix.F_DUPFD_CLOEXEC, 0)
	if derr != nil {
		return nil, err
	}
	dup := os.NewFile(uintptr(fd), "berth-blob")
	return memFileSection{io.NewSectionReader(dup, 0, m.size), dup}, nil
}

// memFileSection reads a memory file through a duplicate descriptor, by
// offset.
type memFileSection struct {
	*io.SectionReader
	f *os.File
}

func (r memFileSection) Close() error { return r.f.Close() }
