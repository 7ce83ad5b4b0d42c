package osv

import (
	"encoding/json"
	"strings"
	"testing"
)

// numeric compares plain integers written as strings, to test the range logic alone.
func numeric(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func affected(ranges ...Range) Affected {
	return Affected{Package: Package{Ecosystem: "Debian:12", Name: "openssl"}, Ranges: ranges}
}

func ecosystem(events ...Event) Range { return Range{Type: "ECOSYSTEM", Events: events} }

func TestRangesFollowTheSchemasEvaluation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a        Affected
		affected []string
		safe     []string
	}{
		{"introduced 0 means from the start", affected(ecosystem(Event{Introduced: "0"}, Event{Fixed: "5"})),
			[]string{"0", "1", "4"}, []string{"5", "6", "10"}},
		{"introduced later", affected(ecosystem(Event{Introduced: "3"}, Event{Fixed: "5"})),
			[]string{"3", "4"}, []string{"1", "2", "5"}},
		{"unfixed", affected(ecosystem(Event{Introduced: "0"})),
			[]string{"1", "1000"}, nil},
		{"last_affected includes its version", affected(ecosystem(Event{Introduced: "2"}, Event{LastAffected: "4"})),
			[]string{"2", "4"}, []string{"1", "5"}},
		{"several intervals, events out of order", affected(ecosystem(
			Event{Fixed: "12"}, Event{Introduced: "10"}, Event{Fixed: "5"}, Event{Introduced: "1"})),
			[]string{"1", "4", "10", "11"}, []string{"0", "5", "9", "12", "20"}},
		{"limit bounds the range", affected(ecosystem(Event{Introduced: "0"}, Event{Limit: "7"})),
			[]string{"1", "6"}, []string{"7", "8"}},
		{"limit * bounds nothing", affected(ecosystem(Event{Introduced: "0"}, Event{Limit: "*"})),
			[]string{"1", "99"}, nil},
		{"fixed at the introduced version affects nothing", affected(ecosystem(Event{Introduced: "3"}, Event{Fixed: "3"})),
			nil, []string{"2", "3", "4"}},
		{"SEMVER ranges are not distribution versions", affected(Range{Type: "SEMVER", Events: []Event{{Introduced: "0"}}}),
			nil, []string{"1"}},
		{"explicit versions", Affected{Package: Package{Ecosystem: "Debian:12", Name: "openssl"}, Versions: []string{"2", "8"}},
			[]string{"2", "8"}, []string{"3"}},
		{"a second range", affected(ecosystem(Event{Introduced: "1"}, Event{Fixed: "2"}), ecosystem(Event{Introduced: "5"})),
			[]string{"1", "5", "6"}, []string{"2", "4"}},
	} {
		for _, v := range tc.affected {
			if !tc.a.Includes(v, numeric) {
				t.Errorf("%s: %s should be affected", tc.name, v)
			}
		}
		for _, v := range tc.safe {
			if tc.a.Includes(v, numeric) {
				t.Errorf("%s: %s should not be affected", tc.name, v)
			}
		}
	}
}

const record = `{
  "id": "DEBIAN-CVE-2024-6387",
  "modified": "2024-07-10T00:00:00Z",
  "upstream": ["CVE-2024-6387"],
  "summary": "",
  "details": "A signal handler race condition was found in sshd.",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [
    {"package": {"ecosystem": "Debian:11", "name": "openssh"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:8.4p1-5+deb11u3"}]}]},
    {"package": {"ecosystem": "Debian:12", "name": "openssh", "purl": "pkg:deb/debian/openssh?arch=source"},
     "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:9.2p1-2+deb12u3"}]}],
     "ecosystem_specific": {"urgency": "high", "something": [1, 2]},
     "database_specific": {"source": "https://example.org"}}
  ],
  "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-6387"}],
  "database_specific": "not an object"
}`

func TestAffectsMatchesEcosystemAndNameExactlyAndSkipsWithdrawn(t *testing.T) {
	var r Record
	if err := json.Unmarshal([]byte(record), &r); err != nil {
		t.Fatal(err)
	}
	// A stand-in order good enough for these versions: all share the epoch.
	cmp := strings.Compare
	a, ok := r.Affects("Debian:12", "openssh", "1:9.2p1-2+deb12u2", cmp)
	if !ok || a.Package.Ecosystem != "Debian:12" || a.EcosystemSpecific.Urgency != "high" {
		t.Fatalf("vulnerable openssh on Debian 12: %+v %v", a, ok)
	}
	if _, ok := r.Affects("Debian:12", "openssh", "1:9.2p1-2+deb12u3", cmp); ok {
		t.Fatal("the fixed version is affected")
	}
	if _, ok := r.Affects("Debian:13", "openssh", "1:9.2p1-2+deb12u2", cmp); ok {
		t.Fatal("another release's ecosystem matched")
	}
	if _, ok := r.Affects("Debian:12", "openssh-server", "1:9.2p1-2+deb12u2", cmp); ok {
		t.Fatal("a binary package name matched the source package's advisory")
	}
	r.Withdrawn = "2024-08-01T00:00:00Z"
	if _, ok := r.Affects("Debian:12", "openssh", "1:9.2p1-2+deb12u2", cmp); ok {
		t.Fatal("a withdrawn advisory matched")
	}
}

func TestCVEsListsTheRecordsCVEIdsOnce(t *testing.T) {
	r := Record{ID: "DSA-5724-1", Aliases: []string{"CVE-2024-6387", "GHSA-x"}, Upstream: []string{"CVE-2024-6387", "CVE-2024-6409"}}
	if got := r.CVEs(); strings.Join(got, ",") != "CVE-2024-6387,CVE-2024-6409" {
		t.Fatalf("got %v", got)
	}
}
