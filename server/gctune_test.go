package server

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentForLetsASmallHeapGrowByTheHeadroomAndALargeOneByItself(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 1600},         // nothing live yet: the goal is the runtime's minimum heap at 1600, 64 MiB
		{2 * mib, 1600},   // 2 MiB live: goal 64 MiB (the minimum heap), not 33 × 2
		{4 * mib, 1600},   // goal 68 MiB
		{8 * mib, 800},    // goal 72 MiB
		{10 * mib, 600},   // 640 rounded down to a multiple of 50
		{16 * mib, 400},   // goal 80 MiB
		{40 * mib, 150},   // 160 rounded down: the bench's heap after its pushes
		{64 * mib, 100},   // as by default from here on
		{1024 * mib, 100}, // a large in-memory store: never below the default
	} {
		if got := gcPercentFor(c.live, DefaultGCHeadroom); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live/mib, got, c.want)
		}
	}
}

func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// waitGOGC collects until the tuner, which runs after a collection, has set
// want.
func waitGOGC(t *testing.T, want int) {
	t.Helper()
	for range 200 {
		runtime.GC()
		time.Sleep(time.Millisecond) // the tuner runs on the cleanup goroutine
		if gogc() == want {
			return
		}
	}
	t.Fatalf("GOGC = %d, want %d", gogc(), want)
}

func TestTuneGCFollowsTheLiveHeapAndStopRestoresGOGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	const headroom = 64 << 20 // ceiling 1600: a test binary's few MiB live get it
	stop := TuneGC(headroom)
	defer stop()
	waitGOGC(t, 1600)
	// 80 MiB more live: past the headroom, the default.
	big := make([]byte, 80<<20)
	for i := range big {
		big[i] = 1
	}
	waitGOGC(t, 100)
	runtime.KeepAlive(big)
	big = nil
	waitGOGC(t, 1600)
	stop()
	if got := gogc(); got != 100 {
		t.Fatalf("GOGC after stop = %d, want 100 (what it was)", got)
	}
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if got := gogc(); got != 100 {
		t.Fatalf("GOGC after stop and a collection = %d, want 100", got)
	}
}
