package core

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock is injected so that ages, expiries, retries and periodic work are
// testable without sleeping: everything in berth that waits or compares
// times asks it.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f in its own goroutine once d has passed on this clock.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc; Stop cancels it and reports whether it was
// still pending.
type Timer interface{ Stop() bool }

type systemClock struct{}

func (systemClock) Now() time.Time                            { return time.Now().UTC() }
func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

// Sleep waits d on clock, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, clock Clock, d time.Duration) error {
	done := make(chan struct{})
	t := clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}

// Every runs f now, in its own goroutine, and then each interval on clock,
// until the returned stop function is called. The next run is armed before
// Every returns and before each run starts, so a test on a ManualClock can
// advance at once; runs never overlap. stop waits for a run in progress.
func Every(clock Clock, interval time.Duration, f func()) (stop func()) {
	var (
		mu      sync.Mutex // guards stopped and timer
		stopped bool
		timer   Timer
		runs    sync.Mutex // one run at a time
		running sync.WaitGroup
	)
	run := func() {
		defer running.Done()
		runs.Lock()
		defer runs.Unlock()
		mu.Lock()
		done := stopped
		mu.Unlock()
		if !done {
			f()
		}
	}
	var tick func()
	tick = func() {
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		timer = clock.AfterFunc(interval, tick)
		running.Add(1)
		mu.Unlock()
		run()
	}
	mu.Lock()
	timer = clock.AfterFunc(interval, tick)
	running.Add(1)
	mu.Unlock()
	go run()
	return func() {
		mu.Lock()
		stopped = true
		timer.Stop()
		mu.Unlock()
		running.Wait()
	}
}

// ManualClock is a Clock that moves only when told to: tests (and
// berthtest.WithClock) advance it to age images, expire tokens and uploads,
// and fire the timers that fall due. It is safe for concurrent use.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
	seq    int
}

type manualTimer struct {
	c   *ManualClock
	at  time.Time
	seq int // orders timers due at the same instant by creation
	f   func()
}

// NewManualClock returns a clock stopped at start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arranges for f to run once the clock has been advanced by d; a
// d ≤ 0 runs it at once, in its own goroutine, as time.AfterFunc does.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	if d <= 0 {
		go f()
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.timers {
		if p == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves the clock forward by d and runs every timer that falls due,
// in order of due time, each at its own instant (Now reports that instant
// while it runs); a timer armed by one that ran is run too if it falls
// within d. Advance returns when they have all returned.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	c.runUntil(end)
}

// Set moves the clock to t (forward or back), running the timers due by t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	if t.Before(c.now) {
		c.now = t
	}
	c.mu.Unlock()
	c.runUntil(t)
}

func (c *ManualClock) runUntil(end time.Time) {
	for {
		c.mu.Lock()
		sort.Slice(c.timers, func(i, j int) bool {
			a, b := c.timers[i], c.timers[j]
			return a.at.Before(b.at) || a.at.Equal(b.at) && a.seq < b.seq
		})
		if len(c.timers) == 0 || c.timers[0].at.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.mu.Unlock()
		t.f()
	}
}

// Pending reports how many timers are armed: a test can wait for a
// goroutine to reach its timer before advancing.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
