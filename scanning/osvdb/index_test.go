package osvdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// packageRecords reads an index's array for (ecosystem, name) as the
// scanner does.
func packageRecords(t *testing.T, db DB, ecosystem, name string) []json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(db.Dir, url.PathEscape(ecosystem), url.PathEscape(name)+".json"))
	if err != nil {
		t.Fatalf("%s/%s: %v", ecosystem, name, err)
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatalf("%s/%s is not a JSON array: %v\n%s", ecosystem, name, err, b)
	}
	return recs
}

func TestIndexGroupsAdvisoriesByEcosystemAndPackage(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"Debian:12/DSA-5532-1.json":           dsa5532,
		"Debian:12/DEBIAN-CVE-2023-4911.json": looneyTunables,
		"mixed/deeper/CVE-2023-5363.json":     cve20235363,
		"Go/GO-2023-2102.json":                goNet,
		"Debian:12/withdrawn/DSA-0000-1.json": withdrawn,
		"Debian:12/README.md":                 "not an advisory, not read",
	})
	db, err := Index(context.Background(), src, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if db.Advisories != 5 || db.Malformed != 0 {
		t.Errorf("advisories %d, malformed %d; want 5 and 0", db.Advisories, db.Malformed)
	}
	if want := time.Date(2024, 9, 3, 8, 0, 0, 0, time.UTC); !db.UpdatedAt.Equal(want) {
		t.Errorf("UpdatedAt %v, want the newest modified %v", db.UpdatedAt, want)
	}
	if want := []string{"Alpine:v3.18", "Debian:12", "Go", "Ubuntu:22.04:LTS"}; !slices.Equal(db.Ecosystems, want) {
		t.Errorf("ecosystems %v, want %v", db.Ecosystems, want)
	}

	// Each record verbatim, once per package it affects.
	if recs := packageRecords(t, db, "Debian:12", "openssl"); len(recs) != 1 || string(recs[0]) != strings.TrimSpace(dsa5532) {
		t.Errorf("Debian:12/openssl: %s", recs)
	}
	if recs := packageRecords(t, db, "Debian:12", "glibc"); len(recs) != 1 || string(recs[0]) != looneyTunables {
		t.Errorf("Debian:12/glibc: %s", recs)
	}
	if recs := packageRecords(t, db, "Alpine:v3.18", "openssl"); len(recs) != 1 || string(recs[0]) != cve20235363 {
		t.Errorf("Alpine:v3.18/openssl: %d records", len(recs))
	}
	if recs := packageRecords(t, db, "Ubuntu:22.04:LTS", "openssl"); len(recs) != 1 {
		t.Errorf("Ubuntu:22.04:LTS/openssl: %d records", len(recs))
	}
	if recs := packageRecords(t, db, "Go", "golang.org/x/net"); len(recs) != 1 {
		t.Errorf("Go/golang.org/x/net: %d records", len(recs))
	}
	if _, err := os.Stat(filepath.Join(db.Dir, "Go", "golang.org%2Fx%2Fnet.json")); err != nil {
		t.Errorf("a module path's slashes are escaped: %v", err)
	}

	// meta.json as the contract spells it.
	var m map[string]any
	b, _ := os.ReadFile(filepath.Join(db.Dir, "meta.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["updatedAt"] != "2024-09-03T08:00:00Z" || m["advisories"] != 5.0 || len(m["ecosystems"].([]any)) != 4 {
		t.Errorf("meta.json: %s", b)
	}
}

func TestIndexSkipsAndCountsMalformedFiles(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"ok.json":           dsa5532,
		"truncated.json":    dsa5532[:40],
		"array.json":        "[" + dsa5532 + "]",
		"no-id.json":        `{"modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"curl"}}]}`,
		"no-modified.json":  `{"id":"X-1","affected":[{"package":{"ecosystem":"Debian:12","name":"curl"}}]}`,
		"bad-modified.json": `{"id":"X-2","modified":"yesterday","affected":[{"package":{"ecosystem":"Debian:12","name":"curl"}}]}`,
		"empty.json":        "",
	})
	var logs bytes.Buffer
	db, err := Index(context.Background(), src, t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if db.Advisories != 1 || db.Malformed != 6 {
		t.Errorf("advisories %d, malformed %d; want 1 and 6", db.Advisories, db.Malformed)
	}
	if _, err := os.Stat(filepath.Join(db.Dir, "Debian:12", "curl.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a malformed record was indexed: %v", err)
	}
	for _, f := range []string{"truncated.json", "array.json", "no-id.json", "no-modified.json", "bad-modified.json", "empty.json"} {
		if !strings.Contains(logs.String(), "file="+f) {
			t.Errorf("%s not reported:\n%s", f, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "malformed=6") {
		t.Errorf("the count is not reported:\n%s", logs.String())
	}
}

func TestIndexReusesAnUnchangedSourceAndRebuildsAChangedOne(t *testing.T) {
	src, cache := t.TempDir(), t.TempDir()
	writeTree(t, src, map[string]string{"Debian:12/DSA-5532-1.json": dsa5532})
	first, err := Index(context.Background(), src, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A marker the rebuild would not have: reuse returns the same files.
	marker := filepath.Join(first.Dir, "Debian:12", "marker")
	os.WriteFile(marker, nil, 0o644)
	again, err := Index(context.Background(), src, cache, nil)
	if err != nil || again.Dir != first.Dir || again.Advisories != 1 {
		t.Fatalf("unchanged source: %+v %v (first %+v)", again, err, first)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the index was rebuilt for an unchanged source: %v", err)
	}

	// A new advisory, a changed mtime, a changed size: each rebuilds.
	changes := []func(){
		func() { writeTree(t, src, map[string]string{"Debian:12/DEBIAN-CVE-2023-4911.json": looneyTunables}) },
		func() {
			later := time.Now().Add(time.Hour)
			os.Chtimes(filepath.Join(src, "Debian:12/DSA-5532-1.json"), later, later)
		},
		func() { writeTree(t, src, map[string]string{"Debian:12/DSA-5532-1.json": dsa5532 + "\n"}) },
	}
	dirs := []string{first.Dir}
	for i, change := range changes {
		change()
		db, err := Index(context.Background(), src, cache, nil)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(dirs, db.Dir) {
			t.Fatalf("change %d: index %s reused", i, db.Dir)
		}
		dirs = append(dirs, db.Dir)
	}
	// The current index and the one before it stay (a scan may still be
	// reading that); older ones go.
	entries, _ := os.ReadDir(cache)
	var left []string
	for _, e := range entries {
		left = append(left, filepath.Join(cache, e.Name()))
	}
	slices.Sort(left)
	want := slices.Sorted(slices.Values(dirs[len(dirs)-2:]))
	if !slices.Equal(left, want) {
		t.Errorf("cache holds %v, want %v", left, want)
	}
}

func TestIndexDoesNotReadHiddenDirectories(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"Debian:12/DSA-5532-1.json":                     dsa5532,
		".fetch-123/unpacked/DEBIAN-CVE-2023-4911.json": looneyTunables, // a fetch under way
		"Debian:12/.DSA-0000-1.json.swp.json":           withdrawn,
	})
	db, err := Index(context.Background(), src, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if db.Advisories != 1 {
		t.Errorf("advisories %d, want 1", db.Advisories)
	}
}

func TestIndexRefusesNamesThatWouldLeaveTheIndex(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"evil.json": `{"id":"EVIL-1","modified":"2023-01-01T00:00:00Z","affected":[
 {"package":{"ecosystem":"..","name":"passwd"}},
 {"package":{"ecosystem":".","name":"x"}},
 {"package":{"ecosystem":"","name":"x"}},
 {"package":{"ecosystem":"meta.json","name":"x"}},
 {"package":{"ecosystem":"Debian:12","name":""}},
 {"package":{"ecosystem":"Debian:12","name":"../../../etc/passwd"}},
 {"package":{"ecosystem":"Debian:12","name":".."}}]}`,
	})
	cache := t.TempDir()
	db, err := Index(context.Background(), src, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(db.Dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	want := []string{"Debian:12/..%2F..%2F..%2Fetc%2Fpasswd.json", "Debian:12/...json", "meta.json"}
	if !slices.Equal(files, want) {
		t.Errorf("index files %q, want %q", files, want)
	}
}

func TestIndexLeavesNoPartialIndexWhenCancelled(t *testing.T) {
	src, cache := t.TempDir(), t.TempDir()
	writeTree(t, src, map[string]string{"a.json": dsa5532})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Index(ctx, src, cache, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("cache holds %v after a cancelled build", entries)
	}
	if _, err := Index(context.Background(), filepath.Join(src, "missing"), cache, nil); err == nil {
		t.Error("a missing source indexed")
	}
}

func TestIndexReplacesAnIncompleteIndexOfTheSameSource(t *testing.T) {
	src, cache := t.TempDir(), t.TempDir()
	writeTree(t, src, map[string]string{"a.json": dsa5532})
	db, err := Index(context.Background(), src, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(db.Dir, "meta.json"))
	again, err := Index(context.Background(), src, cache, nil)
	if err != nil || again.Dir != db.Dir || again.Advisories != 1 {
		t.Fatalf("%+v %v", again, err)
	}
	if _, err := os.Stat(filepath.Join(db.Dir, "meta.json")); err != nil {
		t.Fatal(err)
	}
}

func TestIndexIsTheSameWhateverItsFlushes(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"a/DSA-5532-1.json": dsa5532, "b/DEBIAN-CVE-2023-4911.json": looneyTunables,
		"c/CVE-2023-5363.json": cve20235363, "d/GO-2023-2102.json": goNet,
		"e/DSA-5532-2.json": strings.Replace(dsa5532, "DSA-5532-1", "DSA-5532-2", 1),
	})
	read := func(flush int) map[string]string {
		defer func(old int) { flushBytes = old }(flushBytes)
		flushBytes = flush
		db, err := Index(context.Background(), src, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		filepath.WalkDir(db.Dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && d.Name() != "meta.json" {
				b, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(db.Dir, p)
				files[rel] = string(b)
			}
			return nil
		})
		return files
	}
	batched := read(flushBytes)
	for _, flush := range []int{0, 600} {
		if got := read(flush); !maps.Equal(got, batched) {
			t.Errorf("flushing past %d bytes: %v\nwant %v", flush, got, batched)
		}
	}
	var arr []json.RawMessage
	if err := json.Unmarshal([]byte(batched[filepath.Join("Debian:12", "openssl.json")]), &arr); err != nil || len(arr) != 2 {
		t.Errorf("Debian:12/openssl.json: %d records, %v", len(arr), err)
	}
}
