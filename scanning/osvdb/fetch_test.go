package osvdb

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// zipOf builds an all.zip of files (name → content), in the given order.
func zipOf(t testing.TB, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bucket serves path → bytes as OSV's bucket does, and records the paths
// asked for.
type bucket struct {
	mu      sync.Mutex
	objects map[string][]byte
	asked   []string
}

func (b *bucket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked = append(b.asked, r.URL.EscapedPath())
	obj, ok := b.objects[r.URL.Path]
	if !ok {
		http.Error(w, "<Error><Code>NoSuchKey</Code></Error>", http.StatusNotFound)
		return
	}
	w.Write(obj)
}

func serve(t *testing.T, objects map[string][]byte) (*bucket, string) {
	b := &bucket{objects: objects}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, srv.URL
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	return files
}

func TestFetchOfAnEcosystemWithoutAReleaseKeepsEveryRecord(t *testing.T) {
	b, url := serve(t, map[string][]byte{
		"/Ubuntu/all.zip": zipOf(t, [2]string{"CVE-2023-5363.json", cve20235363}, [2]string{"sub/", ""},
			[2]string{"sub/DEBIAN-CVE-2023-4911.json", looneyTunables}, [2]string{"LICENSE.txt", "CC-BY-SA"}),
	})
	dir := t.TempDir()
	got, err := Fetcher{Source: url + "/"}.Fetch(context.Background(), dir, "Ubuntu")
	if err != nil {
		t.Fatal(err)
	}
	if got.Files != 2 || got.Skipped != 0 || got.Bytes != int64(len(cve20235363)+len(looneyTunables)) || got.Dir != filepath.Join(dir, "Ubuntu") {
		t.Errorf("%+v", got)
	}
	if want := []string{"Ubuntu/CVE-2023-5363.json", "Ubuntu/sub/DEBIAN-CVE-2023-4911.json"}; !slices.Equal(listFiles(t, dir), want) {
		t.Errorf("files %v, want %v (and nothing else: no zip, no temporary directory)", listFiles(t, dir), want)
	}
	if !slices.Equal(b.asked, []string{"/Ubuntu/all.zip"}) {
		t.Errorf("asked for %v", b.asked)
	}
	content, _ := os.ReadFile(filepath.Join(dir, "Ubuntu", "CVE-2023-5363.json"))
	if string(content) != cve20235363 {
		t.Errorf("content %q", content)
	}
}

// OSV.dev exports Debian:12's records only inside Debian/all.zip
// (google/osv.dev PR #2734): a release is filtered out of it.
func TestFetchOfAReleaseKeepsOnlyItsRecordsFromTheMainEcosystemsExport(t *testing.T) {
	debian11 := `{"id":"DSA-5417-1","modified":"2023-06-01T00:00:00Z",
"affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1n-0+deb11u5"}]}]}]}`
	// Names Debian:12 only outside affected[].package: not a Debian:12 record.
	debian13 := `{"id":"DEBIAN-CVE-2025-1","modified":"2025-01-01T00:00:00Z","details":"fixed before Debian:12",
"affected":[{"package":{"ecosystem":"Debian:13","name":"curl"}}]}`
	both := `{"id":"DEBIAN-CVE-2024-2","modified":"2024-01-01T00:00:00Z",
"affected":[{"package":{"ecosystem":"Debian:11","name":"zlib"}},{"package":{"ecosystem":"Debian:12","name":"zlib"}}]}`
	b, url := serve(t, map[string][]byte{"/Debian/all.zip": zipOf(t,
		[2]string{"DSA-5532-1.json", dsa5532}, [2]string{"DSA-5417-1.json", debian11},
		[2]string{"DEBIAN-CVE-2025-1.json", debian13}, [2]string{"DEBIAN-CVE-2024-2.json", both},
		[2]string{"DSA-0000-1.json", withdrawn}, [2]string{"BROKEN.json", `{"affected":[{"package":{"ecosystem":"Debian:12"`},
		[2]string{"sub/DEBIAN-CVE-2023-4911.json", looneyTunables})})
	dir := t.TempDir()
	f := Fetcher{Source: url}
	got, err := f.Fetch(context.Background(), dir, "Debian:12")
	if err != nil {
		t.Fatal(err)
	}
	if got.Files != 3 || got.Skipped != 4 || got.Bytes != int64(len(dsa5532)+len(both)+len(looneyTunables)) ||
		got.Dir != filepath.Join(dir, "Debian:12") || got.URL != url+"/Debian/all.zip" {
		t.Errorf("%+v", got)
	}
	got11, err := f.Fetch(context.Background(), dir, "Debian:11")
	if err != nil {
		t.Fatal(err)
	}
	if got11.Files != 2 || got11.Skipped != 5 {
		t.Errorf("%+v", got11)
	}
	want := []string{"Debian:11/DEBIAN-CVE-2024-2.json", "Debian:11/DSA-5417-1.json",
		"Debian:12/DEBIAN-CVE-2024-2.json", "Debian:12/DSA-5532-1.json", "Debian:12/sub/DEBIAN-CVE-2023-4911.json"}
	if files := listFiles(t, dir); !slices.Equal(files, want) {
		t.Errorf("files %v, want %v", files, want)
	}
	// Each release is a download of its own: the main export twice.
	if !slices.Equal(b.asked, []string{"/Debian/all.zip", "/Debian/all.zip"}) {
		t.Errorf("asked for %v", b.asked)
	}
	content, _ := os.ReadFile(filepath.Join(dir, "Debian:12", "DSA-5532-1.json"))
	if string(content) != dsa5532 {
		t.Errorf("content %q", content)
	}
	// A release with no record in the export is an empty directory, not an error.
	got14, err := f.Fetch(context.Background(), dir, "Debian:14")
	if err != nil || got14.Files != 0 || got14.Skipped != 7 {
		t.Errorf("%+v %v", got14, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "Debian:14")); err != nil || !fi.IsDir() {
		t.Errorf("Debian:14: %v", err)
	}
}

func TestFetchReplacesTheEcosystemsPreviousFiles(t *testing.T) {
	b, url := serve(t, map[string][]byte{"/Debian/all.zip": zipOf(t, [2]string{"DSA-5532-1.json", dsa5532}, [2]string{"OLD-1.json", withdrawn})})
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Alpine:v3.20/CVE-1.json": cve20235363})
	f := Fetcher{Source: url}
	if _, err := f.Fetch(context.Background(), dir, "Debian:12"); err != nil {
		t.Fatal(err)
	}
	b.objects["/Debian/all.zip"] = zipOf(t, [2]string{"DSA-5532-1.json", dsa5532}, [2]string{"DEBIAN-CVE-2023-4911.json", looneyTunables})
	if _, err := f.Fetch(context.Background(), dir, "Debian:12"); err != nil {
		t.Fatal(err)
	}
	want := []string{"Alpine:v3.20/CVE-1.json", "Debian:12/DEBIAN-CVE-2023-4911.json", "Debian:12/DSA-5532-1.json"}
	if got := listFiles(t, dir); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

func TestFetchRefusesZipSlipAndChangesNothing(t *testing.T) {
	for _, name := range []string{"../evil.json", "/etc/evil.json", "a/../../evil.json", `..\evil.json`} {
		t.Run(name, func(t *testing.T) {
			_, url := serve(t, map[string][]byte{"/Debian/all.zip": zipOf(t, [2]string{"ok.json", dsa5532}, [2]string{name, withdrawn})})
			parent := t.TempDir()
			dir := filepath.Join(parent, "db")
			writeTree(t, dir, map[string]string{"Debian:12/DSA-5532-1.json": dsa5532})
			_, err := Fetcher{Source: url}.Fetch(context.Background(), dir, "Debian:12")
			if err == nil || !strings.Contains(err.Error(), "outside the ecosystem's directory") {
				t.Fatalf("err %v", err)
			}
			if got := listFiles(t, parent); !slices.Equal(got, []string{"db/Debian:12/DSA-5532-1.json"}) {
				t.Errorf("files after a refused zip: %v", got)
			}
		})
	}
}

func TestFetchSaysWhenTheSourceHasNoSuchEcosystem(t *testing.T) {
	_, url := serve(t, map[string][]byte{})
	dir := t.TempDir()
	_, err := Fetcher{Source: url}.Fetch(context.Background(), dir, "debian:12")
	if err == nil || !strings.Contains(err.Error(), "404 Not Found: the source has no such ecosystem") || !strings.Contains(err.Error(), "/debian/all.zip") {
		t.Fatalf("err %v", err)
	}
	if got := listFiles(t, dir); len(got) != 0 {
		t.Errorf("files %v", got)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "slow down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	if _, err := (Fetcher{Source: srv.URL}).Fetch(context.Background(), dir, "Debian:12"); err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Fatalf("err %v", err)
	}
	_, url = serve(t, map[string][]byte{"/Debian/all.zip": []byte("<html>not a zip</html>")})
	if _, err := (Fetcher{Source: url}).Fetch(context.Background(), dir, "Debian:12"); err == nil || !strings.Contains(err.Error(), "not a zip archive") {
		t.Fatalf("err %v", err)
	}
}

func TestFetchLimits(t *testing.T) {
	big := zipOf(t, [2]string{"a.json", dsa5532}, [2]string{"b.json", looneyTunables}, [2]string{"c.json", cve20235363})
	_, url := serve(t, map[string][]byte{"/Debian/all.zip": big})
	for _, tc := range []struct {
		name string
		f    Fetcher
		want string
	}{
		{"zip size", Fetcher{MaxZip: int64(len(big) - 1)}, "bytes"},
		{"file size", Fetcher{MaxFile: int64(len(dsa5532) - 1)}, `"a.json" is`},
		{"total size", Fetcher{MaxTotal: int64(len(dsa5532) + 10)}, "unpacked"},
		{"file count", Fetcher{MaxFiles: 2}, "more than 2 advisories"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Source = url
			dir := t.TempDir()
			_, err := tc.f.Fetch(context.Background(), dir, "Debian:12")
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrLimit mentioning %s", err, tc.want)
			}
			if got := listFiles(t, dir); len(got) != 0 {
				t.Errorf("files %v", got)
			}
		})
	}
}

func TestFetchRefusesBadEcosystemNamesAndSources(t *testing.T) {
	for _, eco := range []string{"", ".", "..", ".hidden", "a/b", `a\b`, "a\nb"} {
		if _, err := (Fetcher{Source: "http://127.0.0.1:1"}).Fetch(context.Background(), t.TempDir(), eco); err == nil {
			t.Errorf("ecosystem %q accepted", eco)
		}
	}
	for _, src := range []string{"ftp://x", "not a url", "file:///etc"} {
		if _, err := (Fetcher{Source: src}).Fetch(context.Background(), t.TempDir(), "Debian:12"); err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
			t.Errorf("source %q: %v", src, err)
		}
	}
}

func TestFetchedDirectoryIsIndexed(t *testing.T) {
	_, url := serve(t, map[string][]byte{
		"/Debian/all.zip": zipOf(t, [2]string{"DSA-5532-1.json", dsa5532}, [2]string{"DEBIAN-CVE-2023-4911.json", looneyTunables}),
		"/Alpine/all.zip": zipOf(t, [2]string{"CVE-2023-5363.json", cve20235363}),
	})
	dir := t.TempDir()
	for _, eco := range []string{"Debian:12", "Alpine:v3.18"} {
		if _, err := (Fetcher{Source: url}).Fetch(context.Background(), dir, eco); err != nil {
			t.Fatal(err)
		}
	}
	db, err := Index(context.Background(), dir, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if db.Advisories != 3 || !slices.Equal(db.Ecosystems, []string{"Alpine:v3.18", "Debian:12", "Ubuntu:22.04:LTS"}) {
		t.Errorf("%+v", db)
	}
}
