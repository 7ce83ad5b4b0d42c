package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

// distribution/distribution, the reference registry, is the durable peer:
// its filesystem storage driver fsyncs what it writes, as berth does. It is
// not a dependency of berth: the bench builds its registry command once, in a
// throwaway module of its own under the user's cache directory, and reuses
// that binary on later runs.
const (
	distModule  = "github.com/distribution/distribution/v3"
	distVersion = "v3.1.2"
)

// distCacheDir is where the throwaway module and the binary live, keyed by
// version: $XDG_CACHE_HOME/berth-bench/distribution-v3.1.2 (or
// ~/.cache/...; os.UserCacheDir elsewhere).
func distCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "berth-bench", "distribution-"+distVersion), nil
}

// distGoMod is the throwaway module's go.mod; `go build -mod=mod` fills in
// the rest of the requirements and go.sum from the module proxy.
func distGoMod() string {
	return "// Written by berth's bench (bench/distribution.go) to build the reference registry.\n" +
		"module berth-bench/distribution\n\ngo 1.26\n\nrequire " + distModule + " " + distVersion + "\n"
}

// distributionBinary returns the registry binary of distVersion from the
// cache, building it there first if it is missing (about 3 minutes on 2
// cores with an empty Go build cache). Progress goes to log.
func distributionBinary(ctx context.Context, log io.Writer) (string, error) {
	dir, err := distCacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "registry")
	if distVersionOK(ctx, bin) {
		fmt.Fprintf(log, "distribution %s: using the cached %s\n", distVersion, bin)
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(distGoMod()), 0o644); err != nil {
		return "", err
	}
	logPath := filepath.Join(dir, "build.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer lf.Close()
	fmt.Fprintf(log, "distribution %s: building %s/cmd/registry once into %s (about 3 minutes; log in %s) ...\n",
		distVersion, distModule, dir, logPath)
	start := time.Now()
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, distModule+"/cmd/registry")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"), "GOWORK=off")
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		msg := fmt.Sprintf("go build %s/cmd/registry@%s failed (%v)", distModule, distVersion, err)
		if l := lastLine(logPath); l != "" {
			msg += ": " + l
		}
		return "", errors.New(msg)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	if !distVersionOK(ctx, bin) {
		return "", fmt.Errorf("%s built but does not report version %s", bin, distVersion)
	}
	fmt.Fprintf(log, "distribution %s: built in %s\n", distVersion, time.Since(start).Round(time.Second))
	return bin, nil
}

// distVersionOK reports whether bin runs and says it is distVersion.
func distVersionOK(ctx context.Context, bin string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	return err == nil && strings.Contains(string(out), distVersion)
}

func lastLine(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// distConfig is the registry's configuration: plain HTTP on 127.0.0.1, no
// auth, the filesystem driver in dir, deletes enabled. The rest is the
// shipped example configuration's (in-memory blob descriptor cache, tag
// concurrency 8); logging is at error level with no access log, as berth runs
// with --log-level warn and ggcr with its log discarded; upload purging is
// off so that no background walk runs during a measurement.
func distConfig(dir string, port int) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
  tag:
    concurrencylimit: 8
http:
  addr: 127.0.0.1:%d
  secret: berth-bench
  headers:
    X-Content-Type-Options: [nosniff]
`, strconv.Quote(dir), port)
}

// distEnv is the environment the registry runs in: this one without
// REGISTRY_* (which would override the configuration) and OTEL_* variables,
// plus OTEL_TRACES_EXPORTER=none. distribution v3 always traces every request
// (sampling ratio 1) and by default exports the spans over OTLP to
// localhost:4318, where nothing listens here; "none" drops that export. The
// spans are still made, and still encoded for its debug logger: that is
// distribution's own cost.
func distEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REGISTRY_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "OTEL_TRACES_EXPORTER=none")
}

// startDistribution runs the registry on a free loopback port with its
// storage in dir and waits until GET /v2/ answers 200.
func startDistribution(bin, dir string) (*server, error) {
	if err := os.MkdirAll(filepath.Join(dir, "storage"), 0o755); err != nil {
		return nil, err
	}
	port, err := benchutil.FreePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(distConfig(filepath.Join(dir, "storage"), port)), 0o644); err != nil {
		return nil, err
	}
	// Its log goes to a file beside its storage: at level error (its
	// least) it still logs every 4xx answer, such as the 404 to the HEAD
	// crane sends before each manifest PUT, thousands of lines per round.
	logPath := filepath.Join(dir, "registry.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Env = distEnv()
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting distribution: %w", err)
	}
	s := benchutil.Watch("distribution", "http://127.0.0.1:"+strconv.Itoa(port), cmd)
	if err := s.WaitHTTP(s.URL+"/v2/", 20*time.Second); err != nil {
		s.Stop()
		if l := lastLine(logPath); l != "" {
			err = fmt.Errorf("%w (its log ends: %s)", err, l)
		}
		return nil, err
	}
	return s, nil
}
