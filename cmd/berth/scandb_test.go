package main

import (
	"archive/zip"
	"bytes"
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/scanning/osvdb"
)

// Hand-written OSV records after real advisories (fields trimmed).
const (
	osvOpenSSLDebian = `{"id":"DSA-5532-1","modified":"2023-10-25T12:00:00Z","aliases":["CVE-2023-5363"],
"affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}]}`
	osvGlibcDebian = `{"id":"DEBIAN-CVE-2023-4911","modified":"2024-09-03T08:00:00Z","aliases":["CVE-2023-4911"],
"affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.36-9+deb12u3"}]}]}]}`
	// Other releases in the same exports, which a fetch of Debian:12 or
	// Alpine:v3.20 leaves out.
	osvOpenSSLDebian11 = `{"id":"DSA-5417-1","modified":"2023-06-01T00:00:00Z",
"affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1n-0+deb11u5"}]}]}]}`
	osvOpenSSLAlpine319 = `{"id":"ALPINE-CVE-2023-5363-319","modified":"2023-11-07T00:00:00Z",
"affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.1.4-r0"}]}]}]}`
	osvOpenSSLAlpine = `{"id":"ALPINE-CVE-2023-5363","modified":"2023-11-07T00:00:00Z","aliases":["CVE-2023-5363"],
"affected":[{"package":{"ecosystem":"Alpine:v3.20","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.1.4-r0"}]}]}]}`
)

func fixtureZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[name]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// osvBucket serves all.zip fixtures at OSV's paths: one export per main
// ecosystem, every release inside (google/osv.dev PR #2734).
func osvBucket(t *testing.T) string {
	t.Helper()
	objects := map[string][]byte{
		"/Debian/all.zip": fixtureZip(t, map[string]string{"DSA-5532-1.json": osvOpenSSLDebian, "DEBIAN-CVE-2023-4911.json": osvGlibcDebian,
			"DSA-5417-1.json": osvOpenSSLDebian11}),
		"/Alpine/all.zip": fixtureZip(t, map[string]string{"ALPINE-CVE-2023-5363.json": osvOpenSSLAlpine, "ALPINE-CVE-2023-5363-319.json": osvOpenSSLAlpine319}),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obj, ok := objects[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(obj)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestScanDBFetchDownloadsEcosystemsThatIndexAccepts(t *testing.T) {
	source := osvBucket(t)
	dir := filepath.Join(t.TempDir(), "scan-db")
	var out bytes.Buffer
	err := run([]string{"scan-db", "fetch", "--dir", dir, "--ecosystem", "Debian:12", "--ecosystem", "Alpine:v3.20", "--source", source}, &out, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"Debian:12: 2 advisories", "Alpine:v3.20: 1 advisory (", filepath.Join(dir, "Debian:12"),
		source + "/Debian/all.zip; 1 not in Debian:12 left out", source + "/Alpine/all.zip; 1 not in Alpine:v3.20 left out"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	db, err := osvdb.Index(context.Background(), dir, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if db.Advisories != 3 || db.Malformed != 0 || !slices.Equal(db.Ecosystems, []string{"Alpine:v3.20", "Debian:12"}) {
		t.Errorf("index of the fetched directory: %+v", db)
	}
	if _, err := os.Stat(filepath.Join(db.Dir, "Debian:12", "glibc.json")); err != nil {
		t.Error(err)
	}
}

func TestScanDBFetchTakesTheDirFromBERTH_SCAN_DB(t *testing.T) {
	source := osvBucket(t)
	dir := t.TempDir()
	t.Setenv("BERTH_SCAN_DB", dir)
	var out bytes.Buffer
	if err := run([]string{"scan-db", "fetch", "--ecosystem", "Alpine:v3.20", "--source", source}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "Alpine:v3.20", "ALPINE-CVE-2023-5363.json")); err != nil {
		t.Fatal(err)
	}
}

func TestScanDBFetchReportsAMissingEcosystemAndKeepsTheOthers(t *testing.T) {
	source := osvBucket(t)
	dir := t.TempDir()
	var out bytes.Buffer
	err := run([]string{"scan-db", "fetch", "--dir", dir, "--ecosystem", "Debain:12", "--ecosystem", "Debian:12", "--source", source}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "Debain:12") || !strings.Contains(err.Error(), "404 Not Found: the source has no such ecosystem") {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(out.String(), "Debian:12: 2 advisories") {
		t.Errorf("the good ecosystem was not fetched:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "Debain:12")); !os.IsNotExist(err) {
		t.Errorf("a directory for the missing ecosystem: %v", err)
	}
}

func TestScanDBFetchRefusesMissingOrBadFlags(t *testing.T) {
	t.Setenv("BERTH_SCAN_DB", "")
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scan-db", "fetch", "--ecosystem", "Debian:12"}, "needs --dir"},
		{[]string{"scan-db", "fetch", "--dir", dir}, "at least one --ecosystem"},
		{[]string{"scan-db", "fetch", "--dir", dir, "--ecosystem", "Debian/12"}, "slash"},
		{[]string{"scan-db", "fetch", "--dir", dir, "--ecosystem", "Debian:12", "extra"}, "no arguments"},
		{[]string{"scan-db", "fetch", "--dir", dir, "--ecosystem", "Debian:12", "--source", "ftp://mirror"}, "not an http(s) URL"},
		{[]string{"scan-db", "pull"}, `unknown scan-db command "pull"`},
		{[]string{"scan-db"}, "missing scan-db command"},
	} {
		var out bytes.Buffer
		if err := run(tc.args, &out, &out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
	var out bytes.Buffer
	if err := run([]string{"scan-db", "help"}, &out, &out); err != nil || !strings.Contains(out.String(), "berth scan-db fetch --dir DIR") {
		t.Errorf("help: %v %s", err, out.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused command wrote %v", entries)
	}
}
