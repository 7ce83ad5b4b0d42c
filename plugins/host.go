// Package plugins is berth's WebAssembly plugin host. A plugin is a WASI preview1 command module
// run by wazero: one fresh instance per call, a JSON request on stdin, a JSON response on stdout,
// logs on stderr (plugins/ABI.md). Each call is sandboxed: no network, no host filesystem beyond
// the read-only mounts of that call, a memory cap, a wall-time bound and a bound on stdout, so a
// plugin that crashes, loops, exhausts memory or prints garbage fails its own call with a
// clear error and nothing else.
package plugins

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Limits bound what one call of a plugin may use.
type Limits struct {
	// MemoryPages caps a plugin's linear memory, in 64 KiB Wasm pages.
	MemoryPages uint32
	// CallTimeout bounds the wall time of one call, instantiation included.
	CallTimeout time.Duration
	// MaxStdout bounds the response a plugin may write; writing more fails the call.
	MaxStdout int
	// MaxStderr bounds the log bytes forwarded per call; the rest is dropped, not an error.
	MaxStderr int
}

// DefaultLimits suit a scanner reading package databases: 256 MiB of memory, 60 s, 16 MiB of
// findings, 64 KiB of log.
var DefaultLimits = Limits{
	MemoryPages: 4096,
	CallTimeout: 60 * time.Second,
	MaxStdout:   16 << 20,
	MaxStderr:   64 << 10,
}

// Config configures a Host.
type Config struct {
	// CacheDir holds wazero's compilation cache, so a plugin compiled once is loaded quickly on
	// the next start. Empty means no cache: every start compiles every plugin.
	CacheDir string
	// Logger receives the plugins' stderr, one record per line, with the plugin's name.
	// Nil means slog.Default().
	Logger *slog.Logger
	// Limits bound every call; a zero field takes its value from DefaultLimits.
	Limits Limits
}

// Host compiles plugins and runs their calls. All plugins of a Host share one wazero runtime,
// hence one memory cap and one compilation cache. A Host is safe for concurrent use.
type Host struct {
	runtime wazero.Runtime
	cache   wazero.CompilationCache
	logger  *slog.Logger
	limits  Limits

	// Warm instances (Plugin.Warm) run between calls; Close stops them before the runtime.
	warmMu  sync.Mutex
	warming map[*warmInstance]bool
	closed  bool
	running sync.WaitGroup
}

// NewHost starts a wazero runtime with the sandbox's settings and WASI preview1.
func NewHost(ctx context.Context, cfg Config) (*Host, error) {
	limits := cfg.Limits
	if limits.MemoryPages == 0 {
		limits.MemoryPages = DefaultLimits.MemoryPages
	}
	if limits.CallTimeout == 0 {
		limits.CallTimeout = DefaultLimits.CallTimeout
	}
	if limits.MaxStdout == 0 {
		limits.MaxStdout = DefaultLimits.MaxStdout
	}
	if limits.MaxStderr == 0 {
		limits.MaxStderr = DefaultLimits.MaxStderr
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// Close-on-context-done makes compiled code check the context at function calls and loop
	// back-edges, which is what lets a deadline stop a plugin spinning in `for {}`.
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(limits.MemoryPages)
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		var err error
		cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("opening plugin compilation cache %s: %w", cfg.CacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	runtime := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, runtime); err != nil {
		closeErr := runtime.Close(ctx)
		if cache != nil {
			closeErr = errors.Join(closeErr, cache.Close(ctx))
		}
		return nil, errors.Join(fmt.Errorf("instantiating WASI preview1: %w", err), closeErr)
	}
	return &Host{runtime: runtime, cache: cache, logger: logger, limits: limits}, nil
}

// Limits returns the limits every call of this host runs under.
func (h *Host) Limits() Limits { return h.limits }

// Close releases the runtime, every compiled plugin with it, and the cache handle (the cache's
// files stay for the next start).
func (h *Host) Close(ctx context.Context) error {
	h.stopWarm()
	err := h.runtime.Close(ctx)
	if h.cache != nil {
		err = errors.Join(err, h.cache.Close(ctx))
	}
	return err
}

// moduleConfig is the sandbox of one call. Nothing is granted that is not named here: wazero
// gives a module no sockets, no environment variables and no files unless configured to.
func (h *Host) moduleConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		// An empty name keeps instances out of the runtime's namespace, so calls may overlap.
		WithName("").
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader)
}
