package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"

	"github.com/berth-dev/berth/plugins/sdk"
)

// Kind is what a plugin is for; the host calls it with requests of that kind.
type Kind string

const (
	KindScanner  Kind = "scanner"
	KindVerifier Kind = "verifier"
)

// Manifest describes a plugin: NAME.json beside NAME.wasm.
type Manifest struct {
	Name    string `json:"name"`
	Kind    Kind   `json:"kind"`
	Version string `json:"version"`
	// ABI is the plugin ABI version the module speaks; it must be sdk.ABIVersion.
	ABI int `json:"abi"`
	// Paths are, for a scanner, the image paths it reads: patterns relative to the image root
	// (no leading slash), matched element by element with path.Match syntax, e.g.
	// "var/lib/dpkg/status.d/*". The host extracts only these into the scanner's /rootfs, so a
	// scan never unpacks more of an image than its scanner asked for.
	Paths []string `json:"paths,omitempty"`
}

// MaxPaths bounds a scanner's path patterns: each is matched against every file of every layer.
const MaxPaths = 64

// Validate reports the first thing wrong with the manifest.
func (m Manifest) Validate() error {
	switch {
	case m.Name == "":
		return errors.New("manifest has no name")
	case m.Kind != KindScanner && m.Kind != KindVerifier:
		return fmt.Errorf("manifest kind %q is neither %q nor %q", m.Kind, KindScanner, KindVerifier)
	case m.Version == "":
		return errors.New("manifest has no version")
	case m.ABI != sdk.ABIVersion:
		return fmt.Errorf("manifest ABI version %d, this host speaks %d", m.ABI, sdk.ABIVersion)
	case m.Kind != KindScanner && len(m.Paths) > 0:
		return fmt.Errorf("manifest of kind %q has paths; only a %q reads image paths", m.Kind, KindScanner)
	case len(m.Paths) > MaxPaths:
		return fmt.Errorf("manifest has %d paths, at most %d are allowed", len(m.Paths), MaxPaths)
	}
	for _, p := range m.Paths {
		if err := validatePathPattern(p); err != nil {
			return fmt.Errorf("manifest path %q: %w", p, err)
		}
	}
	return nil
}

// validatePathPattern accepts a clean relative pattern in path.Match syntax.
func validatePathPattern(p string) error {
	switch {
	case p == "" || p == ".":
		return errors.New("empty")
	case strings.HasPrefix(p, "/"):
		return errors.New("must be relative to the image root, without a leading slash")
	case path.Clean(p) != p:
		return fmt.Errorf("not clean (would be %q)", path.Clean(p))
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return errors.New("must not leave the image root with ..")
		}
	}
	// Match checks the whole pattern's syntax whatever the name, so one call finds a bad one.
	if _, err := path.Match(p, ""); err != nil {
		return err
	}
	return nil
}

// Errors of a call, for errors.Is; the error's text says which plugin and why.
var (
	// ErrExit: the plugin exited with a code other than 0 (a handler error, a Go panic, the Go
	// runtime running out of memory…). The error carries the code and an excerpt of its stderr.
	ErrExit = errors.New("plugin exited with an error")
	// ErrTrap: the module trapped (unreachable, out-of-bounds access, stack overflow…).
	ErrTrap = errors.New("plugin trapped")
	// ErrTimeout: the call ran past the host's CallTimeout and was stopped.
	ErrTimeout = errors.New("plugin ran out of time")
	// ErrOutputTooLarge: the plugin wrote more than MaxStdout bytes to stdout and was stopped.
	ErrOutputTooLarge = errors.New("plugin output too large")
	// ErrBadResponse: stdout was not one JSON response envelope.
	ErrBadResponse = errors.New("plugin response is not valid")
	// ErrABIMismatch: the response carries another ABI version than the host's.
	ErrABIMismatch = errors.New("plugin response has another ABI version")
)

// Plugin is a compiled plugin, ready to be called any number of times, concurrently.
type Plugin struct {
	manifest Manifest
	compiled wazero.CompiledModule
	host     *Host
	warm     chan *warmInstance // instances started ahead (Warm); nil: none
}

// Manifest returns the plugin's manifest.
func (p *Plugin) Manifest() Manifest { return p.manifest }

// Load compiles a plugin's module (or fetches it from the compilation cache).
func (h *Host) Load(ctx context.Context, manifest Manifest, wasm []byte) (*Plugin, error) {
	if err := manifest.Validate(); err != nil {
		return nil, err
	}
	compiled, err := h.runtime.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("compiling plugin %s: %w", manifest.Name, err)
	}
	// A command module exports _start; without it instantiation would succeed doing nothing.
	if _, ok := compiled.ExportedFunctions()["_start"]; !ok {
		return nil, errors.Join(
			fmt.Errorf("plugin %s is not a WASI command module: it exports no _start", manifest.Name),
			compiled.Close(ctx))
	}
	return &Plugin{manifest: manifest, compiled: compiled, host: h}, nil
}

// Mount makes a host directory readable by the plugin at GuestPath for one call.
type Mount struct {
	HostDir   string
	GuestPath string
}

// Call runs the plugin once on a fresh instance: input, encoded as JSON, is the request's input;
// mounts are read-only. The returned error wraps one of the Err values above, or ctx's error
// when the caller cancelled.
func (p *Plugin) Call(ctx context.Context, input any, mounts ...Mount) (sdk.Response, error) {
	name := p.manifest.Name
	inputJSON, err := json.Marshal(input)
	if err != nil {
		return sdk.Response{}, fmt.Errorf("plugin %s: encoding request input: %w", name, err)
	}
	request, err := json.Marshal(sdk.Request{ABI: sdk.ABIVersion, Kind: string(p.manifest.Kind), Input: inputJSON})
	if err != nil {
		return sdk.Response{}, fmt.Errorf("plugin %s: encoding request: %w", name, err)
	}

	if len(mounts) == 0 && p.warm != nil {
		select {
		case w := <-p.warm:
			// The replacement starts once this call is answered: started now, its start-up
			// would take the CPU this call needs (on a 2-core machine, all of it).
			defer func() { go p.startWarm() }()
			return p.callWarm(ctx, w, request)
		default: // every warm instance is taken: start one now
		}
	}

	limits := p.host.limits
	callCtx, cancel := context.WithTimeoutCause(ctx, limits.CallTimeout, ErrTimeout)
	defer cancel()
	stdout := &boundedBuffer{max: limits.MaxStdout, overflow: cancel}
	stderr := newLogWriter(p.host.logger.With("plugin", name), limits.MaxStderr)

	fsConfig := wazero.NewFSConfig()
	for _, m := range mounts {
		// Checked here so that a wrong mount is the caller's error, not the plugin's failure.
		info, err := os.Stat(m.HostDir)
		if err != nil {
			return sdk.Response{}, fmt.Errorf("plugin %s: mount: %w", name, err)
		}
		if !info.IsDir() {
			return sdk.Response{}, fmt.Errorf("plugin %s: mount %s is not a directory", name, m.HostDir)
		}
		guest := path.Clean("/" + m.GuestPath)
		fsConfig = fsConfig.WithReadOnlyDirMount(m.HostDir, guest)
	}
	config := p.host.moduleConfig().
		WithStdin(bytes.NewReader(request)).
		WithStdout(stdout).
		WithStderr(stderr).
		WithFSConfig(fsConfig).
		WithArgs(name)

	mod, runErr := p.host.runtime.InstantiateModule(withLinearMemory(callCtx), p.compiled, config)
	stderr.Flush()
	if mod != nil {
		// Closing the instance frees its memory; after proc_exit it is already closed.
		_ = mod.Close(context.WithoutCancel(ctx))
	}
	if err := classify(ctx, callCtx, limits.CallTimeout, runErr, stdout, stderr); err != nil {
		return sdk.Response{}, fmt.Errorf("plugin %s: %w", name, err)
	}
	return decodeResponse(name, stdout)
}

// decodeResponse reads the one JSON response a plugin wrote.
func decodeResponse(name string, stdout *boundedBuffer) (sdk.Response, error) {
	var resp sdk.Response
	dec := json.NewDecoder(bytes.NewReader(stdout.buf.Bytes()))
	if err := dec.Decode(&resp); err != nil {
		return sdk.Response{}, fmt.Errorf("plugin %s: %w: %v; stdout begins %q", name, ErrBadResponse, err, head(stdout.buf.Bytes(), 80))
	}
	if _, err := dec.Token(); err != io.EOF {
		return sdk.Response{}, fmt.Errorf("plugin %s: %w: more than one JSON value on stdout", name, ErrBadResponse)
	}
	if resp.ABI != sdk.ABIVersion {
		return sdk.Response{}, fmt.Errorf("plugin %s: %w: %d, host speaks %d", name, ErrABIMismatch, resp.ABI, sdk.ABIVersion)
	}
	return resp, nil
}

// classify turns how the instance ended into an error, or nil for a clean exit. The order
// matters: an overflow or a deadline closes the module too, and is the better reason.
func classify(ctx, callCtx context.Context, timeout time.Duration, runErr error, stdout *boundedBuffer, stderr *logWriter) error {
	if stdout.overflowed {
		return fmt.Errorf("%w: more than %d bytes on stdout", ErrOutputTooLarge, stdout.max)
	}
	if runErr == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("call cancelled: %w", context.Cause(ctx))
	}
	if errors.Is(context.Cause(callCtx), ErrTimeout) {
		return fmt.Errorf("%w: stopped after %s", ErrTimeout, timeout)
	}
	var exit *sys.ExitError
	if errors.As(runErr, &exit) {
		if exit.ExitCode() == 0 {
			return nil
		}
		return fmt.Errorf("%w: exit code %d; stderr %q", ErrExit, exit.ExitCode(), stderr.Excerpt())
	}
	return fmt.Errorf("%w: %v; stderr %q", ErrTrap, runErr, stderr.Excerpt())
}

func head(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
