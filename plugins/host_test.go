package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/plugins/sdk"
)

// The test plugins are Go programs built for wasip1 once per test run, into wasmDir.
var (
	wasmDir   string
	cacheDir  string
	testHost  *Host
	testLog   lockedBuffer
	good      *Plugin
	misbehave *Plugin
)

// testLimits are small so that the bad plugins fail fast: 64 MiB of memory, 4 s, 64 KiB of stdout.
var testLimits = Limits{MemoryPages: 1024, CallTimeout: 4 * time.Second, MaxStdout: 64 << 10, MaxStderr: 4 << 10}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "berth-plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	wasmDir = filepath.Join(tmp, "wasm")
	cacheDir = filepath.Join(tmp, "cache")
	if err := buildWasm(wasmDir, "./testdata/good", "./testdata/misbehave", "../examples/plugin-hello"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	testHost, err = NewHost(ctx, Config{
		CacheDir: cacheDir,
		Logger:   slog.New(slog.NewTextHandler(&testLog, nil)),
		Limits:   testLimits,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testHost.Close(ctx)
	if good, err = loadTestPlugin(testHost, "good"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if misbehave, err = loadTestPlugin(testHost, "misbehave"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// buildWasm builds Go main packages for wasip1 with one go build, writing DIR/NAME.wasm.
func buildWasm(dir string, pkgs ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("GOOS=wasip1 GOARCH=wasm go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, pkg := range pkgs {
		name := filepath.Base(pkg)
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(dir, name+".wasm")); err != nil {
			return err
		}
	}
	return nil
}

func loadTestPlugin(h *Host, name string) (*Plugin, error) {
	return loadTestPluginAs(h, name, name)
}

// loadTestPluginAs loads the test plugin built from program under another name (its argv[0]).
func loadTestPluginAs(h *Host, program, name string) (*Plugin, error) {
	wasm, err := os.ReadFile(filepath.Join(wasmDir, program+".wasm"))
	if err != nil {
		return nil, err
	}
	return h.Load(context.Background(), Manifest{Name: name, Kind: KindScanner, Version: "1.0.0", ABI: sdk.ABIVersion}, wasm)
}

type goodInput struct {
	Name      string `json:"name"`
	ReadFile  string `json:"read_file,omitempty"`
	WriteFile string `json:"write_file,omitempty"`
}

type goodOutput struct {
	Greeting  string `json:"greeting"`
	File      string `json:"file"`
	WriteErr  string `json:"write_error"`
	WriteDone bool   `json:"write_done"`
	Calls     int    `json:"calls"`
	Warm      bool   `json:"warm"`
}

func callGood(t *testing.T, in goodInput, mounts ...Mount) goodOutput {
	t.Helper()
	resp, err := good.Call(context.Background(), in, mounts...)
	if err != nil {
		t.Fatalf("good plugin: %v", err)
	}
	var out goodOutput
	if err := resp.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGoodPluginAnswersAndItsStderrIsLoggedWithItsName(t *testing.T) {
	out := callGood(t, goodInput{Name: "berth"})
	if out.Greeting != "hello berth" {
		t.Fatalf("greeting %q", out.Greeting)
	}
	log := testLog.String()
	if !strings.Contains(log, `msg="greeting berth" plugin=good`) {
		t.Fatalf("the plugin's stderr line is not in the host log with its name:\n%s", log)
	}
}

func TestEveryCallRunsOnAFreshInstance(t *testing.T) {
	for i := range 3 {
		if out := callGood(t, goodInput{Name: "again"}); out.Calls != 1 {
			t.Fatalf("call %d ran on an instance that had served %d calls", i+1, out.Calls)
		}
	}
}

func TestMountedDirectoryIsReadableButNotWritable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "os-release"), []byte("ID=debian\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := callGood(t, goodInput{Name: "fs", ReadFile: "/rootfs/os-release", WriteFile: "/rootfs/planted"}, Mount{HostDir: dir, GuestPath: "/rootfs"})
	if out.File != "ID=debian\n" {
		t.Fatalf("read %q from the mount", out.File)
	}
	if out.WriteDone || out.WriteErr == "" {
		t.Fatalf("writing into a read-only mount: done %v, error %q", out.WriteDone, out.WriteErr)
	}
	if _, err := os.Stat(filepath.Join(dir, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the plugin created a file on the host: %v", err)
	}
}

func TestPluginSeesNoHostFileWithoutAMount(t *testing.T) {
	_, err := good.Call(context.Background(), goodInput{Name: "fs", ReadFile: "/etc/passwd"})
	if !errors.Is(err, ErrExit) {
		t.Fatalf("reading /etc/passwd without a mount: %v, want %v", err, ErrExit)
	}
}

func callMisbehave(mode string) error {
	_, err := misbehave.Call(context.Background(), map[string]string{"mode": mode})
	return err
}

func TestPluginThatPanicsFailsItsCallWithThePanicMessage(t *testing.T) {
	err := callMisbehave("panic")
	if !errors.Is(err, ErrExit) || !strings.Contains(err.Error(), "assignment to entry in nil map") {
		t.Fatalf("got %v, want %v quoting the panic", err, ErrExit)
	}
	t.Log(err)
}

// unreachableModule is a hand-assembled command module whose _start executes `unreachable`:
// a real trap, which Go programs cannot produce (the Go runtime turns faults into panics).
var unreachableModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: func() -> ()
	0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
	0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // export "_start"
	0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b, // code: no locals, unreachable, end
}

func TestPluginThatTrapsFailsItsCall(t *testing.T) {
	p, err := testHost.Load(context.Background(), Manifest{Name: "trap", Kind: KindVerifier, Version: "1", ABI: sdk.ABIVersion}, unreachableModule)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Call(context.Background(), nil)
	if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("got %v, want %v saying unreachable", err, ErrTrap)
	}
	t.Log(err)
}

func TestPluginThatLoopsForeverIsStoppedAtTheCallTimeout(t *testing.T) {
	start := time.Now()
	err := callMisbehave("loop")
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want %v", err, ErrTimeout)
	}
	if elapsed > testLimits.CallTimeout+2*time.Second {
		t.Fatalf("stopped after %s, the bound is %s", elapsed, testLimits.CallTimeout)
	}
	t.Logf("%v (after %s)", err, elapsed.Round(time.Millisecond))
}

func TestPluginThatExhaustsMemoryFailsItsCallAtTheCap(t *testing.T) {
	err := callMisbehave("allocate")
	if !errors.Is(err, ErrExit) || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("got %v, want %v saying out of memory", err, ErrExit)
	}
	t.Log(err)
}

func TestPluginThatPrintsGarbageFailsWithABadResponse(t *testing.T) {
	err := callMisbehave("garbage")
	if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "this is not JSON") {
		t.Fatalf("got %v, want %v quoting the output", err, ErrBadResponse)
	}
	t.Log(err)
}

func TestPluginThatPrintsWithoutEndIsStoppedAtTheStdoutBound(t *testing.T) {
	start := time.Now()
	err := callMisbehave("flood")
	elapsed := time.Since(start)
	if !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("got %v, want %v", err, ErrOutputTooLarge)
	}
	// Stopped by the bound, not left to run into the deadline.
	if elapsed >= testLimits.CallTimeout {
		t.Fatalf("stopped after %s, no sooner than the call timeout", elapsed)
	}
	t.Logf("%v (after %s)", err, elapsed.Round(time.Millisecond))
}

func TestResponseOfAnotherABIVersionIsAnError(t *testing.T) {
	if err := callMisbehave("wrong-abi"); !errors.Is(err, ErrABIMismatch) {
		t.Fatalf("got %v, want %v", err, ErrABIMismatch)
	}
}

func TestNonZeroExitIsAnErrorWithTheCodeAndStderr(t *testing.T) {
	err := callMisbehave("exit-7")
	if !errors.Is(err, ErrExit) || !strings.Contains(err.Error(), "exit code 7") || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("got %v", err)
	}
}

func TestHandlerErrorOfAnSDKPluginIsAnError(t *testing.T) {
	// The good plugin's handler fails when the file to read does not exist.
	_, err := good.Call(context.Background(), goodInput{Name: "x", ReadFile: "/nowhere"})
	if !errors.Is(err, ErrExit) || !strings.Contains(err.Error(), fmt.Sprintf("exit code %d", sdk.ExitHandlerError)) {
		t.Fatalf("got %v", err)
	}
}

func TestCallerCancellationStopsACallAndIsReportedAsSuch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := misbehave.Call(ctx, map[string]string{"mode": "loop"})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want the caller's deadline, not the host's", err)
	}
}

// greet calls the good plugin for name and checks that its answer is name's, from an instance
// that served no call before.
func greet(p *Plugin, name string) error {
	resp, err := p.Call(context.Background(), goodInput{Name: name})
	if err != nil {
		return err
	}
	var out goodOutput
	if err := resp.Decode(&out); err != nil {
		return err
	}
	if out.Greeting != "hello "+name || out.Calls != 1 {
		return fmt.Errorf("%s: %+v", name, out)
	}
	return nil
}

func TestConcurrentCallsGetFreshInstancesAndTheirOwnAnswers(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			if err := greet(good, fmt.Sprintf("caller-%d", i)); err != nil {
				errs <- err
			}
		})
	}
	// A bad plugin running alongside must not disturb them.
	wg.Go(func() {
		if err := callMisbehave("panic"); !errors.Is(err, ErrExit) {
			errs <- fmt.Errorf("panic plugin: %v", err)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLoadRefusesAModuleThatIsNotACommand(t *testing.T) {
	// The trap module without its export: a valid module that has no _start.
	noStart := []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
		0x03, 0x02, 0x01, 0x00,
		0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b,
	}
	_, err := testHost.Load(context.Background(), Manifest{Name: "lib", Kind: KindScanner, Version: "1", ABI: sdk.ABIVersion}, noStart)
	if err == nil || !strings.Contains(err.Error(), "_start") {
		t.Fatalf("got %v", err)
	}
}

func TestMountOfAMissingDirectoryIsTheCallersError(t *testing.T) {
	_, err := good.Call(context.Background(), goodInput{Name: "x"}, Mount{HostDir: filepath.Join(t.TempDir(), "absent"), GuestPath: "/db"})
	if err == nil || !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrExit) || errors.Is(err, ErrTrap) {
		t.Fatalf("got %v", err)
	}
}
