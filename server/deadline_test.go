package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// deadlineRecorder is a ResponseWriter that records the read deadlines set
// on its connection (what http.ResponseController calls).
type deadlineRecorder struct {
	http.ResponseWriter
	deadlines []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// Every read of a body has at least the idle time before its deadline, and
// the deadline (a runtime timer) moves at most once per idle/idleSlack.
func TestBodyReadsEachHaveTheIdleTimeAndMoveTheDeadlineOncePerSlack(t *testing.T) {
	const idle = time.Minute // reads back to back are well within idle/idleSlack of each other
	rec := &deadlineRecorder{ResponseWriter: httptest.NewRecorder()}
	b := &idleBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", 100))), rc: http.NewResponseController(rec), idle: idle}
	p := make([]byte, 10)
	for i := range 5 {
		start := time.Now()
		if _, err := b.Read(p); err != nil {
			t.Fatal(err)
		}
		if d := rec.deadlines[len(rec.deadlines)-1]; d.Before(start.Add(idle)) {
			t.Fatalf("read %d: deadline %v is less than %v after the read began", i, d.Sub(start), idle)
		}
	}
	if len(rec.deadlines) != 1 {
		t.Fatalf("5 reads in a row moved the deadline %d times, want once", len(rec.deadlines))
	}

	// A read idle/idleSlack after the last move moves it again, to no
	// more than idle + idle/idleSlack ahead.
	b.mu.Lock()
	b.moved = b.moved.Add(-idle / idleSlack)
	b.mu.Unlock()
	start := time.Now()
	if _, err := b.Read(p); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	if len(rec.deadlines) != 2 {
		t.Fatalf("a read idle/%d after the last move left the deadline where it was", idleSlack)
	}
	if d := rec.deadlines[1]; d.Before(start.Add(idle)) || d.After(end.Add(idle+idle/idleSlack)) {
		t.Fatalf("deadline moved to %v after the read began, want between %v and %v", d.Sub(start), idle, idle+idle/idleSlack)
	}
}
