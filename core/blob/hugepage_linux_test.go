package blob

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// A large upload piece asks the kernel for huge pages before it is written:
// its bytes are then faulted in 2 MiB at a time, not 4 KiB.
func TestMemUploadAsksForHugePagesForALargePiece(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		t.Skip("no transparent huge pages in this kernel:", err)
	}
	up, err := NewMem().CreateUpload("huge")
	if err != nil {
		t.Fatal(err)
	}
	u := up.(*memUpload)
	u.n = maxPiece // as if that much were written: the next piece is the largest
	room := u.spare()
	if cap(room) != maxPiece {
		t.Fatalf("spare room %d bytes, want a new piece of %d", cap(room), maxPiece)
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(room)))
	inner := (p + hugePage - 1) &^ (hugePage - 1) // the first huge page wholly in it
	flags := vmFlags(t, inner)
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("the mapping at %#x (a piece at %#x) has VmFlags %q, want hg (MADV_HUGEPAGE)", inner, p, flags)
	}
}

// vmFlags returns the VmFlags line of /proc/self/smaps for the mapping that
// holds addr.
func vmFlags(t *testing.T, addr uintptr) string {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var from, to uintptr
		if first, _, _ := strings.Cut(line, " "); !strings.HasSuffix(first, ":") {
			// A mapping's first line: its address range, then more.
			fmt.Sscanf(first, "%x-%x", &from, &to)
			in = from <= addr && addr < to
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}
