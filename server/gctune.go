package server

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultGCHeadroom is the heap growth TuneGC allows between collections
// while the live heap is small. 64 MiB rather than 32: after the bench's
// pushes, berth --memory holds about 40 MB of live heap (the store's
// records and small blobs), dense with pointers, and each collection cost
// 26-29 ms of CPU there; at GOGC=100 one ran every 10,000 manifest GETs,
// about 2.7 µs of each (0.4 µs on a fresh server). At 64 MiB that heap
// gets GOGC=150 and a third fewer collections. (Round 7 took the store's
// records and small blobs out of the collector's sight: after 6,000 tiny
// images, 66k heap objects instead of 123k, 9-17 ms per collection instead
// of 15-22; the headroom was not measured again.)
const DefaultGCHeadroom = 64 << 20

// runtimeMinHeap is the Go runtime's smallest heap goal at GOGC=100; it
// scales with GOGC (4 MiB × GOGC/100).
const runtimeMinHeap = 4 << 20

// TuneGC adapts the collector's GOGC to the live heap after every
// collection, so that a small heap may grow by up to headroom bytes before
// the next one, and a large heap is collected as at GOGC=100.
//
// Why: berth's live heap is a few MiB (the policy engine, caches, the
// in-memory store's records), and every request allocates a few KiB, so at
// the default GOGC a request loop collects every few hundred requests; each
// collection marks the whole live heap and wakes the other core's worker.
// Letting a small heap grow to about headroom costs at most that much
// memory and collects about ten times less often. A large live heap (an
// in-memory store holding big blobs) gets GOGC=100, never more, so memory
// stays within twice the live heap as by default.
//
// It changes process-wide settings: the command calls it, only when neither
// GOGC nor GOMEMLIMIT is set (the user's choice wins). stop restores GOGC
// to what it was.
func TuneGC(headroom uint64) (stop func()) {
	t := &gcTuner{headroom: headroom, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.prev = debug.SetGCPercent(-1)
	debug.SetGCPercent(t.prev)
	t.adjust()
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !t.stopped {
			t.stopped = true
			debug.SetGCPercent(t.prev)
		}
	}
}

type gcTuner struct {
	headroom uint64
	prev     int

	mu      sync.Mutex
	percent int // the GOGC last set
	sample  []metrics.Sample
	stopped bool
}

// gcSentinel is the object whose collection runs the tuner. It holds a
// pointer so that it is not a tiny allocation (those share a block with
// others and are freed with the last of them).
type gcSentinel struct{ _ *gcTuner }

// arm makes adjust run after the next collection: a cleanup runs once the
// object it watches is unreachable, which the next collection finds.
func (t *gcTuner) arm() {
	runtime.AddCleanup(&gcSentinel{}, func(t *gcTuner) {
		if t.adjust() {
			t.arm()
		}
	}, t)
}

// adjust sets GOGC for the live heap; false once stopped.
func (t *gcTuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return true
	}
	if p := gcPercentFor(t.sample[0].Value.Uint64(), t.headroom); p != t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
	return true
}

// gcPercentFor is the GOGC that lets a live heap of live bytes grow by about
// headroom before the next collection, and never less than 100. It is also
// kept at or below the value whose minimum heap (4 MiB × GOGC/100) is
// headroom, so that a nearly empty heap does not get a goal far above it.
// It is rounded down to a multiple of 50 so that small changes of the live
// heap do not reset the collector's goal after every cycle.
func gcPercentFor(live, headroom uint64) int {
	ceiling := headroom * 100 / runtimeMinHeap
	p := ceiling
	if live > 0 {
		p = min(headroom*100/live, ceiling)
	}
	p = p / 50 * 50
	return int(max(p, 100))
}
