package blob

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// now, without waiting for it: the sync at the end of a large upload then
// finds most of it written, instead of writing it all while the client waits.
// (Linux's sync_file_range, SYNC_FILE_RANGE_WRITE: no durability promise of
// its own; the commit's fsync still makes it durable.)
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
