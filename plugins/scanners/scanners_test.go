package scanners

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/plugins"
)

// The built-in scanner, loaded from the embedded module into a real host, as berth loads it.
var (
	host    *plugins.Host
	ospkg   *plugins.Plugin
	hostLog lockedBuffer
	// fixtureDB is the advisory index of testdata/advisories, written once for the run.
	fixtureDB string
)

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
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "berth-scanners-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	cache := filepath.Join(tmp, "cache")
	fixtureDB = filepath.Join(tmp, "index")
	if err := writeFixtureIndex(fixtureDB); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	host, err = plugins.NewHost(ctx, plugins.Config{
		CacheDir: cache,
		Logger:   slog.New(slog.NewTextHandler(&hostLog, nil)),
		Limits:   plugins.Limits{CallTimeout: 30 * time.Second},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer host.Close(ctx)
	for _, b := range Builtins() {
		manifest, err := decodeManifest(b.Manifest)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		p, err := host.Load(ctx, manifest, b.Wasm)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if manifest.Name == "ospkg" {
			ospkg = p
		}
	}
	if ospkg == nil {
		fmt.Fprintln(os.Stderr, "no built-in ospkg plugin")
		return 1
	}
	return m.Run()
}

// decodeManifest reads a manifest as the host's plugins directory does: unknown fields refused.
func decodeManifest(data []byte) (plugins.Manifest, error) {
	var m plugins.Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, err
	}
	return m, m.Validate()
}

// The scanner kind's output (plugins/ABI.md), decoded here independently of the plugin's code.
type output struct {
	Status      string `json:"status"`
	Description string `json:"description"`
	OS          *struct {
		ID        string `json:"id"`
		VersionID string `json:"versionId"`
		Ecosystem string `json:"ecosystem"`
	} `json:"os"`
	Packages *int      `json:"packages"`
	Findings []finding `json:"findings"`
}

type finding struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	URI         string `json:"uri"`
	Severity    string `json:"severity"`
	Attributes  []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"attributes"`
}

func (f finding) attr(key string) string {
	for _, a := range f.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// writeIndex lays OSV records out as scanning/osvdb's index: meta.json, and per (ecosystem,
// package name) a JSON array of the verbatim records affecting it.
func writeIndex(dir string, records [][]byte) error {
	type head struct {
		Modified string `json:"modified"`
		Affected []struct {
			Package struct {
				Ecosystem string `json:"ecosystem"`
				Name      string `json:"name"`
			} `json:"package"`
		} `json:"affected"`
	}
	files := map[string][]json.RawMessage{}
	ecosystems := map[string]bool{}
	newest := ""
	for _, rec := range records {
		var h head
		if err := json.Unmarshal(rec, &h); err != nil {
			return err
		}
		newest = max(newest, h.Modified)
		seen := map[string]bool{}
		for _, a := range h.Affected {
			p := filepath.Join(url.PathEscape(a.Package.Ecosystem), url.PathEscape(a.Package.Name)+".json")
			ecosystems[a.Package.Ecosystem] = true
			if !seen[p] {
				seen[p] = true
				files[p] = append(files[p], rec)
			}
		}
	}
	for p, recs := range files {
		data, err := json.Marshal(recs)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, p), data, 0o644); err != nil {
			return err
		}
	}
	var ecos []string
	for e := range ecosystems {
		ecos = append(ecos, e)
	}
	sort.Strings(ecos)
	meta, err := json.Marshal(map[string]any{"updatedAt": newest, "advisories": len(records), "ecosystems": ecos})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644)
}

// writeFixtureIndex writes the index of testdata/advisories.
func writeFixtureIndex(dir string) error {
	files, err := filepath.Glob("testdata/advisories/*.json")
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no fixture advisories: %v", err)
	}
	var records [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		records = append(records, data)
	}
	return writeIndex(dir, records)
}

// scanImage calls the plugin as the scanning service does: the image's extracted paths
// mounted read-only at /rootfs, the index at /db when there is one.
func scanImage(t testing.TB, rootfs, db string) output {
	t.Helper()
	input := map[string]any{
		"image": map[string]any{
			"registryId": "123456789012", "repository": "app", "digest": "sha256:" + strings.Repeat("ab", 32),
			"mediaType": "application/vnd.oci.image.manifest.v1+json",
			"platform":  map[string]string{"os": "linux", "architecture": "amd64"},
		},
		"rootfs": "/rootfs",
		"db":     "",
	}
	mounts := []plugins.Mount{{HostDir: rootfs, GuestPath: "/rootfs"}}
	if db != "" {
		input["db"] = "/db"
		mounts = append(mounts, plugins.Mount{HostDir: db, GuestPath: "/db"})
	}
	resp, err := ospkg.Call(context.Background(), input, mounts...)
	if err != nil {
		t.Fatalf("scan of %s: %v", rootfs, err)
	}
	var out output
	if err := resp.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Packages == nil || out.Findings == nil {
		t.Fatalf("output without packages or findings: %s", resp.Output)
	}
	return out
}

func summary(fs []finding) []string {
	var s []string
	for _, f := range fs {
		s = append(s, fmt.Sprintf("%s %s %s %s", f.Name, f.Severity, f.attr("package_name"), f.attr("package_version")))
	}
	return s
}

func TestBuiltinManifestIsAValidScannerDeclaringTheOSPackagePaths(t *testing.T) {
	builtins := Builtins()
	if len(builtins) != 1 {
		t.Fatalf("%d built-ins", len(builtins))
	}
	m, err := decodeManifest(builtins[0].Manifest)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"etc/os-release", "usr/lib/os-release", "var/lib/dpkg/status", "var/lib/dpkg/status.d/*", "lib/apk/db/installed"}
	if m.Name != "ospkg" || m.Kind != plugins.KindScanner || !slices.Equal(m.Paths, want) {
		t.Fatalf("manifest %+v", m)
	}
	if !bytes.HasPrefix(builtins[0].Wasm, []byte("\x00asm")) {
		t.Fatal("the embedded module is not WebAssembly")
	}
}

func TestDebianImageHasAFindingForItsVulnerablePackageAndNoneForItsFixedOne(t *testing.T) {
	out := scanImage(t, "testdata/rootfs/debian", fixtureDB)
	if out.Status != "COMPLETE" || out.Description != "The scan was completed successfully." || *out.Packages != 4 {
		t.Fatalf("status %s %q, %d packages", out.Status, out.Description, *out.Packages)
	}
	if out.OS == nil || out.OS.ID != "debian" || out.OS.VersionID != "12" || out.OS.Ecosystem != "Debian:12" {
		t.Fatalf("os %+v", out.OS)
	}
	// openssh's two binary packages and its DSA make one finding; glibc is fixed; the withdrawn
	// advisory matches nothing.
	if got := summary(out.Findings); !slices.Equal(got, []string{"CVE-2024-6387 HIGH openssh 1:9.2p1-2+deb12u2"}) {
		t.Fatalf("findings %q", got)
	}
	f := out.Findings[0]
	if f.attr("CVSS3_SCORE") != "8.1" || f.attr("CVSS3_VECTOR") != "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H" ||
		f.URI != "https://security-tracker.debian.org/tracker/CVE-2024-6387" || !strings.Contains(f.Description, "sshd") {
		t.Fatalf("finding %+v", f)
	}
}

func TestDistrolessImageIsReadFromStatusD(t *testing.T) {
	out := scanImage(t, "testdata/rootfs/distroless", fixtureDB)
	if out.Status != "COMPLETE" || *out.Packages != 3 {
		t.Fatalf("status %s, %d packages", out.Status, *out.Packages)
	}
	if got := summary(out.Findings); !slices.Equal(got, []string{"CVE-2023-4911 HIGH glibc 2.36-9+deb12u1"}) {
		t.Fatalf("findings %q", got)
	}
	if f := out.Findings[0]; f.attr("CVSS3_SCORE") != "7.8" {
		t.Fatalf("finding %+v", f)
	}
}

func TestAlpineImageIsMatchedByOriginWithApkVersionOrder(t *testing.T) {
	out := scanImage(t, "testdata/rootfs/alpine", fixtureDB)
	if out.Status != "COMPLETE" || *out.Packages != 4 || out.OS == nil || out.OS.Ecosystem != "Alpine:v3.17" {
		t.Fatalf("got %+v", out)
	}
	// OSV's record carries no severity: UNDEFINED, never a guess.
	if got := summary(out.Findings); !slices.Equal(got, []string{"CVE-2022-3996 UNDEFINED openssl 3.0.7-r0"}) {
		t.Fatalf("findings %q", got)
	}
	if f := out.Findings[0]; f.URI != "https://security.alpinelinux.org/vuln/CVE-2022-3996" || len(f.Attributes) != 2 {
		t.Fatalf("finding %+v", f)
	}
	fixed := scanImage(t, "testdata/rootfs/alpine-fixed", fixtureDB)
	if fixed.Status != "COMPLETE" || *fixed.Packages != 4 || len(fixed.Findings) != 0 {
		t.Fatalf("openssl at its fixed version 3.0.7-r2: %+v", fixed)
	}
}

func TestUnknownOperatingSystemIsAnUnsupportedImage(t *testing.T) {
	out := scanImage(t, "testdata/rootfs/unknown", fixtureDB)
	if out.Status != "UNSUPPORTED_IMAGE" || out.OS != nil || len(out.Findings) != 0 ||
		out.Description != "UnsupportedImageError: The operating system and/or package manager are not supported." {
		t.Fatalf("got %+v", out)
	}
	// So is an image with nothing the manifest asks for (built from scratch).
	if out := scanImage(t, t.TempDir(), fixtureDB); out.Status != "UNSUPPORTED_IMAGE" {
		t.Fatalf("empty rootfs: %+v", out)
	}
}

func TestWithoutADatabaseTheScanCompletesAndSaysSo(t *testing.T) {
	out := scanImage(t, "testdata/rootfs/debian", "")
	if out.Status != "COMPLETE" || len(out.Findings) != 0 ||
		out.Description != "No advisory database is configured; 4 packages were read but not checked." {
		t.Fatalf("got %+v", out)
	}
}

func TestAMissingMountFailsTheCallInsteadOfReportingAnEmptyImage(t *testing.T) {
	_, err := ospkg.Call(context.Background(), map[string]string{"rootfs": "/rootfs", "db": ""})
	if !errors.Is(err, plugins.ErrExit) || !strings.Contains(err.Error(), "input rootfs") {
		t.Fatalf("got %v", err)
	}
	_, err = ospkg.Call(context.Background(), map[string]string{"rootfs": "/rootfs", "db": "/db"},
		plugins.Mount{HostDir: "testdata/rootfs/debian", GuestPath: "/rootfs"})
	if !errors.Is(err, plugins.ErrExit) || !strings.Contains(err.Error(), "input db") {
		t.Fatalf("got %v", err)
	}
	// A database mount that is no index (no meta.json) fails the scan too.
	_, err = ospkg.Call(context.Background(), map[string]string{"rootfs": "/rootfs", "db": "/db"},
		plugins.Mount{HostDir: "testdata/rootfs/debian", GuestPath: "/rootfs"},
		plugins.Mount{HostDir: t.TempDir(), GuestPath: "/db"})
	if !errors.Is(err, plugins.ErrExit) || !strings.Contains(err.Error(), "meta.json") {
		t.Fatalf("got %v", err)
	}
}
