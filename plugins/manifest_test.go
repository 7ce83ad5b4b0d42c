package plugins

import (
	"fmt"
	"strings"
	"testing"

	"github.com/berth-dev/berth/plugins/sdk"
)

func scannerManifest(paths ...string) Manifest {
	return Manifest{Name: "scan", Kind: KindScanner, Version: "1", ABI: sdk.ABIVersion, Paths: paths}
}

func TestScannerManifestWithCleanRelativePatternsIsValid(t *testing.T) {
	m := scannerManifest("etc/os-release", "usr/lib/os-release", "var/lib/dpkg/status",
		"var/lib/dpkg/status.d/*", "lib/apk/db/installed", "usr/lib/*-release", "etc/[a-z]*.conf", `a\*b`)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := scannerManifest().Validate(); err != nil {
		t.Fatalf("a scanner that reads no paths: %v", err)
	}
}

func TestManifestPathsAreRefusedWithTheReason(t *testing.T) {
	for _, tc := range []struct {
		path, reason string
	}{
		{"", "empty"},
		{".", "empty"},
		{"/etc/os-release", "leading slash"},
		{"etc//os-release", "not clean"},
		{"etc/./os-release", "not clean"},
		{"etc/", "not clean"},
		{"var/lib/../../etc/shadow", "not clean"},
		{"../etc/passwd", "must not leave the image root"},
		{"..", "must not leave the image root"},
		{"var/lib/dpkg/status.d/[", "syntax error in pattern"},
		{`etc/os-release\`, "syntax error in pattern"},
	} {
		err := scannerManifest("etc/os-release", tc.path).Validate()
		if err == nil || !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.path)) {
			t.Errorf("path %q: got %v, want an error naming it and saying %q", tc.path, err, tc.reason)
		}
	}
}

func TestManifestWithMoreThan64PathsIsRefused(t *testing.T) {
	paths := make([]string, MaxPaths)
	for i := range paths {
		paths[i] = fmt.Sprintf("etc/file-%d", i)
	}
	if err := scannerManifest(paths...).Validate(); err != nil {
		t.Fatalf("%d paths: %v", MaxPaths, err)
	}
	err := scannerManifest(append(paths, "etc/one-more")...).Validate()
	if err == nil || !strings.Contains(err.Error(), "65 paths") {
		t.Fatalf("65 paths: %v", err)
	}
}

func TestVerifierManifestMustNotHavePaths(t *testing.T) {
	m := Manifest{Name: "sig", Kind: KindVerifier, Version: "1", ABI: sdk.ABIVersion, Paths: []string{"etc/os-release"}}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "has paths") {
		t.Fatalf("got %v", err)
	}
	m.Paths = nil
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDirReadsAScannersPathsAndReportsABadOne(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, wasmDir+"/good.wasm", dir+"/reader.wasm")
	writeFile(t, dir+"/reader.json", `{"name":"reader","kind":"scanner","version":"1","abi":1,"paths":["etc/os-release","var/lib/dpkg/status.d/*"]}`)
	copyFile(t, wasmDir+"/good.wasm", dir+"/escaper.wasm")
	writeFile(t, dir+"/escaper.json", `{"name":"escaper","kind":"scanner","version":"1","abi":1,"paths":["../../etc/shadow"]}`)

	loaded, loadErrors, err := testHost.LoadDir(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].Manifest().Name != "reader" {
		t.Fatalf("loaded %d plugins, want reader only", len(loaded))
	}
	if got := loaded[0].Manifest().Paths; len(got) != 2 || got[1] != "var/lib/dpkg/status.d/*" {
		t.Fatalf("paths %q", got)
	}
	if len(loadErrors) != 1 || !strings.HasSuffix(loadErrors[0].File, "escaper.json") || !strings.Contains(loadErrors[0].Error(), "image root") {
		t.Fatalf("load errors %v", loadErrors)
	}
}
