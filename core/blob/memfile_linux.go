package blob

import (
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

// open opens a file of the reader's own onto the memory file (its own
// offset, and the bytes kept while it is open even if the blob is deleted).
func (m *memFile) open() (Reader, error) {
	f, err := os.Open("/proc/self/fd/" + strconv.Itoa(m.fd))
	if err != nil {
		return nil, err
	}
	return memFileReader{fileReader{File: f, size: m.size}}, nil
}
