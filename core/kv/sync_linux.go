package kv

import (
	"os"
	"syscall"
)

// fdatasync syncs f's data and what is needed to read it back (its size),
// not its timestamps.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
