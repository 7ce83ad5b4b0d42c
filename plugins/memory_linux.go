package plugins

import (
	"context"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// withLinearMemory makes an instance's linear memory one reservation of its whole bound: growing
// it is then free (the kernel backs pages when they are first touched), where wazero's default
// appends to a Go slice and copies every byte so far on each grow. A Go plugin grows its memory
// many times as its heap grows, each copy costing more than the last.
func withLinearMemory(ctx context.Context) context.Context {
	return experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(mapLinearMemory))
}

func mapLinearMemory(capacity, max uint64) experimental.LinearMemory {
	if max > 0 && max <= 1<<32 {
		b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
		if err == nil {
			return &mappedMemory{buf: b}
		}
	}
	return &sliceMemory{buf: make([]byte, 0, capacity), max: max}
}

// mappedMemory is a reservation of the memory's bound, handed out a length at a time.
type mappedMemory struct{ buf []byte }

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil // past the bound: the grow fails, as memory.grow is specified to
	}
	return m.buf[:size:len(m.buf)]
}

func (m *mappedMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}

// sliceMemory is wazero's own way, for when the reservation cannot be made.
type sliceMemory struct {
	buf []byte
	max uint64
}

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size > uint64(cap(m.buf)) {
		m.buf = append(m.buf[:cap(m.buf)], make([]byte, size-uint64(cap(m.buf)))...)
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *sliceMemory) Free() { m.buf = nil }
