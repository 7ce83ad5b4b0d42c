package scanning

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/scanners"
	"github.com/berth-dev/berth/scanning/osvdb"
)

// The built-in scanner, as berth loads it, against testdata/osv's real
// advisories indexed as berth indexes them.
func builtinFixture(t *testing.T, withDB bool) *fixture {
	t.Helper()
	b := scanners.Builtins()[0]
	var m plugins.Manifest
	if err := json.Unmarshal(b.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	p, err := testHost.Load(context.Background(), m, b.Wasm)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Scanners: []Scanner{{Name: m.Name, Paths: m.Paths, Plugin: p}}}
	if withDB {
		idx, err := osvdb.Index(context.Background(), "testdata/osv", t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.DB = &AdvisoryDB{Dir: idx.Dir, UpdatedAt: idx.UpdatedAt}
	}
	f := newFixture(t, cfg)
	f.CreateRepository(reg, "app", scanOnPush)
	return f
}

var debianRelease = entry{name: "usr/lib/os-release", body: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"}

// dpkg returns a status file of installed packages: name, source, version.
func dpkg(pkgs ...[3]string) entry {
	body := ""
	for _, p := range pkgs {
		body += "Package: " + p[0] + "\nStatus: install ok installed\nSource: " + p[1] + "\nVersion: " + p[2] + "\nArchitecture: amd64\n\n"
	}
	return entry{name: "var/lib/dpkg/status", body: body}
}

func TestBuiltinScannerFindsTheVulnerableDebianPackageAndNotTheFixedOne(t *testing.T) {
	f := builtinFixture(t, true)
	img := f.pushImage("app", "bookworm", gzipLayer(debianRelease, entry{name: "etc/os-release", link: "../usr/lib/os-release"},
		dpkg([3]string{"openssh-server", "openssh", "1:9.2p1-2+deb12u2"}, [3]string{"libc6", "glibc", "2.36-9+deb12u4"})))
	f.settle()
	r := f.findings("app", img.Digest)
	// openssh before deb12u3 has CVE-2024-6387; glibc deb12u4 is past CVE-2023-4911's fix.
	if r.Status != StatusComplete || !slices.Equal(names(r.Findings), []string{"CVE-2024-6387"}) {
		t.Fatalf("%s %q %v", r.Status, r.Description, names(r.Findings))
	}
	fd := r.Findings[0]
	if fd.Severity != "HIGH" || fd.Attr("CVSS3_SCORE") != "8.1" || fd.Attr("CVSS3_VECTOR") != "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H" || fd.URI == "" {
		t.Errorf("finding %+v", fd)
	}
	if want := time.Date(2024, 7, 10, 0, 0, 0, 0, time.UTC); !r.SourceUpdatedAt.Equal(want) {
		t.Errorf("vulnerabilitySourceUpdatedAt %v, want the newest advisory's %v", r.SourceUpdatedAt, want)
	}

	// glibc before deb12u3, in a zstd layer over the first: the upper
	// layer's status file replaces the lower one's.
	img = f.pushImage("app", "older-glibc", gzipLayer(debianRelease, dpkg([3]string{"openssh-server", "openssh", "1:9.2p1-2+deb12u3"})),
		zstdLayer(dpkg([3]string{"openssh-server", "openssh", "1:9.2p1-2+deb12u3"}, [3]string{"libc6", "glibc", "2.36-9+deb12u1"})))
	f.settle()
	if r := f.findings("app", img.Digest); !slices.Equal(names(r.Findings), []string{"CVE-2023-4911"}) || r.Counts["HIGH"] != 1 {
		t.Fatalf("older glibc: %s %v %v", r.Status, names(r.Findings), r.Counts)
	}
}

func TestBuiltinScannerReadsAlpinesApkDatabase(t *testing.T) {
	f := builtinFixture(t, true)
	release := entry{name: "etc/os-release", body: "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.17.0\n"}
	apk := func(version string) entry {
		return entry{name: "lib/apk/db/installed", body: "P:musl\nV:1.2.3-r4\no:musl\n\nP:libssl3\nV:" + version + "\no:openssl\n\nP:libcrypto3\nV:" + version + "\no:openssl\n"}
	}
	vulnerable := f.pushImage("app", "3.0.7-r0", zstdLayer(release, apk("3.0.7-r0")))
	fixed := f.pushImage("app", "3.0.7-r2", zstdLayer(release, apk("3.0.7-r2")))
	f.settle()
	r := f.findings("app", vulnerable.Digest)
	if r.Status != StatusComplete || len(r.Findings) == 0 {
		t.Fatalf("openssl 3.0.7-r0: %s %q", r.Status, r.Description)
	}
	for _, fd := range r.Findings {
		// OSV's record has no severity.
		if fd.Name != "CVE-2022-3996" || fd.Severity != "UNDEFINED" {
			t.Errorf("finding %+v", fd)
		}
	}
	if r := f.findings("app", fixed.Digest); r.Status != StatusComplete || len(r.Findings) != 0 {
		t.Fatalf("openssl 3.0.7-r2, the fix: %s %v", r.Status, names(r.Findings))
	}
}

func TestBuiltinScannerWithoutAnOSOrADatabase(t *testing.T) {
	f := builtinFixture(t, false)
	// The database is deleted by an upper layer's whiteout, and os-release by an opaque directory.
	gone := f.pushImage("app", "gone", gzipLayer(debianRelease, dpkg([3]string{"openssh-server", "openssh", "1:9.2p1-2+deb12u2"})),
		gzipLayer(entry{name: "var/lib/dpkg/.wh.status"}, entry{name: "usr/lib/.wh..wh..opq"}))
	kept := f.pushImage("app", "kept", gzipLayer(debianRelease, dpkg([3]string{"openssh-server", "openssh", "1:9.2p1-2+deb12u2"})))
	f.settle()
	if r := f.findings("app", gone.Digest); r.Status != StatusUnsupported || r.Description != "UnsupportedImageError: The operating system and/or package manager are not supported." {
		t.Errorf("whited out: %s %q", r.Status, r.Description)
	}
	// Without --scan-db: complete, saying so, and nothing invented.
	r := f.findings("app", kept.Digest)
	if r.Status != StatusComplete || len(r.Findings) != 0 || r.Description != "The scan was completed successfully. No advisory database is configured; 1 packages were read but not checked." {
		t.Errorf("no database: %s %q %v", r.Status, r.Description, names(r.Findings))
	}
}
