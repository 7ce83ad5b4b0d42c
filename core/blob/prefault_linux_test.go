package blob

import (
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"
)

// A large upload's next bytes land in memory that is already mapped: the
// piece they go to is mapped ahead of them, a window at a time (mapAhead),
// not a page fault per 4 KiB as they arrive.
func TestMemUploadMapsALargePieceAheadOfItsBytes(t *testing.T) {
	debug.FreeOSMemory() // what the heap reuses is unmapped, not resident
	up, err := NewMem().CreateUpload("ahead")
	if err != nil {
		t.Fatal(err)
	}
	u := up.(*memUpload)
	u.n = maxPiece // as if that much were written: the next piece is the largest
	room := u.spare()
	if cap(room) != maxPiece {
		t.Fatalf("spare room %d bytes, want a new piece of %d", cap(room), maxPiece)
	}
	ahead := room[:mapAheadBy] // page-aligned: a large allocation starts a page
	vec := make([]byte, len(ahead)/pageSize)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, addr(ahead), uintptr(len(ahead)), addr(vec)); errno != 0 {
		t.Fatal(errno)
	}
	for i, v := range vec {
		if v&1 == 0 {
			t.Fatalf("page %d of the %d bytes ahead of the upload is not mapped", i, len(ahead))
		}
	}
}
