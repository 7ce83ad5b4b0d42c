// Package benchcpu reports a benchmark's CPU time per operation. On a shared
// machine the process's CPU time (user and system, every goroutine's, the
// garbage collector's included) moves far less with the neighbours' load
// than ns/op does.
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// PerOp reports, when b ends, the process's CPU time from now on divided by
// b.N, as cpu-ns/op.
func PerOp(b *testing.B) {
	start := Now()
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64(Now()-start)/float64(b.N), "cpu-ns/op")
		}
	})
}

// Now is the process's user and system time so far (0 if it cannot be read).
func Now() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
