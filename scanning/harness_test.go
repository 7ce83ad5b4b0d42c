package scanning

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/sdk"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// The test scanners are Go programs built for wasip1 once per run: the
// example banned-packages scanner, and "scripted", which does what the
// image it scans tells it to (testdata/scripted).
var (
	testHost *plugins.Host
	wasm     = map[string][]byte{}
)

// testLimits keep the faulty scans short: 64 MiB, 3 s.
var testLimits = plugins.Limits{MemoryPages: 1024, CallTimeout: 3 * time.Second}

// Paths the test scanners read.
var (
	bannedPaths   = []string{"var/lib/dpkg/status", "var/lib/dpkg/status.d/*", "lib/apk/db/installed"}
	scriptedPaths = []string{"etc/berth-script.json"}
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "berth-scanning-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	for name, pkg := range map[string]string{"banned": "../examples/scanner-banned-packages", "scripted": "./testdata/scripted"} {
		out := filepath.Join(tmp, name+".wasm")
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, b)
			return 1
		}
		if wasm[name], err = os.ReadFile(out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ctx := context.Background()
	testHost, err = plugins.NewHost(ctx, plugins.Config{CacheDir: filepath.Join(tmp, "cache"), Logger: slog.New(slog.DiscardHandler), Limits: testLimits})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testHost.Close(ctx)
	return m.Run()
}

// loadScanner compiles one of the test modules under a scanner name.
func loadScanner(t testing.TB, module, name string, paths []string) Scanner {
	t.Helper()
	p, err := testHost.Load(context.Background(), plugins.Manifest{Name: name, Kind: plugins.KindScanner, Version: "1.0.0", ABI: sdk.ABIVersion}, wasm[module])
	if err != nil {
		t.Fatal(err)
	}
	return Scanner{Name: name, Paths: paths, Plugin: p}
}

var reg = coretest.RegA

// fixture is a registry with scanning wired in as berth's server wires it.
type fixture struct {
	*coretest.Fixture
	t   *testing.T
	svc *Service
}

func newFixture(t *testing.T, cfg Config) *fixture {
	f := &fixture{Fixture: coretest.New(t, coretest.Memory, coretest.Options{}), t: t}
	if cfg.Clock == nil {
		cfg.Clock = f.Clock
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	f.Wire(func(r *core.Registry) func() {
		f.svc = New(r, cfg)
		f.svc.Subscribe(r.Bus())
		return f.svc.Close
	})
	return f
}

// settle waits for scans on push and those StartScan started.
func (f *fixture) settle() {
	f.t.Helper()
	f.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.svc.Wait(ctx); err != nil {
		f.t.Fatalf("scans did not finish: %v", err)
	}
}

func (f *fixture) findings(repo string, dg digest.Digest) Result {
	f.t.Helper()
	r, err := f.svc.Findings(context.Background(), reg, repo, dg)
	if err != nil {
		f.t.Fatalf("Findings(%s@%s): %v", repo, dg, err)
	}
	return r
}

// entry is a file, directory, symlink or whiteout in a layer.
type entry struct {
	name, body string
	link       string // a symlink's target
}

func tarOf(entries ...entry) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		switch {
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return b.Bytes()
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func zstded(b []byte) []byte {
	zw, _ := zstd.NewWriter(nil)
	return zw.EncodeAll(b, nil)
}

// layer is a layer blob and its media type.
type layer struct {
	mediaType string
	data      []byte
}

func gzipLayer(entries ...entry) layer {
	return layer{"application/vnd.oci.image.layer.v1.tar+gzip", gzipped(tarOf(entries...))}
}

func zstdLayer(entries ...entry) layer {
	return layer{"application/vnd.oci.image.layer.v1.tar+zstd", zstded(tarOf(entries...))}
}

// pushImage pushes a linux/amd64 image of the layers, bottom first.
func (f *fixture) pushImage(repo, tag string, layers ...layer) coretest.Pushed {
	f.t.Helper()
	return f.PushManifest(reg, repo, tag, f.buildImage(repo, layers...))
}

func (f *fixture) buildImage(repo string, layers ...layer) coretest.Manifest {
	f.t.Helper()
	doc := coretest.Document{MediaType: core.MediaTypeOCIManifest}
	var diffIDs []string
	for _, l := range layers {
		doc.Layers = append(doc.Layers, f.PushBlob(reg, repo, l.data, l.mediaType))
		diffIDs = append(diffIDs, digest.FromBytes(l.data).String())
	}
	config, _ := json.Marshal(map[string]any{"os": "linux", "architecture": "amd64",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cfg := f.PushBlob(reg, repo, config, coretest.MediaTypeConfig)
	doc.Config = &cfg
	return doc.Build()
}

// script is the scripted scanner's instructions, per scanner name.
func script(steps map[string]any) entry {
	b, _ := json.Marshal(steps)
	return entry{name: "etc/berth-script.json", body: string(b)}
}

func scanOnPush(r *core.Repository) { r.ScanOnPush = true }

func mkdir(dir, name string) error { return os.Mkdir(filepath.Join(dir, name), 0o755) }
