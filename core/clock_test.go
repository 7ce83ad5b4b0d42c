package core

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

// ManualClock runs the timers that fall due as it is advanced, in due order,
// each at its own instant, including timers armed by timers within the span.
func TestManualClockRunsDueTimersInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManualClock(start)
	var mu sync.Mutex
	var fired []string
	at := map[string]time.Time{}
	note := func(name string) func() {
		return func() {
			mu.Lock()
			defer mu.Unlock()
			fired = append(fired, name)
			at[name] = c.Now()
		}
	}
	c.AfterFunc(3*time.Second, note("3s"))
	c.AfterFunc(time.Second, func() {
		note("1s")()
		c.AfterFunc(time.Second, note("1s+1s")) // falls due within the same Advance
	})
	stopped := c.AfterFunc(2*time.Second, note("stopped"))
	c.AfterFunc(10*time.Second, note("10s"))
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop reports pending once, then not")
	}
	c.Advance(5 * time.Second)
	mu.Lock()
	if !reflect.DeepEqual(fired, []string{"1s", "1s+1s", "3s"}) {
		t.Fatalf("fired %v", fired)
	}
	if !at["1s+1s"].Equal(start.Add(2*time.Second)) || !at["3s"].Equal(start.Add(3*time.Second)) {
		t.Fatalf("timers saw Now = %v", at)
	}
	mu.Unlock()
	if !c.Now().Equal(start.Add(5*time.Second)) || c.Pending() != 1 {
		t.Fatalf("now %v, %d pending", c.Now(), c.Pending())
	}
	c.Set(start.Add(time.Minute))
	mu.Lock()
	defer mu.Unlock()
	if len(fired) != 4 || fired[3] != "10s" {
		t.Fatalf("Set did not run the due timer: %v", fired)
	}
}

// Sleep waits on the clock and gives way to the context.
func TestSleepOnTheClock(t *testing.T) {
	c := NewManualClock(time.Unix(0, 0))
	done := make(chan error, 1)
	go func() { done <- Sleep(bg, c, time.Hour) }()
	for c.Pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("Sleep returned before the clock moved")
	case <-time.After(20 * time.Millisecond):
	}
	c.Advance(time.Hour)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	go func() { done <- Sleep(ctx, c, time.Hour) }()
	for c.Pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled || c.Pending() != 0 {
		t.Fatalf("cancelled Sleep = %v, %d timers left", err, c.Pending())
	}
}

// Every runs at once, then each interval of the clock, until stopped.
func TestEveryRunsPeriodicallyOnTheClock(t *testing.T) {
	c := NewManualClock(time.Unix(0, 0))
	runs := make(chan time.Time, 10)
	stop := Every(c, time.Hour, func() { runs <- c.Now() })
	first := <-runs
	if !first.Equal(time.Unix(0, 0)) {
		t.Fatalf("first run at %v", first)
	}
	for c.Pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	c.Advance(59 * time.Minute)
	select {
	case <-runs:
		t.Fatal("ran before the interval")
	default:
	}
	c.Advance(time.Minute)
	if got := <-runs; !got.Equal(time.Unix(3600, 0)) {
		t.Fatalf("second run at %v", got)
	}
	stop()
	c.Advance(10 * time.Hour)
	select {
	case <-runs:
		t.Fatal("ran after stop")
	default:
	}
}
