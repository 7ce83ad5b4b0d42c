// Package e2e tests berth as a user runs it: the real binary, started on a
// free port, driven by real clients (go-containerregistry, oras-go, the OCI
// conformance suite, the AWS CLI and SDKs).
package e2e

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// berthBin is the binary under test, built once per package run.
var berthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-e2e-")
	if err != nil {
		panic(err)
	}
	berthBin = filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", berthBin, "../cmd/berth")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building berth:", err)
		os.Exit(1)
	}
	flag.Parse()
	if err := prebuildCosign(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Berth is one running berth process.
type Berth struct {
	t       testing.TB
	Addr    string // host:port
	URL     string // http://host:port
	DataDir string
	args    []string
	wrap    []string // a command berth runs under (e.g. prlimit ...), or none
	cmd     *exec.Cmd
	exited  chan error
	stderr  *strings.Builder
	errLog  *lockedWriter // guards stderr while the process writes to it
	exit    int           // exit code of the last stopped process (-1: killed or unknown)
}

// Start runs `berth serve` with a fresh data dir on a free port, plus args.
// It is stopped when the test ends.
func Start(t testing.TB, args ...string) *Berth {
	t.Helper()
	return StartUnder(t, nil, args...)
}

// StartUnder is Start with berth run by a wrapper command that execs it (the
// process keeps its pid), e.g. []string{"prlimit", "--nofile=256:256"}.
func StartUnder(t testing.TB, wrap []string, args ...string) *Berth {
	t.Helper()
	b := &Berth{t: t, DataDir: t.TempDir(), args: args, wrap: wrap}
	b.start("127.0.0.1:0")
	t.Cleanup(func() {
		if b.cmd != nil {
			b.Stop()
		}
	})
	return b
}

// StartOnDataDir runs `berth serve` on a free port over an existing data dir
// (one copied from a fixture, say), plus args. It is stopped when the test
// ends; the dir is the caller's.
func StartOnDataDir(t testing.TB, dir string, args ...string) *Berth {
	t.Helper()
	b := &Berth{t: t, DataDir: dir, args: args}
	b.start("127.0.0.1:0")
	t.Cleanup(func() {
		if b.cmd != nil {
			b.Stop()
		}
	})
	return b
}

func (b *Berth) start(addr string) {
	b.t.Helper()
	args := append([]string{"serve", "--addr", addr, "--data-dir", b.DataDir, "--log-level", "warn"}, b.args...)
	argv := append(append(append([]string{}, b.wrap...), berthBin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	b.stderr = &strings.Builder{}
	b.errLog = &lockedWriter{w: b.stderr}
	cmd.Stderr = b.errLog
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.cmd = cmd
	b.exited = make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "berth listening on "); ok {
				ready <- u
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { b.exited <- cmd.Wait() }()
	select {
	case u := <-ready:
		b.URL = u
		b.Addr = strings.TrimPrefix(u, "http://")
	case err := <-b.exited:
		b.cmd = nil
		b.t.Fatalf("berth exited before it was ready: %v\n%s", err, b.stderr)
	case <-time.After(15 * time.Second):
		b.t.Fatalf("berth did not become ready\n%s", b.Stderr())
	}
	resp, err := http.Get(b.URL + "/_berth/health")
	if err != nil || resp.StatusCode != 200 {
		b.t.Fatalf("health check: %v %v", resp, err)
	}
	resp.Body.Close()
}

// Stop sends SIGTERM and waits for a clean exit.
func (b *Berth) Stop() {
	b.t.Helper()
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-b.exited:
		b.exit = b.cmd.ProcessState.ExitCode()
		if err != nil {
			b.t.Errorf("berth exited with %v\n%s", err, b.stderr)
		}
	case <-time.After(30 * time.Second):
		b.cmd.Process.Kill()
		b.exit = -1
		b.t.Errorf("berth did not stop within 30s of SIGTERM")
	}
	b.cmd = nil
}

// Kill sends SIGKILL, as a crash would: the process dies at once, with
// requests in flight cut off and nothing shut down or flushed. StartAgain
// starts it again on the same address and data dir.
func (b *Berth) Kill() {
	b.t.Helper()
	if err := b.cmd.Process.Kill(); err != nil {
		b.t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		b.t.Fatalf("berth did not die within 30s of SIGKILL")
	}
	b.exit = -1
	b.cmd = nil
}

// ExitCode is the exit code of the process the last Stop ended (-1 if it had
// to be killed).
func (b *Berth) ExitCode() int { return b.exit }

// StartAgain starts a stopped berth on the same address and data dir.
func (b *Berth) StartAgain() {
	b.t.Helper()
	if b.cmd != nil {
		b.t.Fatal("StartAgain: berth is still running")
	}
	b.start(b.Addr)
}

// Restart stops berth and starts it again on the same address and data dir.
func (b *Berth) Restart() {
	b.t.Helper()
	addr := b.Addr
	b.Stop()
	b.start(addr)
}

// Pid is the server's process id (for resource measurements).
func (b *Berth) Pid() int { return b.cmd.Process.Pid }

// Token returns a /v2 password for account (default account if empty).
func (b *Berth) Token(account string) string {
	b.t.Helper()
	args := []string{"token", "--data-dir", b.DataDir}
	if account != "" {
		args = append(args, "--account", account)
	}
	out, err := exec.Command(berthBin, args...).Output()
	if err != nil {
		b.t.Fatalf("berth token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Stderr returns what the server logged so far.
func (b *Berth) Stderr() string {
	b.errLog.mu.Lock()
	defer b.errLog.mu.Unlock()
	return b.stderr.String()
}

type lockedWriter struct {
	mu syncMutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
