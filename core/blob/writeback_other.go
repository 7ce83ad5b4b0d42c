//go:build !linux

package blob

import "os"

// startWriteback is a no-op where sync_file_range does not exist: the
// commit's sync writes everything.
func startWriteback(f *os.File, off, n int64) {}
