package plugins

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// warmed loads a second copy of a test plugin with n instances started ahead.
func warmed(t *testing.T, name string, n int) *Plugin {
	t.Helper()
	p, err := loadTestPlugin(testHost, name)
	if err != nil {
		t.Fatal(err)
	}
	p.Warm(n)
	return p
}

// waitReady waits until n of p's warm instances have started and wait for their calls.
func waitReady(t *testing.T, p *Plugin, n int) {
	t.Helper()
	deadline := time.Now().Add(testLimits.CallTimeout)
	for len(p.warm) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d warm instances ready after %s", len(p.warm), n, testLimits.CallTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOnlyInstancesStartedAheadOfTheirCallAreToldTheyAreWarm(t *testing.T) {
	p := warmed(t, "good", 1)
	waitReady(t, p, 1)
	var out goodOutput
	resp, err := p.Call(context.Background(), goodInput{Name: "ahead"})
	if err == nil {
		err = resp.Decode(&out)
	}
	if err != nil || !out.Warm {
		t.Fatalf("warm instance: %+v, %v; want warm", out, err)
	}
	if out := callGood(t, goodInput{Name: "cold"}); out.Warm {
		t.Fatalf("instance started for its call was told it is warm: %+v", out)
	}
}

// A plugin that loops while it prepares is stopped at the call bound, reported, and not
// replaced; calls go on with instances of their own.
func TestAWarmInstanceThatNeverComesToReadItsRequestIsStopped(t *testing.T) {
	p, err := loadTestPluginAs(testHost, "misbehave", "misbehave-warm-loop")
	if err != nil {
		t.Fatal(err)
	}
	p.Warm(1)
	if _, err := p.Call(context.Background(), map[string]string{"mode": "exit-7"}); !errors.Is(err, ErrExit) {
		t.Fatalf("call beside a looping warm instance: got %v, want %v", err, ErrExit)
	}
	deadline := time.Now().Add(testLimits.CallTimeout + 5*time.Second)
	for !strings.Contains(testLog.String(), "plugin=misbehave-warm-loop") ||
		!strings.Contains(testLog.String(), "ended before reading it") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the looping warm instance; log:\n%s", testLog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(p.warm) != 0 {
		t.Fatalf("%d warm instances queued, want none", len(p.warm))
	}
}

func TestWarmInstancesServeOneCallEachWithTheirOwnAnswers(t *testing.T) {
	p := warmed(t, "good", 2)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Go(func() {
			if err := greet(p, fmt.Sprintf("warm-%d", i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestAWarmInstanceIsBoundByTheCallTimeoutFromTheCallOn(t *testing.T) {
	p := warmed(t, "misbehave", 1)
	time.Sleep(testLimits.CallTimeout) // idle time before the call does not count
	start := time.Now()
	_, err := p.Call(context.Background(), map[string]string{"mode": "loop"})
	if !errors.Is(err, ErrTimeout) || time.Since(start) > testLimits.CallTimeout+2*time.Second {
		t.Fatalf("got %v after %s, want %v at %s", err, time.Since(start), ErrTimeout, testLimits.CallTimeout)
	}
}

func TestAWarmInstanceFailsLikeAColdOne(t *testing.T) {
	p := warmed(t, "misbehave", 1)
	for mode, want := range map[string]error{"flood": ErrOutputTooLarge, "exit-7": ErrExit, "garbage": ErrBadResponse, "panic": ErrExit} {
		if _, err := p.Call(context.Background(), map[string]string{"mode": mode}); !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", mode, err, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := p.Call(ctx, map[string]string{"mode": "loop"}); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Fatalf("caller's deadline: got %v", err)
	}
}

func TestCallsWithMountsDoNotTakeWarmInstances(t *testing.T) {
	p := warmed(t, "good", 1)
	waitReady(t, p, 1)
	dir := t.TempDir()
	resp, err := p.Call(context.Background(), goodInput{Name: "m", ReadFile: "/data/x"}, Mount{HostDir: dir, GuestPath: "/data"})
	if err == nil {
		t.Fatalf("reading a missing file succeeded: %s", resp.Output)
	}
	if len(p.warm) != 1 {
		t.Fatalf("%d warm instances queued, want 1", len(p.warm))
	}
}
