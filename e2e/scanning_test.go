package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/klauspost/compress/zstd"
)

// The scanning tests run berth with the example scanner plugin of
// examples/scanner-banned-packages in --plugins-dir and the OSV advisories
// of testdata/osv (real advisories: CVE-2024-6387 in Debian 12's openssh,
// CVE-2022-3996 in Alpine 3.17's openssl) as --scan-db, so that both the
// built-in scanner and a user's report findings.

var (
	pluginsOnce sync.Once
	pluginsDir  string
	pluginsErr  error
)

// examplePlugins builds the example scanner once per run into a plugins
// directory, with the one command the README gives.
func examplePlugins(t testing.TB) string {
	t.Helper()
	pluginsOnce.Do(func() {
		pluginsDir = filepath.Join(filepath.Dir(berthBin), "plugins")
		if pluginsErr = os.MkdirAll(pluginsDir, 0o755); pluginsErr != nil {
			return
		}
		build := exec.Command("go", "build", "-o", filepath.Join(pluginsDir, "scanner-banned-packages.wasm"), "../examples/scanner-banned-packages")
		build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := build.CombinedOutput(); err != nil {
			pluginsErr = fmt.Errorf("building the example plugin: %v\n%s", err, out)
			return
		}
		manifest, err := os.ReadFile("../examples/scanner-banned-packages/scanner-banned-packages.json")
		if err == nil {
			err = os.WriteFile(filepath.Join(pluginsDir, "scanner-banned-packages.json"), manifest, 0o644)
		}
		pluginsErr = err
	})
	if pluginsErr != nil {
		t.Fatal(pluginsErr)
	}
	return pluginsDir
}

// startScanning starts berth with the example plugin and the advisories.
func startScanning(t *testing.T, args ...string) *Berth {
	t.Helper()
	return Start(t, append([]string{"--plugins-dir", examplePlugins(t), "--scan-db", "testdata/osv"}, args...)...)
}

// ---- image contents -----------------------------------------------------

type file struct{ name, body, link string }

func tarball(files ...file) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if f.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.link, 0
		}
		tw.WriteHeader(h)
		tw.Write([]byte(f.body))
	}
	tw.Close()
	return b.Bytes()
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// debianFiles is a Debian 12 image with openssh 1:9.2p1-2+deb12u2, before
// the fix of CVE-2024-6387, and telnetd, which the example plugin bans.
var debianFiles = []file{
	{name: "usr/lib/os-release", body: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n"},
	{name: "etc/os-release", link: "../usr/lib/os-release"},
	{name: "var/lib/dpkg/status", body: "Package: libc6\nStatus: install ok installed\nSource: glibc\nVersion: 2.36-9+deb12u7\nArchitecture: amd64\n\n" +
		"Package: openssh-server\nStatus: install ok installed\nSource: openssh\nVersion: 1:9.2p1-2+deb12u2\nArchitecture: amd64\n\n" +
		"Package: telnetd\nStatus: install ok installed\nSource: inetutils\nVersion: 2:2.4-2+deb12u1\nArchitecture: amd64\n"},
}

// alpineFiles is Alpine 3.17 with libssl3 from openssl 3.0.7-r0 (before
// the fix of CVE-2022-3996) and busybox-extras, which the example bans.
var alpineFiles = []file{
	{name: "etc/os-release", body: "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.17.0\nPRETTY_NAME=\"Alpine Linux v3.17\"\n"},
	{name: "lib/apk/db/installed", body: "P:musl\nV:1.2.3-r4\nA:x86_64\no:musl\n\nP:libssl3\nV:3.0.7-r0\nA:x86_64\no:openssl\n\nP:busybox-extras\nV:1.35.0-r29\nA:x86_64\no:busybox\n"},
}

// pushScannable pushes an image of the given layers (media type and bytes)
// through the ECR API.
func (s *sdk) pushScannable(repo, tag string, layers ...[2]any) testImage {
	s.t.Helper()
	img := testImage{}
	for _, l := range layers {
		data := l[1].([]byte)
		img.LayerDescs = append(img.LayerDescs, descriptor{MediaType: l[0].(string), Digest: s.ensureLayer(repo, data), Size: int64(len(data))})
	}
	img.Config = []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	img.ConfigDesc = descriptor{MediaType: mtOCIConfig, Digest: s.ensureLayer(repo, img.Config), Size: int64(len(img.Config))}
	img.Manifest = manifestDoc{SchemaVersion: 2, MediaType: mtOCIManifest, Config: &img.ConfigDesc, Layers: img.LayerDescs}.String()
	img.Digest = sha256Digest([]byte(img.Manifest))
	s.putImage(repo, tag, img.Manifest)
	return img
}

func gzipLayerOf(files ...file) [2]any { return [2]any{mtOCILayer, gzipBytes(tarball(files...))} }

func zstdLayerOf(files ...file) [2]any {
	zw, _ := zstd.NewWriter(nil)
	return [2]any{"application/vnd.oci.image.layer.v1.tar+zstd", zw.EncodeAll(tarball(files...), nil)}
}

// waitScan polls DescribeImageScanFindings until the scan has ended, as a
// CI job does (a scan on push may not have started yet: ScanNotFound).
func (s *sdk) waitScan(repo string, id types.ImageIdentifier) *ecr.DescribeImageScanFindingsOutput {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := s.ecr.DescribeImageScanFindings(s.ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo), ImageId: &id})
		var notYet *types.ScanNotFoundException
		switch {
		case errors.As(err, &notYet):
		case err != nil:
			s.t.Fatalf("DescribeImageScanFindings %s %s: %v", repo, idString(id), err)
		case out.ImageScanStatus.Status != types.ScanStatusInProgress:
			return out
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the scan of %s %s did not end in 2 minutes\n%s", repo, idString(id), s.b.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func findingNames(fs []types.ImageScanFinding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, aws.ToString(f.Name))
	}
	slices.Sort(out)
	return out
}

func attr(f types.ImageScanFinding, key string) string {
	for _, a := range f.Attributes {
		if aws.ToString(a.Key) == key {
			return aws.ToString(a.Value)
		}
	}
	return ""
}

// ---- the tests ------------------------------------------------------------

func TestScanOnPushFindsVulnerabilitiesAndBannedPackagesThroughTheSDK(t *testing.T) {
	b := startScanning(t)
	s := defaultSDK(t, b)
	s.createRepo("scanned", func(in *ecr.CreateRepositoryInput) {
		in.ImageScanningConfiguration = &types.ImageScanningConfiguration{ScanOnPush: true}
	})
	debian := s.pushScannable("scanned", "debian", gzipLayerOf(debianFiles...))
	alpine := s.pushScannable("scanned", "alpine", zstdLayerOf(alpineFiles...))

	out := s.waitScan("scanned", types.ImageIdentifier{ImageTag: aws.String("debian")})
	if out.ImageScanStatus.Status != types.ScanStatusComplete || aws.ToString(out.ImageScanStatus.Description) != "The scan was completed successfully." {
		t.Fatalf("debian: %s %q", out.ImageScanStatus.Status, aws.ToString(out.ImageScanStatus.Description))
	}
	f := out.ImageScanFindings
	if got := findingNames(f.Findings); !slices.Equal(got, []string{"BANNED-telnetd", "CVE-2024-6387"}) {
		t.Fatalf("debian findings %v", got)
	}
	for _, fd := range f.Findings {
		if aws.ToString(fd.Name) != "CVE-2024-6387" {
			continue
		}
		if fd.Severity != types.FindingSeverityHigh || attr(fd, "CVSS3_SCORE") != "8.1" || !strings.Contains(attr(fd, "package_version"), "1:9.2p1-2+deb12u2") {
			t.Errorf("CVE-2024-6387: %s %v", fd.Severity, fd.Attributes)
		}
	}
	if f.FindingSeverityCounts["HIGH"] != 2 || len(f.FindingSeverityCounts) != 1 {
		t.Errorf("severity counts %v", f.FindingSeverityCounts)
	}
	if want := time.Date(2024, 7, 10, 0, 0, 0, 0, time.UTC); !aws.ToTime(f.VulnerabilitySourceUpdatedAt).Equal(want) {
		t.Errorf("vulnerabilitySourceUpdatedAt %v, want the newest advisory's %v", f.VulnerabilitySourceUpdatedAt, want)
	}
	if f.ImageScanCompletedAt == nil || time.Since(*f.ImageScanCompletedAt) > time.Minute {
		t.Errorf("imageScanCompletedAt %v", f.ImageScanCompletedAt)
	}

	out = s.waitScan("scanned", types.ImageIdentifier{ImageDigest: aws.String(alpine.Digest)})
	if got := findingNames(out.ImageScanFindings.Findings); out.ImageScanStatus.Status != types.ScanStatusComplete || !slices.Equal(got, []string{"BANNED-busybox-extras", "CVE-2022-3996"}) {
		t.Fatalf("alpine (a zstd layer): %s %v", out.ImageScanStatus.Status, got)
	}

	// One finding a page.
	var paged []types.ImageScanFinding
	in := &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("scanned"), ImageId: &types.ImageIdentifier{ImageDigest: aws.String(debian.Digest)}, MaxResults: aws.Int32(1)}
	for p := ecr.NewDescribeImageScanFindingsPaginator(s.ecr, in); p.HasMorePages(); {
		page, err := p.NextPage(s.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.ImageScanFindings.Findings) > 1 {
			t.Fatalf("a page of %d", len(page.ImageScanFindings.Findings))
		}
		paged = append(paged, page.ImageScanFindings.Findings...)
	}
	if got := findingNames(paged); !slices.Equal(got, []string{"BANNED-telnetd", "CVE-2024-6387"}) {
		t.Fatalf("findings over the pages %v", got)
	}

	// DescribeImages summarizes each scan.
	d := s.describeImage("scanned", types.ImageIdentifier{ImageTag: aws.String("debian")})
	if d.ImageScanStatus == nil || d.ImageScanStatus.Status != types.ScanStatusComplete || d.ImageScanFindingsSummary == nil ||
		d.ImageScanFindingsSummary.FindingSeverityCounts["HIGH"] != 2 || d.ImageScanFindingsSummary.ImageScanCompletedAt == nil {
		t.Fatalf("DescribeImages: %+v %+v", d.ImageScanStatus, d.ImageScanFindingsSummary)
	}

	// A rescan answers IN_PROGRESS, then the same findings.
	start, err := s.ecr.StartImageScan(s.ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("scanned"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("debian")}})
	if err != nil || start.ImageScanStatus.Status != types.ScanStatusInProgress || aws.ToString(start.ImageId.ImageDigest) != debian.Digest {
		t.Fatalf("StartImageScan: %+v %v", start, err)
	}
	if out = s.waitScan("scanned", types.ImageIdentifier{ImageTag: aws.String("debian")}); !slices.Equal(findingNames(out.ImageScanFindings.Findings), []string{"BANNED-telnetd", "CVE-2024-6387"}) {
		t.Fatalf("rescan: %v", findingNames(out.ImageScanFindings.Findings))
	}
}

func TestAnIndexIsAnUnsupportedImage(t *testing.T) {
	b := startScanning(t)
	s := defaultSDK(t, b)
	s.createRepo("multi", func(in *ecr.CreateRepositoryInput) {
		in.ImageScanningConfiguration = &types.ImageScanningConfiguration{ScanOnPush: true}
	})
	debian := s.pushScannable("multi", "", gzipLayerOf(debianFiles...))
	s.putImage("multi", "both", indexOf(debian.desc()))
	want := "An artifact with media type 'application/vnd.oci.image.index.v1+json' cannot be scanned. For more information, see the Amazon ECR documentation."
	id := types.ImageIdentifier{ImageTag: aws.String("both")}
	out := s.waitScan("multi", id)
	if out.ImageScanStatus.Status != types.ScanStatusUnsupportedImage || aws.ToString(out.ImageScanStatus.Description) != want || out.ImageScanFindings != nil {
		t.Fatalf("scan on push of an index: %s %q %+v", out.ImageScanStatus.Status, aws.ToString(out.ImageScanStatus.Description), out.ImageScanFindings)
	}
	_, err := s.ecr.StartImageScan(s.ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("multi"), ImageId: &id})
	if ae := wantCode(t, err, "UnsupportedImageTypeException"); ae.ErrorMessage() != want {
		t.Fatalf("StartImageScan of an index: %q", ae.ErrorMessage())
	}
	if d := s.describeImage("multi", id); d.ImageScanStatus == nil || d.ImageScanStatus.Status != types.ScanStatusUnsupportedImage {
		t.Fatalf("DescribeImages: %+v", d.ImageScanStatus)
	}
}

func TestRegistryScanningConfigurationThroughTheSDK(t *testing.T) {
	b := startScanning(t)
	s := defaultSDK(t, b)
	s.createRepo("prod-api")
	s.createRepo("dev-api", func(in *ecr.CreateRepositoryInput) {
		in.ImageScanningConfiguration = &types.ImageScanningConfiguration{ScanOnPush: true}
	})
	got, err := s.ecr.GetRegistryScanningConfiguration(s.ctx, &ecr.GetRegistryScanningConfigurationInput{})
	if err != nil || got.ScanningConfiguration.ScanType != types.ScanTypeBasic || len(got.ScanningConfiguration.Rules) != 0 {
		t.Fatalf("default: %+v %v", got, err)
	}
	rules := []types.RegistryScanningRule{{ScanFrequency: types.ScanFrequencyScanOnPush,
		RepositoryFilters: []types.ScanningRepositoryFilter{{Filter: aws.String("prod"), FilterType: types.ScanningRepositoryFilterTypeWildcard}}}}
	put, err := s.ecr.PutRegistryScanningConfiguration(s.ctx, &ecr.PutRegistryScanningConfigurationInput{ScanType: types.ScanTypeBasic, Rules: rules})
	if err != nil || len(put.RegistryScanningConfiguration.Rules) != 1 {
		t.Fatalf("put: %+v %v", put, err)
	}
	got, err = s.ecr.GetRegistryScanningConfiguration(s.ctx, &ecr.GetRegistryScanningConfigurationInput{})
	if err != nil || got.ScanningConfiguration.ScanType != types.ScanTypeBasic || len(got.ScanningConfiguration.Rules) != 1 ||
		aws.ToString(got.ScanningConfiguration.Rules[0].RepositoryFilters[0].Filter) != "prod" || got.ScanningConfiguration.Rules[0].ScanFrequency != types.ScanFrequencyScanOnPush {
		t.Fatalf("get after put: %+v %v", got.ScanningConfiguration, err)
	}
	batch, err := s.ecr.BatchGetRepositoryScanningConfiguration(s.ctx, &ecr.BatchGetRepositoryScanningConfigurationInput{RepositoryNames: []string{"prod-api", "dev-api", "gone"}})
	if err != nil || len(batch.ScanningConfigurations) != 2 || len(batch.Failures) != 1 || batch.Failures[0].FailureCode != types.ScanningConfigurationFailureCodeRepositoryNotFound {
		t.Fatalf("batch: %+v %v", batch, err)
	}
	prod, dev := batch.ScanningConfigurations[0], batch.ScanningConfigurations[1]
	if !prod.ScanOnPush || prod.ScanFrequency != types.ScanFrequencyScanOnPush || len(prod.AppliedScanFilters) != 1 {
		t.Errorf("prod-api, matched by the rule: %+v", prod)
	}
	if dev.ScanOnPush || dev.ScanFrequency != types.ScanFrequencyManual {
		t.Errorf("dev-api, whose own scanOnPush the registry's rule overrides: %+v", dev)
	}
	// A push into dev-api is not scanned; into prod-api it is.
	s.pushScannable("dev-api", "v1", gzipLayerOf(debianFiles...))
	s.pushScannable("prod-api", "v1", gzipLayerOf(debianFiles...))
	if out := s.waitScan("prod-api", types.ImageIdentifier{ImageTag: aws.String("v1")}); out.ImageScanStatus.Status != types.ScanStatusComplete {
		t.Fatalf("prod-api: %s", out.ImageScanStatus.Status)
	}
	_, err = s.ecr.DescribeImageScanFindings(s.ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("dev-api"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}})
	wantCode(t, err, "ScanNotFoundException")
	// BASIC takes no continuous scanning; nothing changes.
	_, err = s.ecr.PutRegistryScanningConfiguration(s.ctx, &ecr.PutRegistryScanningConfigurationInput{ScanType: types.ScanTypeBasic,
		Rules: []types.RegistryScanningRule{{ScanFrequency: types.ScanFrequencyContinuousScan, RepositoryFilters: rules[0].RepositoryFilters}}})
	wantCode(t, err, "ValidationException")
	if got, _ = s.ecr.GetRegistryScanningConfiguration(s.ctx, &ecr.GetRegistryScanningConfigurationInput{}); got.ScanningConfiguration.Rules[0].ScanFrequency != types.ScanFrequencyScanOnPush {
		t.Fatalf("a refused put changed the configuration: %+v", got.ScanningConfiguration)
	}
}

// TestScanningCLI runs testdata/scanning.sh: the AWS CLI's scanning
// commands, its image-scan-complete waiter included, as a user runs them.
func TestScanningCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH")
	}
	for _, tool := range []string{"bash", "tar", "gzip", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH", tool)
		}
	}
	b := startScanning(t)
	out, err := runScript(t, "bash", "testdata/scanning.sh", b)
	if err != nil {
		t.Fatalf("testdata/scanning.sh: %v\n%s\nberth stderr:\n%s", err, out, b.Stderr())
	}
	if !strings.Contains(out, "OK: AWS CLI scanning") {
		t.Fatalf("testdata/scanning.sh did not finish:\n%s", out)
	}
	t.Logf("%s", out)
}
