package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
)

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "berth ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run(nil, &out, &errOut); err == nil {
		t.Error("no command accepted")
	}
	if err := run([]string{"frobnicate"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
}

// berth token signs with the data dir's secret, so a server on that dir accepts it.
func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	if _, err := core.LoadOrCreateSecret(dir); err != nil { // as berth serve does on first start
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"token", "--data-dir", dir, "--account", "123456789012", "--region", "eu-west-1"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	if strings.Contains(tok, ":") {
		t.Fatalf("token %q contains ':'", tok)
	}
	secret, err := core.LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := core.NewTokens(secret, nil).Verify(tok)
	if err != nil || claims.Registry != (core.RegistryID{Account: "123456789012", Region: "eu-west-1"}) || claims.Principal != "arn:aws:iam::123456789012:root" {
		t.Fatalf("Verify = %v, %v", claims, err)
	}
	if err := run([]string{"token", "--data-dir", dir, "--account", "12"}, &out, &out); err == nil {
		t.Error("a 2-digit account was accepted")
	}

	// A token for a configured user acts as that user on /v2.
	out.Reset()
	alice := "arn:aws:iam::111111111111:user/alice"
	if err := run([]string{"token", "--data-dir", dir, "--principal", alice}, &out, &out); err != nil {
		t.Fatal(err)
	}
	claims, err = core.NewTokens(secret, nil).Verify(strings.TrimSpace(out.String()))
	if err != nil || claims.Principal != alice || claims.Registry.Account != "111111111111" {
		t.Fatalf("--principal: Verify = %+v, %v", claims, err)
	}
	if err := run([]string{"token", "--data-dir", dir, "--principal", alice, "--account", "222222222222"}, &out, &out); err == nil {
		t.Error("a principal of another account than --account was accepted")
	}
	if err := run([]string{"token", "--data-dir", dir, "--principal", "alice"}, &out, &out); err == nil {
		t.Error("a principal that is not an ARN was accepted")
	}
}

// berth token run where no berth keeps its state (another directory than
// the server's) refuses, saying where it looked and how to point it at the
// server's data dir, instead of creating a secret the server does not have
// and printing a token it rejects.
func TestTokenRefusesADataDirWithoutSecret(t *testing.T) {
	empty, missing := t.TempDir(), filepath.Join(t.TempDir(), "missing")
	for _, dir := range []string{empty, missing} {
		var out, errOut bytes.Buffer
		err := run([]string{"token", "--data-dir", dir}, &out, &errOut)
		if err == nil {
			t.Fatalf("token in %s printed %q", dir, out.String())
		}
		for _, want := range []string{dir, "--data-dir", "BERTH_DATA_DIR"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
		if out.Len() != 0 {
			t.Errorf("printed %q", out.String())
		}
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("token wrote %d entries into the data dir", len(entries))
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("token created the data dir (%v)", err)
	}
}

func TestServeRejectsBadFlags(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"serve", "--memory", "--log-format", "xml"},
		{"serve", "--memory", "--log-level", "loud"},
		{"serve", "--memory", "--default-account", "abc"},
		{"serve", "--memory", "--uri-style", "fancy"},
		{"serve", "--memory", "--max-uploads", "0"},
		{"serve", "--memory", "--max-uploads", "many"},
		{"serve", "--memory", "--body-idle-timeout", "0s"},
		{"serve", "--memory", "--body-idle-timeout", "soon"},
		{"serve", "--no-such-flag"},
	} {
		if err := run(args, &out, &out); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// A malformed --iam-config (or BERTH_IAM_CONFIG) stops berth serve before
// it listens, naming the file, the line and the reason.
func TestServeWithAMalformedIAMConfigFailsWithItsLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iam.yaml")
	if err := os.WriteFile(path, []byte("accounts:\n  - id: '111111111111'\n  - id: '12345'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := path + `:3: account id "12345" is not 12 digits`
	var out bytes.Buffer
	err := run([]string{"serve", "--memory", "--addr", "127.0.0.1:0", "--iam-config", path}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("--iam-config: %v, want an error with %q", err, want)
	}
	t.Setenv("BERTH_IAM_CONFIG", path)
	err = run([]string{"serve", "--memory", "--addr", "127.0.0.1:0"}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("BERTH_IAM_CONFIG: %v, want an error with %q", err, want)
	}
	if strings.Contains(out.String(), "listening") {
		t.Errorf("berth announced an address: %q", out.String())
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	t.Setenv("BERTH_REGION", "ap-south-1")
	t.Setenv("BERTH_MEMORY", "true")
	if env("REGION", "us-east-1") != "ap-south-1" || !envBool("MEMORY") {
		t.Error("BERTH_* variables are not read")
	}
	t.Setenv("BERTH_MEMORY", "no")
	if envBool("MEMORY") {
		t.Error("BERTH_MEMORY=no read as true")
	}
}

// announceThenStop sends the process a SIGTERM while berth is still printing
// its address, and gives the signal time to arrive before the print returns.
type announceThenStop struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	sent bool
	err  error
}

func (w *announceThenStop) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent && strings.Contains(w.buf.String(), "berth listening on ") {
		w.sent = true
		self, err := os.FindProcess(os.Getpid())
		if err == nil {
			err = self.Signal(syscall.SIGTERM)
		}
		w.err = err
		time.Sleep(200 * time.Millisecond)
	}
	return len(p), nil
}

// A SIGTERM that arrives as soon as berth serve prints its address shuts it
// down cleanly: serve returns nil instead of the process being killed.
func TestServeStopsCleanlyOnSignalRightAfterAnnouncingItsAddress(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM to send on windows")
	}
	out := &announceThenStop{}
	done := make(chan error, 1)
	go func() { done <- run([]string{"serve", "--memory", "--addr", "127.0.0.1:0"}, out, io.Discard) }()
	select {
	case err := <-done:
		out.mu.Lock()
		defer out.mu.Unlock()
		if out.err != nil {
			t.Fatalf("sending SIGTERM: %v", out.err)
		}
		if !out.sent {
			t.Fatalf("serve returned %v without announcing its address: %q", err, out.buf.String())
		}
		if err != nil {
			t.Fatalf("serve stopped by SIGTERM returned %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

// Listening on every interface, berth announces a URL a client can use
// (not http://[::]:PORT) and says that it listens on all interfaces.
func TestServeOnAllInterfacesAnnouncesAReachableURL(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM to send on windows")
	}
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		out := &announceThenStop{}
		var logs bytes.Buffer
		if err := run([]string{"serve", "--memory", "--addr", addr}, out, &logs); err != nil {
			t.Fatalf("--addr %s: %v", addr, err)
		}
		announced := out.buf.String()
		url, _, _ := strings.Cut(strings.TrimPrefix(announced, "berth listening on "), "\n")
		if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.TrimPrefix(url, "http://127.0.0.1:") == "0" {
			t.Errorf("--addr %s announced %q, want http://127.0.0.1:PORT", addr, announced)
		}
		if !strings.Contains(announced, "all interfaces") {
			t.Errorf("--addr %s: %q does not say berth listens on all interfaces", addr, announced)
		}
		if !strings.Contains(logs.String(), "endpoint="+url) || !strings.Contains(logs.String(), "interfaces=all") {
			t.Errorf("--addr %s logged %q, want endpoint=%s and interfaces=all", addr, logs.String(), url)
		}
	}
}

// -h and --help on a command print its flags and succeed.
func TestCommandHelpPrintsFlagsAndSucceeds(t *testing.T) {
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"serve", "-h"}, "-addr"},
		{[]string{"serve", "--help"}, "-data-dir"},
		{[]string{"serve", "--help"}, "-iam-config"},
		{[]string{"token", "-h"}, "-account"},
		{[]string{"token", "--help"}, "-data-dir"},
	} {
		var out, errOut bytes.Buffer
		if err := run(c.args, &out, &errOut); err != nil {
			t.Errorf("%v: %v", c.args, err)
		}
		if help := out.String() + errOut.String(); !strings.Contains(help, c.flag) {
			t.Errorf("%v printed %q, want the flags (%s)", c.args, help, c.flag)
		}
	}
}

// Numeric flags take their BERTH_* variable, parsed as the flag would be; the
// command line wins, and a malformed variable is refused.
func TestFlagsFromEnvironment(t *testing.T) {
	parse := func(args ...string) (int, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		n := fs.Int("max-uploads", 1000, "")
		if err := setFromEnv(fs, "max-uploads"); err != nil {
			return 0, err
		}
		return *n, fs.Parse(args)
	}
	t.Setenv("BERTH_MAX_UPLOADS", "7")
	if n, err := parse(); err != nil || n != 7 {
		t.Errorf("BERTH_MAX_UPLOADS=7: %d, %v", n, err)
	}
	if n, err := parse("--max-uploads", "9"); err != nil || n != 9 {
		t.Errorf("BERTH_MAX_UPLOADS=7 --max-uploads 9: %d, %v", n, err)
	}
	t.Setenv("BERTH_MAX_UPLOADS", "lots")
	if _, err := parse(); err == nil || !strings.Contains(err.Error(), "BERTH_MAX_UPLOADS") {
		t.Errorf("BERTH_MAX_UPLOADS=lots: %v, want an error naming the variable", err)
	}
}

// --lifecycle-interval (BERTH_LIFECYCLE_INTERVAL) is a duration, 0 or
// positive; berth refuses anything else before it listens.
func TestServeRefusesABadLifecycleInterval(t *testing.T) {
	err := run([]string{"serve", "--memory", "--addr", "127.0.0.1:0", "--lifecycle-interval", "-1m"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--lifecycle-interval") {
		t.Errorf("--lifecycle-interval -1m: %v, want an error naming the flag", err)
	}
	t.Setenv("BERTH_LIFECYCLE_INTERVAL", "soon")
	err = run([]string{"serve", "--memory", "--addr", "127.0.0.1:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "BERTH_LIFECYCLE_INTERVAL") {
		t.Errorf("BERTH_LIFECYCLE_INTERVAL=soon: %v, want an error naming the variable", err)
	}
}

// --ptc-refresh (BERTH_PTC_REFRESH) is a duration, 0 or positive, and an
// unusable --ptc-credentials file (BERTH_PTC_CREDENTIALS) stops berth before
// it listens, naming the file and what is wrong with it.
func TestServeRefusesBadPullThroughSettings(t *testing.T) {
	err := run([]string{"serve", "--memory", "--addr", "127.0.0.1:0", "--ptc-refresh", "-1h"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--ptc-refresh") {
		t.Errorf("--ptc-refresh -1h: %v, want an error naming the flag", err)
	}
	t.Setenv("BERTH_PTC_REFRESH", "daily")
	err = run([]string{"serve", "--memory", "--addr", "127.0.0.1:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "BERTH_PTC_REFRESH") {
		t.Errorf("BERTH_PTC_REFRESH=daily: %v, want an error naming the variable", err)
	}
	os.Unsetenv("BERTH_PTC_REFRESH")
	path := filepath.Join(t.TempDir(), "ptc.yaml")
	if err := os.WriteFile(path, []byte("docker-hub:\n  username: u\n  accessToken: t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	t.Setenv("BERTH_PTC_CREDENTIALS", path)
	err = run([]string{"serve", "--memory", "--addr", "127.0.0.1:0"}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "'docker-hub' is not the ARN") {
		t.Errorf("a credentials file keyed by a name: %v", err)
	}
	if strings.Contains(out.String(), "listening") {
		t.Errorf("berth announced an address: %q", out.String())
	}
}
