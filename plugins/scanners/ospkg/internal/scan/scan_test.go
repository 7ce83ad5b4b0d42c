package scan

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/berth-dev/berth/plugins/scanners/ospkg/internal/osv"
)

const debian12 = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"

func paragraph(name, version, source string) string {
	p := fmt.Sprintf("Package: %s\nStatus: install ok installed\nVersion: %s\n", name, version)
	if source != "" {
		p += "Source: " + source + "\n"
	}
	return p + "Description: test\n more text\n"
}

// index builds an advisory index in the layout of scanning/osvdb: meta.json and one JSON
// array of records per (ecosystem, package).
func index(t *testing.T, ecosystems []string, records ...map[string]any) fstest.MapFS {
	t.Helper()
	files := map[string][]json.RawMessage{}
	for _, r := range records {
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, a := range r["affected"].([]map[string]any) {
			pkg := a["package"].(map[string]any)
			p := AdvisoryPath(pkg["ecosystem"].(string), pkg["name"].(string))
			if !seen[p] {
				files[p] = append(files[p], raw)
				seen[p] = true
			}
		}
	}
	fsys := fstest.MapFS{}
	for p, recs := range files {
		data, _ := json.Marshal(recs)
		fsys[p] = &fstest.MapFile{Data: data}
	}
	meta, _ := json.Marshal(Meta{UpdatedAt: "2024-07-10T00:00:00Z", Advisories: len(records), Ecosystems: ecosystems})
	fsys["meta.json"] = &fstest.MapFile{Data: meta}
	return fsys
}

func affectedRange(ecosystem, name, introduced, fixed string) map[string]any {
	events := []map[string]string{{"introduced": introduced}}
	if fixed != "" {
		events = append(events, map[string]string{"fixed": fixed})
	}
	return map[string]any{
		"package": map[string]any{"ecosystem": ecosystem, "name": name},
		"ranges":  []map[string]any{{"type": "ECOSYSTEM", "events": events}},
	}
}

func regreSSHion() map[string]any {
	return map[string]any{
		"id":       "DEBIAN-CVE-2024-6387",
		"upstream": []string{"CVE-2024-6387"},
		"details":  "A security regression (CVE-2006-5051) was discovered in OpenSSH's server (sshd).",
		"severity": []map[string]string{{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
		"affected": []map[string]any{
			affectedRange("Debian:11", "openssh", "0", "1:8.4p1-5+deb11u3"),
			affectedRange("Debian:12", "openssh", "0", "1:9.2p1-2+deb12u3"),
		},
		"references": []map[string]string{{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-6387"}},
	}
}

func scanOf(t *testing.T, rootfs, db fstest.MapFS) (Output, string) {
	t.Helper()
	var log strings.Builder
	s := Scanner{Log: &log}
	// A nil map must reach Scan as a nil fs.FS: no database.
	var dbFS fs.FS
	if db != nil {
		dbFS = db
	}
	out, err := s.Scan(rootfs, dbFS)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out, log.String()
}

func attrs(f Finding) map[string]string {
	m := map[string]string{}
	for _, a := range f.Attributes {
		m[a.Key] = a.Value
	}
	return m
}

func TestDebianImageGetsAFindingForItsVulnerableSourcePackageOnly(t *testing.T) {
	rootfs := fstest.MapFS{
		"etc/os-release": {Data: []byte(debian12)},
		"var/lib/dpkg/status": {Data: []byte(strings.Join([]string{
			paragraph("openssh-server", "1:9.2p1-2+deb12u2", "openssh"),
			paragraph("openssh-client", "1:9.2p1-2+deb12u2", "openssh"),
			paragraph("libc6", "2.36-9+deb12u4", "glibc"),
			paragraph("base-files", "12.4+deb12u5", ""),
		}, "\n"))},
	}
	looney := map[string]any{
		"id": "DEBIAN-CVE-2023-4911", "upstream": []string{"CVE-2023-4911"},
		"details":  "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so.",
		"affected": []map[string]any{affectedRange("Debian:12", "glibc", "0", "2.36-9+deb12u3")},
	}
	// DSA-5724-1 announces the same fix: it must merge into the CVE's finding.
	dsa := map[string]any{
		"id": "DSA-5724-1", "upstream": []string{"CVE-2024-6387"}, "summary": "openssh - security update",
		"affected": []map[string]any{affectedRange("Debian:12", "openssh", "0", "1:9.2p1-2+deb12u3")},
	}
	db := index(t, []string{"Debian:11", "Debian:12"}, regreSSHion(), looney, dsa)

	out, _ := scanOf(t, rootfs, db)
	if out.Status != StatusComplete || out.Description != DescriptionComplete || out.Packages != 4 {
		t.Fatalf("status %s %q, %d packages", out.Status, out.Description, out.Packages)
	}
	if out.OS == nil || *out.OS != (OS{ID: "debian", VersionID: "12", Ecosystem: "Debian:12"}) {
		t.Fatalf("os %+v", out.OS)
	}
	if len(out.Findings) != 1 {
		t.Fatalf("findings %+v", out.Findings)
	}
	f := out.Findings[0]
	want := map[string]string{
		"package_name": "openssh", "package_version": "1:9.2p1-2+deb12u2",
		"CVSS3_SCORE": "8.1", "CVSS3_VECTOR": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H",
	}
	if f.Name != "CVE-2024-6387" || f.Severity != SeverityHigh || !strings.Contains(f.Description, "OpenSSH") ||
		f.URI != "https://security-tracker.debian.org/tracker/CVE-2024-6387" || fmt.Sprint(attrs(f)) != fmt.Sprint(want) {
		t.Fatalf("finding %+v", f)
	}
	if f.Attributes[0].Key != "package_name" || f.Attributes[1].Key != "package_version" {
		t.Fatalf("attribute order %+v", f.Attributes)
	}

	// The fixed openssh has no finding.
	rootfs["var/lib/dpkg/status"] = &fstest.MapFile{Data: []byte(paragraph("openssh-server", "1:9.2p1-2+deb12u3", "openssh"))}
	if out, _ := scanOf(t, rootfs, db); len(out.Findings) != 0 || out.Packages != 1 {
		t.Fatalf("fixed openssh: %+v", out)
	}
}

func TestDistrolessStatusDFilesAreReadAndTheirChecksumListsSkipped(t *testing.T) {
	rootfs := fstest.MapFS{
		"usr/lib/os-release": {Data: []byte(debian12)},
		// dpkg-deb --field output: no Status field.
		"var/lib/dpkg/status.d/openssh-client":         {Data: []byte("Package: openssh-client\nVersion: 1:9.2p1-2+deb12u2\nSource: openssh\nArchitecture: amd64\n")},
		"var/lib/dpkg/status.d/openssh-client.md5sums": {Data: []byte("0123456789abcdef0123456789abcdef  usr/bin/ssh\n")},
		"var/lib/dpkg/status.d/tzdata":                 {Data: []byte("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n")},
	}
	out, _ := scanOf(t, rootfs, index(t, nil, regreSSHion()))
	if out.Status != StatusComplete || out.Packages != 2 || len(out.Findings) != 1 || out.Findings[0].Name != "CVE-2024-6387" {
		t.Fatalf("got %+v", out)
	}
}

func TestAlpineImageIsMatchedByOriginInAlpinesVersionOrder(t *testing.T) {
	rootfs := fstest.MapFS{
		"etc/os-release": {Data: []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.17.3\n")},
		"lib/apk/db/installed": {Data: []byte("P:libssl3\nV:3.0.7-r0\no:openssl\n\nP:libcrypto3\nV:3.0.7-r0\no:openssl\n\n" +
			"P:zlib\nV:1.2.13-r0\no:zlib\n\nP:busybox\nV:1.35.0-r29\no:busybox\n")},
	}
	db := index(t, []string{"Alpine:v3.17"},
		map[string]any{
			"id": "ALPINE-CVE-2022-3996", "upstream": []string{"CVE-2022-3996"},
			"details":    "If an X.509 certificate contains a malformed policy constraint and policy processing is enabled…",
			"affected":   []map[string]any{affectedRange("Alpine:v3.17", "openssl", "0", "3.0.7-r2")},
			"references": []map[string]string{{"type": "ADVISORY", "url": "https://security.alpinelinux.org/vuln/CVE-2022-3996"}},
		},
		map[string]any{
			"id": "ALPINE-CVE-2022-37434", "upstream": []string{"CVE-2022-37434"}, "details": "zlib inflate overflow",
			"severity": []map[string]string{{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
			"affected": []map[string]any{affectedRange("Alpine:v3.17", "zlib", "0", "1.2.12-r2")},
		})
	out, _ := scanOf(t, rootfs, db)
	if out.Status != StatusComplete || out.Packages != 4 || out.OS.Ecosystem != "Alpine:v3.17" {
		t.Fatalf("got %+v", out)
	}
	// libssl3 and libcrypto3 are one source package: one finding. zlib 1.2.13-r0 is fixed.
	if len(out.Findings) != 1 {
		t.Fatalf("findings %+v", out.Findings)
	}
	f := out.Findings[0]
	if f.Name != "CVE-2022-3996" || f.Severity != SeverityUndefined || attrs(f)["package_name"] != "openssl" ||
		attrs(f)["package_version"] != "3.0.7-r0" || len(f.Attributes) != 2 {
		t.Fatalf("finding %+v", f)
	}
}

func TestWithoutADatabaseTheScanCompletesWithoutFindings(t *testing.T) {
	rootfs := fstest.MapFS{
		"etc/os-release":      {Data: []byte(debian12)},
		"var/lib/dpkg/status": {Data: []byte(paragraph("openssh-server", "1:9.2p1-2+deb12u2", "openssh") + "\n" + paragraph("libc6", "2.36-9", "glibc"))},
	}
	out, _ := scanOf(t, rootfs, nil)
	if out.Status != StatusComplete || len(out.Findings) != 0 || out.Findings == nil ||
		out.Description != "No advisory database is configured; 2 packages were read but not checked." {
		t.Fatalf("got %+v", out)
	}
}

func TestADatabaseWithoutTheImagesEcosystemSaysSo(t *testing.T) {
	rootfs := fstest.MapFS{
		"etc/os-release":      {Data: []byte("ID=ubuntu\nVERSION_ID=\"22.04\"\n")},
		"var/lib/dpkg/status": {Data: []byte(paragraph("openssl", "3.0.2-0ubuntu1.10", ""))},
	}
	out, _ := scanOf(t, rootfs, index(t, []string{"Debian:12"}, regreSSHion()))
	if out.Status != StatusComplete || len(out.Findings) != 0 ||
		out.Description != "The advisory database has no advisories for Ubuntu:22.04:LTS; 1 packages were read but not checked." {
		t.Fatalf("got %+v", out)
	}
}

func TestImagesThisScannerCannotReadAreUnsupportedWithAWSsDescription(t *testing.T) {
	for name, rootfs := range map[string]fstest.MapFS{
		"scratch image":      {},
		"unknown distro":     {"etc/os-release": {Data: []byte("ID=clear-linux-os\nVERSION_ID=40000\n")}, "var/lib/dpkg/status": {Data: []byte(paragraph("a", "1", ""))}},
		"garbled os-release": {"etc/os-release": {Data: []byte("\x00\x01 not os-release\n")}},
	} {
		out, _ := scanOf(t, rootfs, index(t, nil))
		if out.Status != StatusUnsupported || out.Description != DescriptionUnsupported || out.OS != nil || out.Packages != 0 {
			t.Errorf("%s: got %+v", name, out)
		}
	}
	// A known distribution whose package database is gone (deleted by a later layer).
	out, log := scanOf(t, fstest.MapFS{"etc/os-release": {Data: []byte(debian12)}}, nil)
	if out.Status != StatusUnsupported || out.OS == nil || out.OS.Ecosystem != "Debian:12" {
		t.Fatalf("debian without dpkg database: %+v", out)
	}
	if !strings.Contains(log, "without its dpkg database") {
		t.Fatalf("log %q", log)
	}
	data, _ := json.Marshal(unsupported(nil))
	if string(data) != `{"status":"UNSUPPORTED_IMAGE","description":"UnsupportedImageError: The operating system and/or package manager are not supported.","packages":0,"findings":[]}` {
		t.Fatalf("wire form %s", data)
	}
}

func TestABrokenDatabaseOrPackageDatabaseFailsTheScan(t *testing.T) {
	rootfs := fstest.MapFS{
		"etc/os-release":      {Data: []byte(debian12)},
		"var/lib/dpkg/status": {Data: []byte(paragraph("openssh-server", "1:9.2p1-2+deb12u2", "openssh"))},
	}
	s := Scanner{}
	if _, err := s.Scan(rootfs, fstest.MapFS{}); err == nil || !strings.Contains(err.Error(), "meta.json") {
		t.Errorf("a database without meta.json: %v", err)
	}
	db := index(t, nil)
	db[AdvisoryPath("Debian:12", "openssh")] = &fstest.MapFile{Data: []byte(`{"id": "not an array"}`)}
	if _, err := s.Scan(rootfs, db); err == nil || !strings.Contains(err.Error(), "not a JSON array") {
		t.Errorf("an index file that is not an array: %v", err)
	}
	rootfs["var/lib/dpkg/status"] = &fstest.MapFile{Data: []byte("garbage, not a status file\n")}
	if _, err := s.Scan(rootfs, nil); err == nil || !strings.Contains(err.Error(), "var/lib/dpkg/status") {
		t.Errorf("a garbled status file: %v", err)
	}
}

func TestAnUnreadableRecordIsSkippedAndTheOthersStillMatch(t *testing.T) {
	rootfs := fstest.MapFS{
		"etc/os-release":      {Data: []byte(debian12)},
		"var/lib/dpkg/status": {Data: []byte(paragraph("openssh-server", "1:9.2p1-2+deb12u2", "openssh"))},
	}
	good, _ := json.Marshal(regreSSHion())
	db := index(t, nil)
	// The first record would affect openssh, but its id is a number.
	bad := `{"id": 42, "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssh"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}`
	db[AdvisoryPath("Debian:12", "openssh")] = &fstest.MapFile{Data: []byte(`[` + bad + `, ` + string(good) + `]`)}
	out, log := scanOf(t, rootfs, db)
	if len(out.Findings) != 1 || !strings.Contains(log, "skipping record 0 of Debian:12/openssh.json") {
		t.Fatalf("findings %+v, log %q", out.Findings, log)
	}
}

func TestFindingsAreOrderedBySeverityThenNameThenPackage(t *testing.T) {
	var pkgs []string
	var records []map[string]any
	for i, tc := range []struct{ pkg, id, vector string }{
		{"aaa", "DEBIAN-CVE-2024-0003", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"},
		{"bbb", "DEBIAN-CVE-2024-0002", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
		{"ccc", "DEBIAN-CVE-2024-0001", ""},
		{"ddd", "DEBIAN-CVE-2024-0001", ""},
		{"eee", "DEBIAN-CVE-2024-0000", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"},
	} {
		pkgs = append(pkgs, paragraph(tc.pkg, fmt.Sprintf("1.%d-1", i), ""))
		r := map[string]any{"id": tc.id, "affected": []map[string]any{affectedRange("Debian:12", tc.pkg, "0", "")}}
		if tc.vector != "" {
			r["severity"] = []map[string]string{{"type": "CVSS_V3", "score": tc.vector}}
		}
		records = append(records, r)
	}
	rootfs := fstest.MapFS{"etc/os-release": {Data: []byte(debian12)}, "var/lib/dpkg/status": {Data: []byte(strings.Join(pkgs, "\n"))}}
	out, _ := scanOf(t, rootfs, index(t, nil, records...))
	var got []string
	for _, f := range out.Findings {
		got = append(got, f.Severity+" "+f.Name+" "+attrs(f)["package_name"])
	}
	want := []string{
		"CRITICAL CVE-2024-0002 bbb",
		"MEDIUM CVE-2024-0000 eee",
		"MEDIUM CVE-2024-0003 aaa",
		"UNDEFINED CVE-2024-0001 ccc",
		"UNDEFINED CVE-2024-0001 ddd",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("order\n got %q\nwant %q", got, want)
	}
}

func TestFindingNameIsTheCVEAnAdvisoryIsAbout(t *testing.T) {
	for _, tc := range []struct {
		rec  osv.Record
		want string
	}{
		{osv.Record{ID: "DEBIAN-CVE-2023-5678"}, "CVE-2023-5678"},
		{osv.Record{ID: "UBUNTU-CVE-2023-0464"}, "CVE-2023-0464"},
		{osv.Record{ID: "ALPINE-CVE-2022-3996"}, "CVE-2022-3996"},
		{osv.Record{ID: "CVE-2022-37434"}, "CVE-2022-37434"},
		{osv.Record{ID: "DSA-5724-1", Upstream: []string{"CVE-2024-6387"}}, "CVE-2024-6387"},
		{osv.Record{ID: "USN-6859-1", Aliases: []string{"CVE-2024-6387"}, Upstream: []string{"CVE-2024-6387"}}, "CVE-2024-6387"},
		{osv.Record{ID: "DSA-5417-1", Upstream: []string{"CVE-2023-0464", "CVE-2023-0465"}}, "DSA-5417-1"},
		{osv.Record{ID: "GHSA-xxxx-yyyy-zzzz"}, "GHSA-xxxx-yyyy-zzzz"},
		{osv.Record{ID: "DEBIAN-CVE-2023-567"}, "DEBIAN-CVE-2023-567"}, // not a CVE id
	} {
		if got := FindingName(&tc.rec); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.rec.ID, got, tc.want)
		}
	}
}

func TestSeverityComesFromTheBestEvidenceAvailable(t *testing.T) {
	v3 := osv.Severity{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"} // 5.3
	v3Crit := osv.Severity{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
	v2 := osv.Severity{Type: "CVSS_V2", Score: "AV:N/AC:L/Au:N/C:P/I:P/A:P"} // 7.5
	for _, tc := range []struct {
		name      string
		rec       osv.Record
		a         osv.Affected
		want      string
		wantAttrs []string
	}{
		{"cvss v3", osv.Record{Severity: []osv.Severity{v2, v3}}, osv.Affected{}, "MEDIUM", []string{"CVSS3_SCORE=5.3", "CVSS2_SCORE=7.5"}},
		{"affected's own vector first", osv.Record{Severity: []osv.Severity{v3}}, osv.Affected{Severity: []osv.Severity{v3Crit}}, "CRITICAL", []string{"CVSS3_SCORE=9.8"}},
		{"zero score", osv.Record{Severity: []osv.Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"}}}, osv.Affected{}, "INFORMATIONAL", []string{"CVSS3_SCORE=0.0"}},
		{"ubuntu priority", osv.Record{Severity: []osv.Severity{{Type: "Ubuntu", Score: "negligible"}}}, osv.Affected{}, "INFORMATIONAL", nil},
		{"ubuntu high over v2", osv.Record{Severity: []osv.Severity{{Type: "Ubuntu", Score: "high"}, v2}}, osv.Affected{}, "HIGH", []string{"CVSS2_SCORE=7.5"}},
		{"database severity", osv.Record{DatabaseSpecific: osv.Specific{Severity: "MODERATE"}}, osv.Affected{}, "MEDIUM", nil},
		{"affected database severity", osv.Record{}, osv.Affected{DatabaseSpecific: osv.Specific{Severity: "critical"}}, "CRITICAL", nil},
		{"debian urgency", osv.Record{}, osv.Affected{EcosystemSpecific: osv.Specific{Urgency: "low"}}, "LOW", nil},
		{"meaningless words", osv.Record{}, osv.Affected{EcosystemSpecific: osv.Specific{Urgency: "not yet assigned"}}, "UNDEFINED", nil},
		{"v2 alone", osv.Record{Severity: []osv.Severity{v2}}, osv.Affected{}, "HIGH", []string{"CVSS2_SCORE=7.5"}},
		{"a broken vector is no evidence", osv.Record{Severity: []osv.Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N"}}}, osv.Affected{}, "UNDEFINED", nil},
		{"v4 alone is not scored", osv.Record{Severity: []osv.Severity{{Type: "CVSS_V4", Score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}}}, osv.Affected{}, "UNDEFINED", nil},
		{"nothing", osv.Record{}, osv.Affected{}, "UNDEFINED", nil},
	} {
		var log strings.Builder
		s := Scanner{Log: &log}
		tc.rec.ID = "TEST-1"
		c := s.candidate(&tc.rec, &tc.a, "pkg", "1.0")
		if c.finding.Severity != tc.want {
			t.Errorf("%s: severity %s, want %s", tc.name, c.finding.Severity, tc.want)
		}
		got := attrs(c.finding)
		for _, kv := range tc.wantAttrs {
			k, v, _ := strings.Cut(kv, "=")
			if got[k] != v {
				t.Errorf("%s: attribute %s = %q, want %q", tc.name, k, got[k], v)
			}
		}
		if len(got) != 2+2*len(tc.wantAttrs) {
			t.Errorf("%s: attributes %v", tc.name, got)
		}
		if tc.name == "a broken vector is no evidence" && !strings.Contains(log.String(), "TEST-1") {
			t.Errorf("the broken vector was not logged: %q", log.String())
		}
	}
}

func TestDescriptionAndURIFallBackAndAreBounded(t *testing.T) {
	long := strings.Repeat("é", MaxDescription+50)
	rec := osv.Record{ID: "DEBIAN-CVE-2024-1", Details: "  " + long + "  "}
	d := description(&rec)
	if n := len([]rune(d)); n != MaxDescription || !strings.HasSuffix(d, "…") {
		t.Fatalf("description of %d characters: %q…", n, d[:10])
	}
	rec.Summary = "short summary"
	if description(&rec) != "short summary" {
		t.Fatal("summary is preferred to details")
	}
	if uri(&rec) != "https://osv.dev/vulnerability/DEBIAN-CVE-2024-1" {
		t.Fatalf("uri %s", uri(&rec))
	}
	rec.References = []osv.Reference{{Type: "REPORT", URL: "https://r"}, {Type: "WEB", URL: "https://w"}, {Type: "ADVISORY", URL: "https://a"}}
	if uri(&rec) != "https://a" {
		t.Fatalf("uri %s", uri(&rec))
	}
	rec.References = rec.References[:2]
	if uri(&rec) != "https://w" {
		t.Fatalf("uri %s", uri(&rec))
	}
}
