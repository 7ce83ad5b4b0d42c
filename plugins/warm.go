package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/plugins/sdk"
)

// A warm instance is a fresh instance started before its call: the Go runtime's (or any
// language's) start-up, most of a small plugin's call, is done while it waits for its request
// on stdin. It still serves exactly one call, so the ABI's "a fresh instance per call" holds.
type warmInstance struct {
	ctx    context.Context // the instance's; cancelled to stop it (deadline, overflow, caller)
	cancel context.CancelCauseFunc
	stdin  *io.PipeWriter
	stdout *boundedBuffer
	stderr *logWriter
	done   chan error // the instance's end: InstantiateModule's error
}

// Warm keeps n instances of p started ahead of its calls, each replaced as a call takes it,
// for plugins whose latency matters more than the memory of n idle instances. Only calls
// without mounts use them (a mount is part of an instance's configuration). Call Warm once;
// the instances go with the host.
func (p *Plugin) Warm(n int) {
	if n <= 0 || p.warm != nil {
		return
	}
	p.warm = make(chan *warmInstance, n)
	for range n {
		go p.startWarm()
	}
}

// startWarm starts an instance that blocks reading its request, and queues it.
func (p *Plugin) startWarm() {
	limits := p.host.limits
	ctx, cancel := context.WithCancelCause(context.Background())
	stdinR, stdinW := io.Pipe()
	w := &warmInstance{ctx: ctx, cancel: cancel, stdin: stdinW, done: make(chan error, 1),
		stderr: newLogWriter(p.host.logger.With("plugin", p.manifest.Name), limits.MaxStderr)}
	w.stdout = &boundedBuffer{max: limits.MaxStdout, overflow: func() { cancel(ErrOutputTooLarge) }}
	// Its start-up is bounded like a call: an instance that never comes to read its request
	// (a plugin looping while it prepares) is stopped rather than left running.
	startup := time.AfterFunc(limits.CallTimeout, func() { cancel(ErrTimeout) })
	var wasReady atomic.Bool
	ready := func() {
		if startup.Stop() {
			wasReady.Store(true)
			p.warm <- w
		}
	}
	config := p.host.moduleConfig().
		WithStdin(&readySignal{r: stdinR, ready: ready}).
		WithStdout(w.stdout).
		WithStderr(w.stderr).
		WithArgs(p.manifest.Name, sdk.WarmArg)
	if !p.host.track(w) {
		startup.Stop()
		cancel(errHostClosed)
		return // the host is closing: calls fall back to cold instances, which fail alike
	}
	go func() {
		// Queued (by readySignal) once it waits for its request, not before: a call that took
		// an instance still starting would wait for all of its start-up, where a cold
		// instance, which skips a warm one's preparation, is quicker.
		defer p.host.untrack(w)
		mod, err := p.host.runtime.InstantiateModule(withLinearMemory(ctx), p.compiled, config)
		// The answer is complete once the instance has ended; freeing it is not the caller's wait.
		w.done <- err
		startup.Stop()
		if !wasReady.Load() && !errors.Is(context.Cause(ctx), errHostClosed) {
			// Ended, or was stopped, before it came to read its request: a plugin that cannot
			// prepare. It is not replaced; calls start their own instances.
			if cause := context.Cause(ctx); cause != nil {
				err = cause
			}
			p.host.logger.Warn("plugin instance started ahead of its call ended before reading it; calls start their own",
				"plugin", p.manifest.Name, "error", err)
		}
		if mod != nil {
			_ = mod.Close(context.Background())
		}
		stdinR.Close()
	}()
}

// readySignal is a warm instance's stdin: its first read means the instance has started and
// prepared, and now waits for its request.
type readySignal struct {
	r     io.Reader
	once  sync.Once
	ready func()
}

func (s *readySignal) Read(b []byte) (int, error) {
	s.once.Do(s.ready)
	return s.r.Read(b)
}

var errHostClosed = errors.New("plugin host closed")

// track registers a warm instance about to start, unless the host is closing.
func (h *Host) track(w *warmInstance) bool {
	h.warmMu.Lock()
	defer h.warmMu.Unlock()
	if h.closed {
		return false
	}
	if h.warming == nil {
		h.warming = map[*warmInstance]bool{}
	}
	h.warming[w] = true
	h.running.Add(1)
	return true
}

func (h *Host) untrack(w *warmInstance) {
	h.warmMu.Lock()
	delete(h.warming, w)
	h.warmMu.Unlock()
	h.running.Done()
}

// stopWarm ends every warm instance and waits for them: wazero's runtime must not close under
// a running instance. An instance blocked reading its request is freed by closing the pipe,
// which a context alone would not do (it is checked in Wasm code, not in a host call).
func (h *Host) stopWarm() {
	h.warmMu.Lock()
	h.closed = true
	for w := range h.warming {
		w.cancel(errHostClosed)
		w.stdin.CloseWithError(errHostClosed)
	}
	h.warmMu.Unlock()
	h.running.Wait()
}

// callWarm hands request to a warm instance and waits for its end under the call's bounds.
func (p *Plugin) callWarm(ctx context.Context, w *warmInstance, request []byte) (sdk.Response, error) {
	name, limits := p.manifest.Name, p.host.limits
	callCtx, cancel := context.WithTimeoutCause(ctx, limits.CallTimeout, ErrTimeout)
	defer cancel()
	// The instance runs under its own context, started before this call: the call's end
	// (deadline or caller) stops it, as it stops a cold instance.
	stop := context.AfterFunc(callCtx, func() { w.cancel(context.Cause(callCtx)) })
	defer stop()
	go func() {
		// An instance that has ended reads nothing: its pipe is closed and the write returns.
		_, _ = w.stdin.Write(request)
		_ = w.stdin.Close()
	}()
	runErr := <-w.done
	w.stderr.Flush()
	if err := classify(ctx, callCtx, limits.CallTimeout, runErr, w.stdout, w.stderr); err != nil {
		return sdk.Response{}, fmt.Errorf("plugin %s: %w", name, err)
	}
	return decodeResponse(name, w.stdout)
}
