package scanning

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/sdk"
)

const dpkgStatus = `Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u4

Package: telnetd
Status: install ok installed
Version: 0.17+2.4-2

Package: tcpdump
Status: deinstall ok config-files
Version: 4.99.3-1
`

const apkInstalled = `C:Q1abc=
P:musl
V:1.2.5-r0

C:Q1def=
P:busybox-extras
V:1.36.1-r29
`

func names(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func TestScanOnPushReportsBannedDpkgPackagesThatAreInstalled(t *testing.T) {
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}})
	f.CreateRepository(reg, "app", scanOnPush)
	img := f.pushImage("app", "v1", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}, entry{name: "etc/hostname", body: "x"}))
	f.settle()
	r := f.findings("app", img.Digest)
	if r.Status != StatusComplete || r.Description != describeComplete {
		t.Fatalf("status %s %q", r.Status, r.Description)
	}
	// tcpdump is banned too, but only its config files are left.
	if got := names(r.Findings); !slices.Equal(got, []string{"BANNED-telnetd"}) {
		t.Fatalf("findings %v", got)
	}
	fd := r.Findings[0]
	if fd.Severity != "HIGH" || fd.Attr("package_name") != "telnetd" || fd.Attr("package_version") != "0.17+2.4-2" || fd.Scanner != "banned" {
		t.Errorf("finding %+v", fd)
	}
	if r.Counts["HIGH"] != 1 || len(r.Counts) != 1 {
		t.Errorf("counts %v", r.Counts)
	}
	if !r.CompletedAt.Equal(coretest.Start) || !r.SourceUpdatedAt.IsZero() {
		t.Errorf("completed at %v, source updated at %v (no database is configured)", r.CompletedAt, r.SourceUpdatedAt)
	}
	if r.Platform != (Platform{OS: "linux", Architecture: "amd64"}) {
		t.Errorf("platform %+v", r.Platform)
	}
}

func TestApkDatabaseInAZstdLayerIsRead(t *testing.T) {
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}})
	f.CreateRepository(reg, "alpine", scanOnPush)
	img := f.pushImage("alpine", "3.20", gzipLayer(entry{name: "etc/alpine-release", body: "3.20.3\n"}),
		zstdLayer(entry{name: "lib/apk/db/installed", body: apkInstalled}))
	f.settle()
	r := f.findings("alpine", img.Digest)
	if r.Status != StatusComplete || !slices.Equal(names(r.Findings), []string{"BANNED-busybox-extras"}) {
		t.Fatalf("%s %q %v", r.Status, r.Description, names(r.Findings))
	}
	if v := r.Findings[0].Attr("package_version"); v != "1.36.1-r29" {
		t.Errorf("version %q", v)
	}
}

func TestWhiteoutDeletingThePackageDatabaseMakesTheImageUnsupported(t *testing.T) {
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}})
	f.CreateRepository(reg, "app", scanOnPush)
	img := f.pushImage("app", "v1", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}),
		gzipLayer(entry{name: "var/lib/dpkg/.wh.status"}))
	f.settle()
	r := f.findings("app", img.Digest)
	want := "UnsupportedImageError: The operating system and/or package manager are not supported."
	if r.Status != StatusUnsupported || r.Description != want || len(r.Findings) != 0 {
		t.Fatalf("%s %q %v", r.Status, r.Description, r.Findings)
	}
}

func TestIndexesAndArtifactsAreUnsupportedImages(t *testing.T) {
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}})
	f.CreateRepository(reg, "app", scanOnPush)
	child := f.pushImage("app", "", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}))
	index := f.PushIndex(reg, "app", "multi", child)
	sbom := f.PushReferrer(reg, "app", child.Descriptor(), "application/spdx+json", "sbom")
	f.settle()
	for _, c := range []struct {
		img       coretest.Pushed
		mediaType string
	}{{index, core.MediaTypeOCIIndex}, {sbom, "application/spdx+json"}} {
		r := f.findings("app", c.img.Digest)
		want := "An artifact with media type '" + c.mediaType + "' cannot be scanned. For more information, see the Amazon ECR documentation."
		if r.Status != StatusUnsupported || r.Description != want {
			t.Errorf("%s: %s %q", c.mediaType, r.Status, r.Description)
		}
		// StartImageScan refuses them and changes nothing.
		_, err := f.svc.StartScan(context.Background(), reg, "app", c.img.Image)
		var unsupported *UnsupportedImageError
		if !errors.As(err, &unsupported) || unsupported.Error() != want {
			t.Errorf("StartScan of %s: %v", c.mediaType, err)
		}
	}
	if r := f.findings("app", child.Digest); r.Status != StatusComplete {
		t.Errorf("the index's image: %s %q", r.Status, r.Description)
	}
}

func TestAFaultyScannerFailsItsScanAndNothingElse(t *testing.T) {
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "scripted", "faulty", scriptedPaths)}, Workers: 4})
	f.CreateRepository(reg, "app", scanOnPush)
	want := map[string]string{
		"panic":    "exit code 2",
		"loop":     "plugin ran out of time",
		"allocate": "", // out of memory (exit code 2), or out of time first on a busy machine
		"garbage":  "plugin response is not valid",
	}
	pushed := map[string]coretest.Pushed{}
	start := time.Now()
	for fault := range want {
		// The push returns before the scan has even started.
		pushed[fault] = f.pushImage("app", fault, gzipLayer(script(map[string]any{"faulty": map[string]string{"fault": fault}})))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("four pushes took %s: they waited for their scans", d)
	}
	f.settle()
	for fault, text := range want {
		r := f.findings("app", pushed[fault].Digest)
		if r.Status != StatusFailed || !strings.HasPrefix(r.Description, "The scan failed: plugin faulty: ") || !strings.Contains(r.Description, text) {
			t.Errorf("%s: %s %q", fault, r.Status, r.Description)
		} else if text == "" && !strings.Contains(r.Description, "exit code 2") && !strings.Contains(r.Description, "ran out of time") {
			t.Errorf("%s: %s %q", fault, r.Status, r.Description)
		}
	}
	// The registry goes on serving, and the next scan works.
	ok := f.pushImage("app", "ok", gzipLayer(script(map[string]any{"faulty": map[string]any{"output": map[string]any{"status": "COMPLETE", "findings": []any{}}}})))
	f.settle()
	if r := f.findings("app", ok.Digest); r.Status != StatusComplete {
		t.Errorf("after the faults: %s %q", r.Status, r.Description)
	}
}

func TestScannerOutputThatIsNotAScanResultFailsTheScan(t *testing.T) {
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "scripted", "s", scriptedPaths)}})
	f.CreateRepository(reg, "app", scanOnPush)
	for i, c := range []struct {
		output any
		want   string
	}{
		{map[string]any{"status": "DONE"}, `returned status "DONE"`},
		{map[string]any{"status": "COMPLETE", "findings": []any{map[string]any{"name": "CVE-1", "severity": "SEVERE"}}}, `severity "SEVERE" for CVE-1`},
		{map[string]any{"status": "COMPLETE", "findings": []any{map[string]any{"severity": "LOW"}}}, "finding 1 without a name"},
		{[]int{1, 2}, "not a scan result"},
	} {
		img := f.pushImage("app", fmt.Sprint("t", i), gzipLayer(script(map[string]any{"s": map[string]any{"output": c.output}})))
		f.settle()
		if r := f.findings("app", img.Digest); r.Status != StatusFailed || !strings.Contains(r.Description, c.want) {
			t.Errorf("%v: %s %q", c.output, r.Status, r.Description)
		}
	}
}

func finding(name, severity, pkg string) map[string]any {
	return map[string]any{"name": name, "severity": severity, "attributes": []map[string]string{{"key": "package_name", "value": pkg}}}
}

func TestFindingsOfSeveralScannersAreMergedAndReportedOnce(t *testing.T) {
	a := loadScanner(t, "scripted", "a", scriptedPaths)
	b := loadScanner(t, "scripted", "b", scriptedPaths)
	f := newFixture(t, Config{Scanners: []Scanner{a, b}})
	f.CreateRepository(reg, "app", scanOnPush)
	img := f.pushImage("app", "v1", gzipLayer(script(map[string]any{
		"a": map[string]any{"output": map[string]any{"status": "COMPLETE", "description": "2 packages read.",
			"findings": []any{finding("CVE-2024-1", "UNDEFINED", "openssl"), finding("CVE-2024-2", "LOW", "zlib")}}},
		"b": map[string]any{"output": map[string]any{"status": "COMPLETE",
			"findings": []any{finding("CVE-2024-1", "CRITICAL", "openssl"), finding("CVE-2024-1", "HIGH", "libssl3"), finding("CVE-2024-2", "MEDIUM", "zlib")}}},
	})))
	f.settle()
	r := f.findings("app", img.Digest)
	var got []string
	for _, fd := range r.Findings {
		got = append(got, fd.Name+"/"+fd.Attr("package_name")+"/"+fd.Severity+"/"+fd.Scanner)
	}
	// Same name and package once: a's, unless only b knew the severity.
	want := []string{"CVE-2024-1/openssl/CRITICAL/b", "CVE-2024-1/libssl3/HIGH/b", "CVE-2024-2/zlib/LOW/a"}
	if !slices.Equal(got, want) {
		t.Fatalf("findings\n got %v\nwant %v", got, want)
	}
	if r.Counts["CRITICAL"] != 1 || r.Counts["HIGH"] != 1 || r.Counts["LOW"] != 1 || len(r.Counts) != 3 {
		t.Errorf("counts %v", r.Counts)
	}
	if r.Description != "The scan was completed successfully. a: 2 packages read." {
		t.Errorf("description %q", r.Description)
	}
}

func TestOneScannerFailingFailsTheWholeScan(t *testing.T) {
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "scripted", "a", scriptedPaths), loadScanner(t, "scripted", "b", scriptedPaths)}})
	f.CreateRepository(reg, "app", scanOnPush)
	img := f.pushImage("app", "v1", gzipLayer(script(map[string]any{
		"a": map[string]any{"output": map[string]any{"status": "COMPLETE", "findings": []any{finding("CVE-1", "LOW", "x")}}},
		"b": map[string]any{"fault": "panic"},
	})))
	f.settle()
	if r := f.findings("app", img.Digest); r.Status != StatusFailed || !strings.Contains(r.Description, "plugin b") || len(r.Findings) != 0 {
		t.Fatalf("%s %q %v", r.Status, r.Description, r.Findings)
	}
}

func TestScanConfigSelectsTheScannersOfARepository(t *testing.T) {
	a := loadScanner(t, "scripted", "a", scriptedPaths)
	b := loadScanner(t, "scripted", "b", scriptedPaths)
	sel, err := ParseSelection([]byte("rules:\n  - repositories: \"team-a/*\"\n    scanners: [b]\n"), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Config{Scanners: []Scanner{a, b}, Selection: sel})
	steps := script(map[string]any{
		"a": map[string]any{"output": map[string]any{"status": "COMPLETE", "findings": []any{finding("FROM-A", "LOW", "x")}}},
		"b": map[string]any{"output": map[string]any{"status": "COMPLETE", "findings": []any{finding("FROM-B", "LOW", "x")}}},
	})
	f.CreateRepository(reg, "team-a/api", scanOnPush)
	f.CreateRepository(reg, "team-b/api", scanOnPush)
	ia := f.pushImage("team-a/api", "v1", gzipLayer(steps))
	ib := f.pushImage("team-b/api", "v1", gzipLayer(steps))
	f.settle()
	if got := names(f.findings("team-a/api", ia.Digest).Findings); !slices.Equal(got, []string{"FROM-B"}) {
		t.Errorf("team-a (rule: b only): %v", got)
	}
	if got := names(f.findings("team-b/api", ib.Digest).Findings); !slices.Equal(got, []string{"FROM-A", "FROM-B"}) {
		t.Errorf("team-b (no rule: every scanner): %v", got)
	}
}

func TestARescanReplacesTheFindingsAndKeepsWhenEachWasFirstSeen(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "scripted", "a", scriptedPaths), loadScanner(t, "scripted", "b", scriptedPaths)}})
	f.CreateRepository(reg, "app")
	img := f.pushImage("app", "v1", gzipLayer(script(map[string]any{
		"a": map[string]any{"output": map[string]any{"status": "COMPLETE", "findings": []any{finding("OLD", "LOW", "x"), finding("KEPT", "HIGH", "y")}}},
		"b": map[string]any{"output": map[string]any{"status": "COMPLETE", "findings": []any{finding("NEW", "MEDIUM", "z"), finding("KEPT", "HIGH", "y")}}},
	})))
	if _, err := f.svc.Findings(ctx, reg, "app", img.Digest); !errors.Is(err, ErrScanNotFound) {
		t.Fatalf("before any scan: %v", err)
	}
	// Scanning with a alone, then (the configuration changed) with b alone.
	f.svc.cfg.Selection = Selection{Rules: []SelectionRule{{Repositories: "*", Scanners: []string{"a"}}}}
	res, err := f.svc.StartScan(ctx, reg, "app", img.Image)
	if err != nil || res.Status != StatusInProgress {
		t.Fatalf("StartScan: %+v %v", res, err)
	}
	f.settle()
	if got := names(f.findings("app", img.Digest).Findings); !slices.Equal(got, []string{"KEPT", "OLD"}) {
		t.Fatalf("first scan: %v", got)
	}
	first := f.Clock.Now()
	f.Clock.Advance(time.Hour)
	f.svc.cfg.Selection = Selection{Rules: []SelectionRule{{Repositories: "*", Scanners: []string{"b"}}}}
	if _, err := f.svc.StartScan(ctx, reg, "app", img.Image); err != nil {
		t.Fatal(err)
	}
	f.settle()
	r := f.findings("app", img.Digest)
	if got := names(r.Findings); !slices.Equal(got, []string{"KEPT", "NEW"}) {
		t.Fatalf("rescan: %v", got)
	}
	if !r.CompletedAt.Equal(first.Add(time.Hour)) || r.Counts["LOW"] != 0 || r.Counts["MEDIUM"] != 1 {
		t.Errorf("rescan completed %v, counts %v", r.CompletedAt, r.Counts)
	}
	for _, fd := range r.Findings {
		want := first.Add(time.Hour)
		if fd.Name == "KEPT" {
			want = first
		}
		if !fd.FirstObservedAt.Equal(want) {
			t.Errorf("%s first observed %v, want %v", fd.Name, fd.FirstObservedAt, want)
		}
	}
}

func TestQuotaAllowsOneScanPerImageIn24Hours(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}, Quota: true})
	f.CreateRepository(reg, "app", scanOnPush)
	img := f.pushImage("app", "v1", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}))
	f.settle()
	// The scan on push counts.
	if _, err := f.svc.StartScan(ctx, reg, "app", img.Image); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("a scan right after the scan on push: %v", err)
	}
	f.Clock.Advance(24*time.Hour - time.Second)
	if _, err := f.svc.StartScan(ctx, reg, "app", img.Image); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("23:59:59 later: %v", err)
	}
	if r := f.findings("app", img.Digest); r.Status != StatusComplete || len(r.Findings) != 1 {
		t.Fatalf("the refused scan changed the result: %s %v", r.Status, r.Findings)
	}
	f.Clock.Advance(time.Second)
	if _, err := f.svc.StartScan(ctx, reg, "app", img.Image); err != nil {
		t.Fatalf("24 hours later: %v", err)
	}
	f.settle()
}

func TestWithoutQuotaAnImageMayBeRescannedAtOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}})
	f.CreateRepository(reg, "app", scanOnPush)
	img := f.pushImage("app", "v1", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}))
	f.settle()
	for range 3 {
		if _, err := f.svc.StartScan(ctx, reg, "app", img.Image); err != nil {
			t.Fatal(err)
		}
	}
	f.settle()
	if r := f.findings("app", img.Digest); r.Status != StatusComplete || len(r.Findings) != 1 {
		t.Fatalf("%s %v", r.Status, r.Findings)
	}
}

func TestRegistryRulesDecideScanOnPushOverTheRepositorySetting(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}})
	f.CreateRepository(reg, "prod-api")            // scanOnPush off, matched by the rule
	f.CreateRepository(reg, "dev-api", scanOnPush) // scanOnPush on, matched by no rule
	if _, err := f.svc.PutRegistryConfig(ctx, reg, core.ScanningConfig{ScanType: ScanTypeBasic,
		Rules: []core.ScanningRule{{ScanFrequency: FrequencyScanOnPush, Filters: []string{"prod"}}}}); err != nil {
		t.Fatal(err)
	}
	layer := gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus})
	prod := f.pushImage("prod-api", "v1", layer)
	dev := f.pushImage("dev-api", "v1", layer)
	f.settle()
	if r := f.findings("prod-api", prod.Digest); r.Status != StatusComplete {
		t.Errorf("prod-api: %s", r.Status)
	}
	if _, err := f.svc.Summary(ctx, reg, "dev-api", dev.Digest); !errors.Is(err, ErrScanNotFound) {
		t.Errorf("dev-api was scanned: %v", err)
	}
	c, err := f.svc.RepositoryConfig(ctx, reg, "dev-api")
	if err != nil || c.ScanOnPush || c.Frequency != FrequencyManual || len(c.AppliedFilters) != 0 {
		t.Errorf("dev-api config %+v %v", c, err)
	}
	c, err = f.svc.RepositoryConfig(ctx, reg, "prod-api")
	if err != nil || !c.ScanOnPush || c.Frequency != FrequencyScanOnPush || !slices.Equal(c.AppliedFilters, []string{"prod"}) {
		t.Errorf("prod-api config %+v %v", c, err)
	}
}

func TestContinuousEnhancedScanningReportsImagesActive(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}})
	f.CreateRepository(reg, "app")
	if _, err := f.svc.PutRegistryConfig(ctx, reg, core.ScanningConfig{ScanType: ScanTypeEnhanced,
		Rules: []core.ScanningRule{{ScanFrequency: FrequencyContinuous, Filters: []string{"*"}}}}); err != nil {
		t.Fatal(err)
	}
	img := f.pushImage("app", "v1", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}))
	f.settle()
	r := f.findings("app", img.Digest)
	if r.Status != StatusActive || r.Description != describeContinuous || r.ScanType != ScanTypeEnhanced || len(r.Findings) != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestScanDataGoesWithTheImage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}})
	f.CreateRepository(reg, "app", scanOnPush)
	layer := gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus})
	img := f.pushImage("app", "v1", layer)
	f.settle()
	if err := f.Registry().DeleteManifest(coretest.AsRoot(reg), reg, "app", img.Digest.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Findings(ctx, reg, "app", img.Digest); !errors.Is(err, ErrScanNotFound) {
		t.Fatalf("after the image was deleted: %v", err)
	}
	// Pushed again, it is a new image to scan on push.
	f.pushImage("app", "v1", layer)
	f.settle()
	if r := f.findings("app", img.Digest); r.Status != StatusComplete {
		t.Fatalf("pushed again: %s", r.Status)
	}
}

func TestStoppingInterruptsAScanAndSaysSo(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "scripted", "s", scriptedPaths)}})
	f.CreateRepository(reg, "app")
	img := f.pushImage("app", "v1", gzipLayer(script(map[string]any{"s": map[string]string{"fault": "loop"}})))
	if _, err := f.svc.StartScan(ctx, reg, "app", img.Image); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the plugin is spinning
	start := time.Now()
	f.svc.Close()
	if d := time.Since(start); d > testLimits.CallTimeout {
		t.Errorf("Close waited %s, the whole call timeout", d)
	}
	r, err := f.svc.Summary(ctx, reg, "app", img.Digest)
	if err != nil || r.Status != StatusFailed || r.Description != describeInterrupted {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := f.svc.StartScan(ctx, reg, "app", img.Image); !errors.Is(err, ErrClosed) {
		t.Errorf("StartScan after Close: %v", err)
	}
}

func TestAScanLeftInProgressByAnotherProcessWasInterrupted(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}})
	f.CreateRepository(reg, "app")
	img := f.pushImage("app", "v1", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}))
	// A record as a berth killed mid-scan leaves it.
	j, _, err := f.svc.newJob(ctx, reg, "app", img.Image)
	if err != nil {
		t.Fatal(err)
	}
	other := New(f.Registry(), Config{Clock: f.Clock})
	if err := other.begin(ctx, j, false); err != nil {
		t.Fatal(err)
	}
	if r, _ := other.Summary(ctx, reg, "app", img.Digest); r.Status != StatusInProgress {
		t.Fatalf("its own process sees %s", r.Status)
	}
	r, err := f.svc.Summary(ctx, reg, "app", img.Digest)
	if err != nil || r.Status != StatusFailed || r.Description != describeInterrupted {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestWithoutScannersAScanFailsSayingSo(t *testing.T) {
	f := newFixture(t, Config{})
	f.CreateRepository(reg, "app", scanOnPush)
	img := f.pushImage("app", "v1", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}))
	f.settle()
	if r := f.findings("app", img.Digest); r.Status != StatusFailed || r.Description != "The scan failed: no scanner plugin is loaded" {
		t.Fatalf("%s %q", r.Status, r.Description)
	}
}

func TestTheAdvisoryDatabaseIsMountedAtDB(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"Debian:12", "Alpine:v3.20"} {
		if err := mkdir(dir, d); err != nil {
			t.Fatal(err)
		}
	}
	updated := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "scripted", "s", scriptedPaths)}, DB: &AdvisoryDB{Dir: dir, UpdatedAt: updated}})
	f.CreateRepository(reg, "app", scanOnPush)
	img := f.pushImage("app", "v1", gzipLayer(script(map[string]any{"s": map[string]string{"fault": "db"}})))
	f.settle()
	r := f.findings("app", img.Digest)
	if r.Status != StatusComplete || !strings.Contains(r.Description, "db holds [Alpine:v3.20 Debian:12]") || !r.SourceUpdatedAt.Equal(updated) {
		t.Fatalf("%s %q %v", r.Status, r.Description, r.SourceUpdatedAt)
	}
}

// unloadable is a scanner whose module could not be loaded.
type unloadable struct{}

func (unloadable) Call(ctx context.Context, input any, mounts ...plugins.Mount) (sdk.Response, error) {
	return sdk.Response{}, fmt.Errorf("plugin broken could not be loaded: %w", ErrScannerUnavailable)
}

func TestAScannerThatCouldNotLoadIsSkipped(t *testing.T) {
	broken := Scanner{Name: "broken", Paths: []string{"etc/os-release"}, Plugin: unloadable{}}
	f := newFixture(t, Config{Scanners: []Scanner{broken, loadScanner(t, "banned", "banned", bannedPaths)}})
	f.CreateRepository(reg, "app", scanOnPush)
	img := f.pushImage("app", "v1", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}))
	f.settle()
	if r := f.findings("app", img.Digest); r.Status != StatusComplete || !slices.Equal(names(r.Findings), []string{"BANNED-telnetd"}) {
		t.Fatalf("with the other scanner: %s %q %v", r.Status, r.Description, names(r.Findings))
	}

	g := newFixture(t, Config{Scanners: []Scanner{broken}})
	g.CreateRepository(reg, "app", scanOnPush)
	img = g.pushImage("app", "v1", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}))
	g.settle()
	want := "The scan failed: no scanner plugin is loaded (plugin broken could not be loaded: scanner unavailable)"
	if r := g.findings("app", img.Digest); r.Status != StatusFailed || r.Description != want {
		t.Fatalf("alone: %s %q", r.Status, r.Description)
	}
}

func TestScansYieldToPushesUntilTheyPauseOrForLong(t *testing.T) {
	f := newFixture(t, Config{Scanners: []Scanner{loadScanner(t, "banned", "banned", bannedPaths)}, Quiet: time.Second})
	f.CreateRepository(reg, "app", scanOnPush)
	status := func(img coretest.Pushed) string {
		r, err := f.svc.Summary(context.Background(), reg, "app", img.Digest)
		if err != nil {
			return err.Error()
		}
		return r.Status
	}
	// settled waits (in real time) for the scan to reach a status.
	settled := func(img coretest.Pushed, want string) bool {
		for range 200 {
			if status(img) == want {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}
	img := f.pushImage("app", "v1", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}))
	if !settled(img, StatusInProgress) {
		t.Fatalf("the scan on push did not start: %s", status(img))
	}
	// Uploads go on every 0.9 s: the scan waits...
	for i := range 20 {
		f.Clock.Advance(900 * time.Millisecond)
		f.PushBlob(reg, "app", []byte(fmt.Sprint("layer ", i)), coretest.MediaTypeLayer)
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if s := status(img); s != StatusInProgress {
		t.Fatalf("the scan ran during a burst of pushes: %s", s)
	}
	// ... until they pause for a second.
	f.Clock.Advance(time.Second)
	if !settled(img, StatusComplete) {
		t.Fatalf("the scan did not run once pushes paused: %s", status(img))
	}
	// A scan that has waited 50 seconds runs, pushes or not.
	img2 := f.pushImage("app", "v2", gzipLayer(entry{name: "var/lib/dpkg/status", body: dpkgStatus}, entry{name: "v2"}))
	if !settled(img2, StatusInProgress) {
		t.Fatalf("the second scan on push did not start: %s", status(img2))
	}
	for i := 0; i < 60 && status(img2) == StatusInProgress; i++ {
		f.Clock.Advance(900 * time.Millisecond)
		f.PushBlob(reg, "app", []byte(fmt.Sprint("more ", i)), coretest.MediaTypeLayer)
		time.Sleep(30 * time.Millisecond)
	}
	if !settled(img2, StatusComplete) {
		t.Fatalf("the scan waited past its bound: %s", status(img2))
	}
	if waited := f.Clock.Now().Sub(img2.Image.PushedAt); waited < 45*time.Second {
		t.Errorf("the scan ran %s after its push, in a burst", waited)
	}
}
