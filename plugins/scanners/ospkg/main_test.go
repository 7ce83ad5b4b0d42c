package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/plugins/scanners/ospkg/internal/scan"
	"github.com/berth-dev/berth/plugins/sdk"
)

// The host extracts only the manifest's paths: they must be exactly what the scanner reads.
func TestManifestDeclaresExactlyThePathsTheScannerReads(t *testing.T) {
	data, err := os.ReadFile("../ospkg.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name  string   `json:"name"`
		Paths []string `json:"paths"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "ospkg" || !slices.Equal(m.Paths, scan.Paths) {
		t.Fatalf("manifest paths %q, the scanner reads %q", m.Paths, scan.Paths)
	}
}

func request(t *testing.T, kind string, input any) sdk.Request {
	t.Helper()
	raw, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	return sdk.Request{ABI: sdk.ABIVersion, Kind: kind, Input: raw}
}

func TestHandleScansTheMountedDirectories(t *testing.T) {
	resp, err := handle(request(t, "scanner", map[string]string{"rootfs": "../testdata/rootfs/debian", "db": ""}))
	if err != nil {
		t.Fatal(err)
	}
	var out scan.Output
	if err := resp.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Status != scan.StatusComplete || out.Packages != 4 || !strings.HasPrefix(out.Description, "No advisory database") {
		t.Fatalf("got %+v", out)
	}
}

func TestHandleRefusesWhatIsNotAScanOfADirectory(t *testing.T) {
	for name, req := range map[string]sdk.Request{
		"verifier kind":   request(t, "verifier", map[string]string{"rootfs": "../testdata/rootfs/debian"}),
		"no rootfs":       request(t, "scanner", map[string]string{"db": ""}),
		"missing rootfs":  request(t, "scanner", map[string]string{"rootfs": "../testdata/rootfs/absent"}),
		"rootfs a file":   request(t, "scanner", map[string]string{"rootfs": "main.go"}),
		"missing db":      request(t, "scanner", map[string]string{"rootfs": "../testdata/rootfs/debian", "db": "../testdata/absent"}),
		"input not JSON":  {ABI: sdk.ABIVersion, Kind: "scanner", Input: []byte(`"just a string"`)},
		"input not given": {ABI: sdk.ABIVersion, Kind: "scanner"},
	} {
		if _, err := handle(req); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
