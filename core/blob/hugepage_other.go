//go:build !linux

package blob

// adviseHuge is a no-op where madvise's MADV_HUGEPAGE does not exist.
func adviseHuge(b []byte) {}
