package core

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The manifest cache answers a GET only with what the stored record says now.
func TestManifestGetAfterTheRecordChangesSeesTheChange(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		first, _ := f.pushImage(regA, "app", "v1", "first")
		for range 2 { // the second GET is the one a cache would answer
			img, body, err := f.r.GetManifest(asRoot(regA), regA, "app", "v1", nil)
			must(t, err, "GetManifest")
			if !bytes.Equal(body, first.body) || !img.LastPulledAt.IsZero() {
				t.Fatalf("GET v1: %d bytes, lastPulledAt %v; want the first image's %d bytes, never pulled before", len(body), img.LastPulledAt, len(first.body))
			}
		}
		// The pull time is written to the record (a listing settles it):
		// the next GET has the record's new bytes, and the time.
		pulled := f.clock.Now()
		_, err := f.r.ListImages(bg, regA, "app")
		must(t, err, "ListImages")
		f.clock.Advance(time.Hour)
		img, _, err := f.r.GetManifest(asRoot(regA), regA, "app", "v1", nil)
		must(t, err, "GetManifest after the pull time was written")
		if !img.LastPulledAt.Equal(pulled) {
			t.Fatalf("lastPulledAt = %v, want %v (the record's)", img.LastPulledAt, pulled)
		}
		// Archived: not served, whatever was read before.
		_, err = f.r.SetStorageClass(bg, regA, "app", img.Digest, true)
		must(t, err, "archive")
		_, _, err = f.r.GetManifest(asRoot(regA), regA, "app", "v1", nil)
		wantKind(t, err, KindImageArchived, "GET of the archived image")
		// The tag moved: the other image.
		second, _ := f.pushImage(regA, "app", "v1", "second")
		img, body, err := f.r.GetManifest(asRoot(regA), regA, "app", "v1", nil)
		must(t, err, "GetManifest after the tag moved")
		if !bytes.Equal(body, second.body) || img.Digest != second.digest {
			t.Fatalf("GET v1 after the tag moved: %s, want %s", img.Digest, second.digest)
		}
	})
}

func TestManifestCacheKeepsNeitherSharedPartsNorLargeBodiesAndStaysBounded(t *testing.T) {
	var c manifestCache
	key, raw := []byte("k"), []byte(`{"mediaType":"x"}`)
	c.put(key, raw, Image{Subject: &Descriptor{}}, []byte("{}"))
	c.put([]byte("a"), raw, Image{Annotations: map[string]string{"a": "b"}}, []byte("{}"))
	c.put([]byte("b"), raw, Image{}, make([]byte, manifestCacheMaxBody+1))
	if len(c.m) != 0 {
		t.Fatalf("kept %d entries, want none", len(c.m))
	}
	c.put(key, raw, Image{MediaType: "x"}, []byte("{}"))
	if e := c.get(key, raw); e == nil || e.img.MediaType != "x" {
		t.Fatalf("get of the same record: %v", e)
	}
	if e := c.get(key, []byte(`{"mediaType":"y"}`)); e != nil {
		t.Fatal("get of a record with other bytes answered")
	}
	body := make([]byte, manifestCacheMaxBody)
	for i := range 2 * manifestCacheBytes / manifestCacheMaxBody {
		c.put([]byte{byte(i), byte(i >> 8)}, raw, Image{}, body)
		if c.bytes > manifestCacheBytes {
			t.Fatalf("holds %d bytes, more than %d", c.bytes, manifestCacheBytes)
		}
	}
}

// A manifest read looks its repository up only when it finds nothing; what
// it answers is still resolve's order: the repository first, then the
// reference.
func TestManifestReadsOfAMissingRepositoryOrReferenceAnswerAsResolveDoes(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img, _ := f.pushImage(regA, "app", "v1", "one")
		absent := "sha256:" + strings.Repeat("0", 64)
		for _, c := range []struct {
			repo, ref string
			want      Kind
		}{
			{"nosuch", "v1", KindRepositoryNotFound},
			{"nosuch", "bad tag!", KindRepositoryNotFound},
			{"nosuch", "sha256:zz", KindRepositoryNotFound},
			{"nosuch", absent, KindRepositoryNotFound},
			{"nosuch", string(img.digest), KindRepositoryNotFound},
			{"app", "bad tag!", KindTagInvalid},
			{"app", "sha256:zz", KindDigestInvalid},
			{"app", "v2", KindManifestNotFound},
			{"app", absent, KindManifestNotFound},
		} {
			_, _, err := f.r.GetManifest(asRoot(regA), regA, c.repo, c.ref, nil)
			wantKind(t, err, c.want, "GET "+c.repo+":"+c.ref)
			_, err = f.r.StatManifest(asRoot(regA), regA, c.repo, c.ref, nil)
			wantKind(t, err, c.want, "HEAD "+c.repo+":"+c.ref)
		}
		// Deleted with its repository, a manifest is not found either way.
		_, err := f.r.DeleteRepository(bg, regA, "app", true)
		must(t, err, "DeleteRepository")
		_, _, err = f.r.GetManifest(asRoot(regA), regA, "app", string(img.digest), nil)
		wantKind(t, err, KindRepositoryNotFound, "GET in the deleted repository")
	})
}

// What byRef remembers is used only while the entry is still the one the
// cache holds under its key: an entry replaced or dropped (the cache
// started over) is not answered, so byRef keeps nothing alive past the
// cache's bound.
func TestManifestCacheAnswersASnapshotOnlyWithAnEntryItStillHolds(t *testing.T) {
	var c manifestCache
	key, raw := []byte("repo\x00sha256:x"), []byte(`{"mediaType":"x"}`)
	e := c.put(key, raw, Image{MediaType: "x"}, []byte("{}"))
	c.remember("repo\x00v1", 7, key, e)
	if got := c.atSnapshot([]byte("repo\x00v1"), 7); got != e {
		t.Fatalf("same snapshot: %v, want the entry", got)
	}
	if got := c.atSnapshot([]byte("repo\x00v1"), 8); got != nil {
		t.Fatal("another snapshot answered")
	}
	c.put(key, []byte(`{"mediaType":"y"}`), Image{MediaType: "y"}, []byte("{}")) // replaced
	if got := c.atSnapshot([]byte("repo\x00v1"), 7); got != nil {
		t.Fatal("answered with an entry the cache no longer holds")
	}
}

// A GET of a manifest never pulled keeps nothing in the cache (its first
// pull's time rewrites the record within pullFlushDelay, and an entry made
// from the old record would never be used): pulling each child of an index
// once fills no cache. A second pull before the time is written (a pull
// loop) keeps it, and so does any pull of a record pulled before. Every GET
// answers with the stored bytes either way.
func TestManifestCacheKeepsARecordNeverPulledOnlyFromItsSecondPull(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		once, _ := f.pushImage(regA, "app", "once", "pulled once")
		twice, _ := f.pushImage(regA, "app", "twice", "pulled twice")
		cached := func(dg string) bool {
			f.r.manifests.mu.Lock()
			defer f.r.manifests.mu.Unlock()
			for k := range f.r.manifests.m {
				if strings.HasSuffix(k, dg) {
					return true
				}
			}
			return false
		}
		get := func(img image) {
			t.Helper()
			_, body, err := f.r.GetManifest(asRoot(regA), regA, "app", img.digest.String(), nil)
			must(t, err, "GetManifest")
			if !bytes.Equal(body, img.body) {
				t.Fatalf("GET %s: other bytes", img.digest)
			}
		}
		get(once)
		get(twice)
		if cached(once.digest.String()) || cached(twice.digest.String()) {
			t.Fatal("a first pull of a record never pulled was kept")
		}
		get(twice)
		if !cached(twice.digest.String()) {
			t.Fatal("the second pull of a record was not kept")
		}
		// Once the pull times are written, a pull keeps what it reads.
		f.r.settlePulls()
		get(once)
		if !cached(once.digest.String()) {
			t.Fatal("a pull of a record pulled before was not kept")
		}
		get(once)
	})
}
