package osvdb

import (
	"os"
	"path/filepath"
	"testing"
)

// Hand-written OSV records after well-known advisories (fields trimmed).
const (
	// OpenSSL's CVE-2023-5363 (key and IV length processing), as Debian's
	// security tracker exports it for bookworm.
	dsa5532 = `{
  "id": "DSA-5532-1",
  "summary": "openssl - security update",
  "aliases": ["CVE-2023-5363"],
  "modified": "2023-10-25T12:00:00Z",
  "published": "2023-10-24T00:00:00Z",
  "affected": [{
    "package": {"ecosystem": "Debian:12", "name": "openssl", "purl": "pkg:deb/debian/openssl?arch=source"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}]
  }],
  "references": [{"type": "ADVISORY", "url": "https://www.debian.org/security/2023/dsa-5532"}]
}`
	// glibc's "Looney Tunables" (CVE-2023-4911) in bookworm, with its CVSS.
	looneyTunables = `{"id":"DEBIAN-CVE-2023-4911","modified":"2024-09-03T08:00:00Z","aliases":["CVE-2023-4911"],
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
"affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.36-9+deb12u3"}]}]}]}`
	// The same openssl flaw in Alpine and Ubuntu: one record, two
	// ecosystems, and the same package listed twice.
	cve20235363 = `{"id":"CVE-2023-5363","modified":"2023-11-07T00:00:00Z",
"affected":[
 {"package":{"ecosystem":"Alpine:v3.18","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"3.1.0-r0"},{"fixed":"3.1.4-r0"}]}]},
 {"package":{"ecosystem":"Alpine:v3.18","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"3.0.0-r0"},{"fixed":"3.0.12-r0"}]}]},
 {"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.2-0ubuntu1.12"}]}]}]}`
	// A Go module path: its slashes must not become directories.
	goNet = `{"id":"GO-2023-2102","modified":"2023-10-11T00:00:00Z","aliases":["CVE-2023-39325"],
"affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/net"}}]}`
	// Withdrawn records carry no affected packages: counted, indexed nowhere.
	withdrawn = `{"id":"DSA-0000-1","modified":"2022-01-01T00:00:00Z","withdrawn":"2022-01-01T00:00:00Z"}`
)

// writeTree writes files (path relative to dir → content).
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
