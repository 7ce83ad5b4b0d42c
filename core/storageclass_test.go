package core

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// hasStorageClass is what saysNoStorageClass must never deny.
func hasStorageClass(rec *imageRecord) bool {
	return rec.Archived || !rec.ArchivedAt.IsZero() || !rec.ActivatedAt.IsZero()
}

// checkNoStorageClass checks saysNoStorageClass on b, a stored value or a
// record as putJSON writes it: it must say true exactly when the record
// has none of the storage class's members (so that listings take the
// shortcut for nearly every image, and never for one that has them).
func checkNoStorageClass(t *testing.T, b []byte) {
	t.Helper()
	var rec imageRecord
	if err := json.Unmarshal(recordPart(b), &rec); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	if got, want := saysNoStorageClass(recordPart(b)), !hasStorageClass(&rec); got != want {
		t.Fatalf("%q: saysNoStorageClass = %v, want %v", b, got, want)
	}
}

// Every shape of record putJSON writes — each optional member present or
// not, times in every form time.Time writes them (UTC, offsets east and
// west, nanoseconds, the zero time) — and tricky strings before the end.
func TestSaysNoStorageClassOnEveryRecordShape(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(2026, 12, 3, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 12, 3, 3, 4, 5, 123456789, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 100, time.FixedZone("east", 2*3600+30*60)),
		time.Date(1999, 1, 1, 0, 0, 0, 0, time.FixedZone("west", -5*3600)),
		time.Date(9999, 12, 31, 0, 0, 59, 999999999, time.UTC),
	}
	tricky := map[string]string{
		"archived": "true", `"archived":true`: `","activatedAt":"2026-12-03T03:04:05Z"}`,
		"pushedAt": "2026-12-03T03:04:05Z", "k": `\"}`, "é": "<>&\u2028",
	}
	const (
		artifactType = 1 << iota
		configMediaType
		subject
		annotations
		lastPulledAt
		archived
		archivedAt
		activatedAt
		members
	)
	n := 0
	for shape := range members {
		for ti, at := range times {
			rec := imageRecord{MediaType: MediaTypeOCIManifest, Size: int64(ti) * 1000, ImageSize: 7, PushedAt: at}
			later := at.Add(time.Duration(ti+1) * time.Hour)
			if shape&artifactType != 0 {
				rec.ArtifactType = "application/vnd.example+json"
			}
			if shape&configMediaType != 0 {
				rec.ConfigMediaType = mtConfig
			}
			if shape&subject != 0 {
				rec.Subject = &Descriptor{MediaType: MediaTypeOCIManifest, Digest: digest.FromString("s"), Size: 3, Annotations: tricky}
			}
			if shape&annotations != 0 {
				rec.Annotations = tricky
			}
			if shape&lastPulledAt != 0 {
				rec.LastPulledAt = later
			}
			rec.Archived = shape&archived != 0
			if shape&archivedAt != 0 {
				rec.ArchivedAt = later.Add(time.Minute)
			}
			if shape&activatedAt != 0 {
				rec.ActivatedAt = later.Add(time.Hour)
			}
			enc, err := encodeRecord(&rec)
			must(t, err, "encodeRecord")
			marshaled, err := json.Marshal(rec) // what an upgrade writes
			must(t, err, "json.Marshal")
			if !bytes.Equal(enc, marshaled) {
				t.Fatalf("encodeRecord %s\njson.Marshal %s", enc, marshaled)
			}
			checkNoStorageClass(t, enc)
			checkNoStorageClass(t, appendImageValue(nil, enc, []byte(`{"x":"y"}`+sep+`"},"archived":true}`)))
			n++
		}
	}
	if n != members*len(times) {
		t.Fatalf("%d records", n)
	}
	// Not what putJSON writes: the reader is asked (false), whatever they say.
	for _, s := range []string{
		``, `}`, `"}`, `{}`, `{"mediaType":"m"}`, `{"mediaType":"m","pushedAt":""}`,
		`{"mediaType":"m","pushedAt":"2026-12-03T03:04:05Z","x":"2026"}`,
		`{"mediaType":"m","pushedAt":"2026-12-03T03:04:05Z"} `,
		`{"mediaType":"m","notpushedAt":"2026-12-03T03:04:05Z"}`,
		`{"mediaType":"m","x":"\",\"pushedAt\":\"2026-12-03T03:04:05Z"}`,
		`{"mediaType":"m","activatedAt":"2026-12-03T03:04:05Z"}`,
		`{"mediaType":"m","archivedAt":"2026-12-03T03:04:05Z"}`,
		`{ "mediaType":"m","pushedAt":"2026-12-03T03:04:05Z"}`,
		`{"size":1,"archived":true,"pushedAt":"2026-12-03T03:04:05Z"}`,
	} {
		if saysNoStorageClass([]byte(s)) {
			t.Errorf("%s: saysNoStorageClass", s)
		}
	}
}

// The records of older layouts as their builds wrote them: the data-dir
// fixtures of layouts 6 and 7 (records alone, and records before their
// manifest's bytes), read straight from their bbolt files.
func TestSaysNoStorageClassOnOlderLayoutsRecords(t *testing.T) {
	for _, dir := range []string{"datadir-layout6", "datadir-layout7"} {
		src, err := os.ReadFile(filepath.Join("..", "e2e", "testdata", dir, "meta.db"))
		must(t, err, "reading the fixture")
		path := filepath.Join(t.TempDir(), "meta.db")
		must(t, os.WriteFile(path, src, 0o600), "copying the fixture")
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		must(t, err, "opening the fixture")
		n := 0
		err = db.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bManifests)).ForEach(func(k, v []byte) error {
				checkNoStorageClass(t, v)
				n++
				return nil
			})
		})
		db.Close()
		must(t, err, "reading the records")
		if n < 4 {
			t.Fatalf("%s: %d records", dir, n)
		}
	}
}

// A store upgraded from layout 1 (its records rewritten by json.Marshal),
// with archived, restored and pulled images: every record is as putJSON
// writes it, and the listing of ids agrees with the images.
func TestSaysNoStorageClassAfterAnUpgrade(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		var imgs []image
		for i := range 6 {
			img, _ := f.pushImage(regA, "app", "v"+itoa(int64(i)), "seed"+itoa(int64(i)))
			imgs = append(imgs, img)
			f.clock.Advance(time.Minute)
		}
		_, _, err := f.r.GetManifest(bg, regA, "app", "v1", nil)
		must(t, err, "pull")
		f.r.settlePulls()
		f.downgrade()
		r, err := Open(Options{KV: f.kv, Blobs: f.blobs, Clock: f.clock})
		must(t, err, "Open")
		f.r.Bus().Close()
		f.r = r
		for i, archive := range []bool{true, true, false} {
			_, err := f.r.SetStorageClass(bg, regA, "app", imgs[2+i].digest, archive)
			must(t, err, "SetStorageClass")
		}
		_, err = f.r.SetStorageClass(bg, regA, "app", imgs[3].digest, false) // restored
		must(t, err, "restore")
		f.kv.View(func(tx kv.Tx) error {
			return tx.Scan(bManifests, nil, nil, func(k, v []byte) bool {
				checkNoStorageClass(t, v)
				return true
			})
		})
		all, _, err := f.r.PageImages(bg, regA, "app", ImagePage{})
		must(t, err, "PageImages")
		ids, _, err := f.r.PageImageIDs(bg, regA, "app", "", 100)
		must(t, err, "PageImageIDs")
		if len(ids) != len(all) {
			t.Fatalf("%d ids, %d images", len(ids), len(all))
		}
		classes := 0
		for i := range all {
			if ids[i].Digest != all[i].Digest || ids[i].Archived != all[i].Archived || !ids[i].ActivatedAt.Equal(all[i].ActivatedAt) {
				t.Fatalf("id %+v, image %+v", ids[i], all[i])
			}
			if all[i].Archived || !all[i].ActivatedAt.IsZero() {
				classes++
			}
		}
		if classes != 2 {
			t.Fatalf("%d images with a storage class, want 2 (one archived, one restored)", classes)
		}
	})
}

// The last value's opening quote is found in the record's last 40 bytes,
// or before them for a longer value: the same answer either way.
func TestSaysNoStorageClassFindsALongLastValue(t *testing.T) {
	for _, n := range []int{1, 20, 35, 36, 37, 38, 39, 40, 41, 60, 200} {
		v := strings.Repeat("1", n)
		for name, want := range map[string]bool{"pushedAt": true, "lastPulledAt": true, "activatedAt": false, "archivedAt": false} {
			rec := `{"mediaType":"m","size":1,"x":"` + strings.Repeat("2", 50) + `","` + name + `":"` + v + `"}`
			if got := saysNoStorageClass([]byte(rec)); got != want {
				t.Errorf("%s: %v, want %v", rec, got, want)
			}
		}
	}
}
