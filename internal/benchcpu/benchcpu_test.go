package benchcpu

import "testing"

func TestNowCountsWorkDone(t *testing.T) {
	before := Now()
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	if Now() <= before {
		t.Fatalf("CPU time did not move over a busy loop (%d)", x)
	}
}
