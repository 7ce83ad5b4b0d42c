package scanners

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchImage writes an image root with n dpkg packages (from n source packages, the way
// Debian images have one or a few binaries per source) and an index of advisories: perPkg
// for each of the image's source packages, every other one affecting the installed version, and
// absent more about packages the image does not have. It returns the number of findings the
// scan must report.
func benchImage(b *testing.B, n, perPkg, absent int) (rootfs, db string, want int) {
	b.Helper()
	rootfs, db = filepath.Join(b.TempDir(), "rootfs"), filepath.Join(b.TempDir(), "db")
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "var/lib/dpkg"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/os-release"), []byte("ID=debian\nVERSION_ID=\"12\"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	var status strings.Builder
	for i := range n {
		fmt.Fprintf(&status, "Package: lib%03d-%d\nStatus: install ok installed\nPriority: optional\nSection: libs\n"+
			"Installed-Size: 1234\nMaintainer: Someone <someone@debian.org>\nArchitecture: amd64\nSource: src%03d\n"+
			"Version: 1:2.%d.4-1+deb12u2\nDepends: libc6 (>= 2.34)\nDescription: a library\n a longer description\n"+
			" over several lines.\n\n", i, i%3, i, i%7)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "var/lib/dpkg/status"), []byte(status.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	details := strings.Repeat("A flaw was found in a library that may allow a remote attacker to cause trouble. ", 6)
	record := func(id, pkg, fixed string) []byte {
		return fmt.Appendf(nil, `{"schema_version":"1.6.0","id":"DEBIAN-%s","modified":"2024-07-10T00:00:00Z",`+
			`"published":"2024-07-01T00:00:00Z","upstream":["%s"],"details":%q,`+
			`"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"}],`+
			`"affected":[{"package":{"ecosystem":"Debian:11","name":"%s","purl":"pkg:deb/debian/%s?arch=source"},`+
			`"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:2.0.0-1+deb11u1"}]}]},`+
			`{"package":{"ecosystem":"Debian:12","name":"%s","purl":"pkg:deb/debian/%s?arch=source"},`+
			`"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"%s"}]}],"ecosystem_specific":{"urgency":"low"}}],`+
			`"references":[{"type":"ADVISORY","url":"https://security-tracker.debian.org/tracker/%s"},`+
			`{"type":"WEB","url":"https://example.org/%s"}]}`,
			id, id, details, pkg, pkg, pkg, pkg, fixed, id, id)
	}
	var records [][]byte
	cve := 0
	for i := range n {
		for j := range perPkg {
			cve++
			fixed := fmt.Sprintf("1:2.%d.4-1+deb12u3", i%7) // after the installed version
			if j%2 == 1 {
				fixed = fmt.Sprintf("1:2.%d.4-1+deb12u1", i%7) // before it
			} else {
				want++
			}
			records = append(records, record(fmt.Sprintf("CVE-2024-%05d", cve), fmt.Sprintf("src%03d", i), fixed))
		}
	}
	for i := range absent {
		cve++
		records = append(records, record(fmt.Sprintf("CVE-2024-%05d", cve), fmt.Sprintf("absent%04d", i%1000), "1:1.0-1"))
	}
	if err := writeIndex(db, records); err != nil {
		b.Fatal(err)
	}
	return rootfs, db, want
}

// A scan of an image with 300 dpkg packages against 5,000 advisories (2,100 about its
// packages, 1,200 of them affecting it, and 2,900 about others), including the plugin call: a
// fresh instance, the request, reading the package and advisory files through the mounts,
// 1,200 findings in the response.
func BenchmarkScan300PackagesAgainst5000Advisories(b *testing.B) {
	rootfs, db, want := benchImage(b, 300, 7, 2900)
	out := scanImage(b, rootfs, db)
	if *out.Packages != 300 || len(out.Findings) != want {
		b.Fatalf("%d packages, %d findings, want 300 and %d", *out.Packages, len(out.Findings), want)
	}
	for b.Loop() {
		scanImage(b, rootfs, db)
	}
	b.ReportMetric(float64(len(out.Findings)), "findings")
}
