package blob

import (
	"io"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// writeMapped writes n bytes of f, from its current offset, to w from a
// read-only mapping of the file, a window at a time, each in one Write.
// Why: on loopback (berth's usual client is on the same machine) a large
// blob went out at about half the rate an in-memory one does, with
// sendfile(2) or a read/write copy alike; written from a mapping, the
// kernel copies it once, straight from the page cache, as from memory.
// ok is false, with nothing written, when f cannot be mapped.
func writeMapped(w io.Writer, f *os.File, n int64) (written int64, err error, ok bool) {
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, nil, false
	}
	// A fault reading the mapping (the file cut short under berth, which
	// never does that to a stored blob) fails this request, not the server.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	page := int64(os.Getpagesize())
	for n > 0 {
		start := off &^ (page - 1)
		length := min(n+off-start, mapWindow)
		m, merr := unix.Mmap(int(f.Fd()), start, int(length), unix.PROT_READ, unix.MAP_SHARED)
		if merr != nil {
			if written == 0 {
				return 0, nil, false
			}
			return written, merr, true
		}
		unix.Madvise(m, unix.MADV_SEQUENTIAL)
		k, werr := w.Write(m[off-start:])
		unix.Munmap(m)
		written += int64(k)
		off += int64(k)
		n -= int64(k)
		if werr != nil {
			return written, werr, true
		}
	}
	// Later reads of f (there are none for a response) start where this ended.
	_, err = f.Seek(off, io.SeekStart)
	return written, err, true
}
