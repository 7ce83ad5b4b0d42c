package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func scanningConfig(t *testing.T, log *syncBuffer) Config {
	cfg := Defaults()
	cfg.Memory = true
	cfg.Log = slog.New(slog.NewTextHandler(log, nil))
	return cfg
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Plugins that cannot load are reported and skipped; berth starts.
func TestPluginsThatDoNotLoadAreReportedAndBerthStarts(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "orphan.json", `{"name":"orphan","kind":"scanner","version":"1","abi":1}`)
	write(t, dir, "typo.wasm", "\x00asm")
	write(t, dir, "typo.json", `{"name":"typo","kind":"scanner","version":"1","abi":1,"path":["etc/os-release"]}`)
	write(t, dir, "renamed.wasm", "\x00asm")
	write(t, dir, "renamed.json", `{"name":"other","kind":"scanner","version":"1","abi":1}`)
	write(t, dir, "garbage.wasm", "not a wasm module")
	write(t, dir, "garbage.json", `{"name":"garbage","kind":"scanner","version":"1","abi":1,"paths":["etc/os-release"]}`)
	var log syncBuffer
	cfg := scanningConfig(t, &log)
	cfg.PluginsDir = dir
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	for _, want := range []string{
		"orphan.json", "manifest without a module: no orphan.wasm",
		"typo.json", `unknown field \"path\"`,
		"renamed.json", `manifest names the plugin \"other\", its file \"renamed\"`,
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, log.String())
		}
	}
	// The module that does not compile is reported once its compilation,
	// in the background, fails.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "garbage.wasm") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "plugin not loaded; scans go on without it") || !strings.Contains(log.String(), "garbage.wasm") {
		t.Errorf("the module that does not compile was not reported:\n%s", log.String())
	}
	names := []string{}
	for _, sc := range srv.scanning.Scanners() {
		names = append(names, sc.Name)
	}
	if strings.Join(names, ",") != "ospkg,garbage" {
		t.Errorf("scanners %v: the built-in and the plugin whose manifest is good (its scans skip it)", names)
	}
}

func TestScanSettingsBerthCannotUseStopItStarting(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "scan.yaml", "rules:\n  - repositories: \"*\"\n    scanners: [nope]\n")
	for _, c := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.ScanConfig = filepath.Join(dir, "scan.yaml") }, `--scan-config: ` + filepath.Join(dir, "scan.yaml") + `: rule 1: no scanner named "nope" is loaded (loaded: [ospkg])`},
		{func(c *Config) { c.ScanDB = filepath.Join(dir, "missing") }, "--scan-db: "},
		{func(c *Config) { c.PluginsDir = filepath.Join(dir, "missing") }, "--plugins-dir: reading plugins directory"},
	} {
		var log syncBuffer
		cfg := scanningConfig(t, &log)
		c.set(&cfg)
		srv, err := New(cfg)
		if err == nil {
			srv.Shutdown(context.Background())
			t.Errorf("%s: berth started", c.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}
