package core

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// v1Record is how berth 1 stored an image: the whole parsed manifest.
type v1Record struct {
	Digest       string       `json:"digest"`
	MediaType    string       `json:"mediaType"`
	Size         int64        `json:"size"`
	ArtifactType string       `json:"artifactType,omitempty"`
	Config       *Descriptor  `json:"config,omitempty"`
	Layers       []Descriptor `json:"layers,omitempty"`
	Children     []Descriptor `json:"children,omitempty"`
	Subject      *Descriptor  `json:"subject,omitempty"`
	PushedAt     time.Time    `json:"pushedAt"`
	LastPulledAt time.Time    `json:"lastPulledAt,omitzero"`
}

// downgradeTo6 rewrites a store of this layout as berth's layout 6 kept it:
// a manifest's bytes in manifest-bytes, beside its record; blob links in
// links (reg|repo|digest → size) and an empty reverse in blob-refs; which
// manifests use which blob in blob-uses.
func downgradeTo6(tx kv.Tx) error {
	type kvp struct{ k, v []byte }
	var imgs, refs []kvp
	tx.Scan(bManifests, nil, nil, func(k, v []byte) bool {
		imgs = append(imgs, kvp{bytes.Clone(k), bytes.Clone(v)})
		return true
	})
	tx.Scan(bBlobRefs, nil, nil, func(k, v []byte) bool {
		if bytes.Contains(k, []byte(sep)) {
			refs = append(refs, kvp{bytes.Clone(k), bytes.Clone(v)})
		}
		return true
	})
	for _, i := range imgs {
		if err := tx.Put(bManifests, i.k, recordPart(i.v)); err != nil {
			return err
		}
		if err := tx.Put(bBytesV6, i.k, bodyPart(i.v)); err != nil {
			return err
		}
		var rec imageRecord
		if err := decodeRecord(i.v, &rec); err != nil {
			return err
		}
		m, err := ParseManifest(bodyPart(i.v), rec.MediaType)
		if err != nil {
			return err
		}
		reg, repo, dg, _ := splitItemKey(i.k)
		for _, b := range m.Blobs() {
			if err := tx.Put(bBlobUsesV6, itemKey(reg, repo, string(b.Digest), dg), nil); err != nil {
				return err
			}
		}
	}
	for _, r := range refs {
		parts := bytes.Split(r.k, []byte(sep))
		reg := RegistryID{Account: string(parts[1]), Region: string(parts[2])}
		if err := tx.Put(bLinksV6, itemKey(reg, string(parts[3]), string(parts[0])), r.v); err != nil {
			return err
		}
		if err := tx.Put(bBlobRefs, r.k, nil); err != nil {
			return err
		}
	}
	return tx.Put(bMeta, schemaKey, []byte("6"))
}

// downgrade rewrites f's store as berth 1 left it: full records, no digest →
// tags index, no layout version.
func (f *fixture) downgrade() {
	f.t.Helper()
	err := f.kv.Update(func(tx kv.Tx) error {
		if err := downgradeTo6(tx); err != nil {
			return err
		}
		type kvp struct{ k, v []byte }
		var recs []kvp
		tx.Scan(bManifests, nil, nil, func(k, v []byte) bool {
			recs = append(recs, kvp{append([]byte{}, k...), append([]byte{}, v...)})
			return true
		})
		for _, r := range recs {
			var rec imageRecord
			if err := json.Unmarshal(r.v, &rec); err != nil {
				return err
			}
			m, err := ParseManifest(tx.Get(bBytesV6, r.k), rec.MediaType)
			if err != nil {
				return err
			}
			old := v1Record{Digest: lastPart(r.k), MediaType: rec.MediaType, Size: rec.Size, ArtifactType: rec.ArtifactType,
				Config: m.Config, Layers: m.Layers, Children: m.Children, Subject: m.Subject, PushedAt: rec.PushedAt, LastPulledAt: rec.LastPulledAt}
			if err := putJSON(tx, bManifests, r.k, old); err != nil {
				return err
			}
		}
		if err := deletePrefix(tx, bDigestTags, nil); err != nil {
			return err
		}
		if err := deletePrefix(tx, bBlobUsesV6, nil); err != nil {
			return err
		}
		return tx.Delete(bMeta, schemaKey)
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// A store written by berth 1 is upgraded when opened: images keep everything
// they had and gain what the new layout indexes, across several batches, and
// an upgraded store opens without rewriting.
func TestOpenUpgradesAVersion1Store(t *testing.T) {
	defer func(n int) { upgradeBatch = n }(upgradeBatch)
	upgradeBatch = 3
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		var children []image
		for i := range 7 {
			img, _ := f.pushImage(regA, "app", "v"+itoa(int64(i)), "seed"+itoa(int64(i)))
			children = append(children, img)
			f.clock.Advance(time.Minute)
		}
		f.pushIndex(regA, "app", "multi", children[0], children[1])
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "alias", Body: children[2].body})
		must(t, err, "second tag")
		want := collect(t, f.r.Images(bg, regA, "app", ""))

		f.downgrade()
		// A Registry built without upgrading cannot read the old records right.
		f.restart()
		if got := collect(t, f.r.Images(bg, regA, "app", "")); reflect.DeepEqual(got, want) {
			t.Fatal("the downgrade did not change what a reader sees; the test proves nothing")
		}
		r, err := Open(Options{KV: f.kv, Blobs: f.blobs, Clock: f.clock})
		must(t, err, "Open")
		f.r.Bus().Close()
		f.r = r
		got := collect(t, f.r.Images(bg, regA, "app", ""))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after the upgrade:\n got  %+v\n want %+v", got, want)
		}
		var version string
		f.kv.View(func(tx kv.Tx) error { version = string(tx.Get(bMeta, schemaKey)); return nil })
		if version != schemaVersion {
			t.Fatalf("layout version %q", version)
		}
		// A layer in use cannot be deleted.
		wantKind(t, f.r.DeleteBlob(bg, regA, "app", children[3].layers[0].Digest), KindBlobInUse, "a used layer after the upgrade")
		// Opening again finds nothing to do.
		_, err = Open(Options{KV: f.kv, Blobs: f.blobs, Clock: f.clock})
		must(t, err, "second Open")
	})
}

// A version-2 store (an index's size the sum of its children's; no blob-uses
// index) is brought to version 3.
func TestOpenUpgradesAVersion2Store(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		a, _ := f.pushImage(regA, "app", "a", "a")
		b, _ := f.pushImage(regA, "app", "b", "a larger layer")
		idx := f.pushIndex(regA, "app", "multi", a, b)
		want := collect(t, f.r.Images(bg, regA, "app", ""))
		must(t, f.kv.Update(func(tx kv.Tx) error {
			img, _, err := getImage(tx, regA, "app", idx.Digest, false)
			if err != nil {
				return err
			}
			img.ImageSize = int64(len(a.body) + len(b.body)) // version 2's sum of the children's descriptors
			if err := putImage(tx, regA, "app", &img); err != nil {
				return err
			}
			if err := downgradeTo6(tx); err != nil {
				return err
			}
			if err := deletePrefix(tx, bBlobUsesV6, nil); err != nil {
				return err
			}
			return tx.Put(bMeta, schemaKey, []byte("2"))
		}), "downgrade to version 2")
		f.r.Bus().Close()
		r, err := Open(Options{KV: f.kv, Blobs: f.blobs, Clock: f.clock})
		must(t, err, "Open")
		f.r = r
		if got := collect(t, f.r.Images(bg, regA, "app", "")); !reflect.DeepEqual(got, want) {
			t.Fatalf("after the upgrade:\n got  %+v\n want %+v", got, want)
		}
		wantKind(t, f.r.DeleteBlob(bg, regA, "app", b.layers[0].Digest), KindBlobInUse, "a used layer after the upgrade")
	})
}

// A store from a newer berth is refused rather than misread.
func TestOpenRefusesANewerLayout(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		must(t, f.kv.Update(func(tx kv.Tx) error { return tx.Put(bMeta, schemaKey, []byte("99")) }), "write a future version")
		_, err := Open(Options{KV: f.kv, Blobs: f.blobs})
		if err == nil || !strings.Contains(err.Error(), "layout version 99") {
			t.Fatalf("Open = %v", err)
		}
	})
}

// downgradeInlineBlobs moves small blobs back to the bucket of their own
// that layouts 4 and 5 kept them in.
func downgradeInlineBlobs(tx kv.Tx) error {
	var keys, values [][]byte
	tx.Scan(bInlineBlobs, nil, nil, func(k, v []byte) bool {
		if !bytes.Contains(k, []byte(sep)) {
			keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
		}
		return true
	})
	for i, k := range keys {
		if err := tx.Put(bInlineBlobsV5, k, values[i]); err != nil {
			return err
		}
		if err := tx.Delete(bInlineBlobs, k); err != nil {
			return err
		}
	}
	return nil
}

// A version-3, -4 or -5 store is brought to version 6 (new buckets: small
// blobs, upload ids' secret and tombstones; small blobs beside their
// references); small blobs kept inline stay readable by a Registry opened
// without Options.InlineBlobs.
func TestOpenUpgradesVersion3To5StoresAndReadsInlineBlobsWithoutOptions(t *testing.T) {
	for _, from := range []string{"3", "4", "5"} {
		t.Run("from "+from, func(t *testing.T) {
			f := onDisk(t)
			f.createRepo(regA, "app")
			img, _ := f.pushImage(regA, "app", "a", "a")
			must(t, f.kv.Update(func(tx kv.Tx) error {
				if err := downgradeTo6(tx); err != nil {
					return err
				}
				if from != "3" { // 3 kept none inline
					if err := downgradeInlineBlobs(tx); err != nil {
						return err
					}
				}
				return tx.Put(bMeta, schemaKey, []byte(from))
			}), "downgrade to version "+from)
			f.r.Bus().Close()
			r, err := Open(Options{KV: f.kv, Blobs: f.blobs, Clock: f.clock})
			must(t, err, "Open")
			f.r = r
			var version string
			f.kv.View(func(tx kv.Tx) error { version = string(tx.Get(bMeta, schemaKey)); return nil })
			if version != schemaVersion {
				t.Errorf("layout version %q after Open, want %s", version, schemaVersion)
			}
			rd, err := f.r.OpenBlob(bg, regA, "app", img.layers[0].Digest)
			must(t, err, "OpenBlob of an inline layer without InlineBlobs")
			rd.Close()
		})
	}
}

// Version 6 keeps small blobs beside their references: opening a version-5
// store (one blob already moved, as by an upgrade a crash interrupted) moves
// every one, across upgrade batches, with its exact bytes, and leaves none
// behind; they read, list, stay referenced and delete as before, and a blob
// kept as a file is untouched.
func TestOpenMovesVersion5InlineBlobsBesideTheirReferences(t *testing.T) {
	defer func(n int) { upgradeBatch = n }(upgradeBatch)
	upgradeBatch = 2
	f := onDisk(t)
	f.createRepo(regA, "app")
	f.createRepo(regA, "other")
	var small [][]byte
	for i := range 5 {
		c := []byte("small blob " + itoa(int64(i)))
		f.putBlob(regA, "app", c, "")
		small = append(small, c)
	}
	f.putBlob(regA, "other", small[0], "") // two references
	large := bytes.Repeat([]byte("L"), DefaultInlineBlobs+1)
	f.putBlob(regA, "app", large, "")
	must(t, f.kv.Update(func(tx kv.Tx) error {
		if err := downgradeTo6(tx); err != nil {
			return err
		}
		if err := downgradeInlineBlobs(tx); err != nil {
			return err
		}
		// One blob already moved: an upgrade interrupted after a batch.
		k := []byte(digest.FromBytes(small[3]))
		if err := tx.Put(bInlineBlobs, k, tx.Get(bInlineBlobsV5, k)); err != nil {
			return err
		}
		if err := tx.Delete(bInlineBlobsV5, k); err != nil {
			return err
		}
		return tx.Put(bMeta, schemaKey, []byte("5"))
	}), "downgrade to version 5")
	reopenAsServe(t, f, "Open")

	f.kv.View(func(tx kv.Tx) error {
		if v := string(tx.Get(bMeta, schemaKey)); v != schemaVersion {
			t.Errorf("layout version %q after Open, want %s", v, schemaVersion)
		}
		tx.Scan(bInlineBlobsV5, nil, nil, func(k, v []byte) bool {
			t.Errorf("%q left in %s", k, bInlineBlobsV5)
			return true
		})
		for _, c := range small {
			if v := tx.Get(bInlineBlobs, []byte(digest.FromBytes(c))); !bytes.Equal(v, c) {
				t.Errorf("blob-refs holds %q for %s, want its bytes", v, digest.FromBytes(c))
			}
		}
		return nil
	})
	for _, c := range append(small, large) {
		rd, err := f.r.OpenBlob(bg, regA, "app", digest.FromBytes(c))
		must(t, err, "OpenBlob after the upgrade")
		got, _ := io.ReadAll(rd)
		rd.Close()
		if !bytes.Equal(got, c) {
			t.Errorf("blob %s reads %d bytes after the upgrade, want %d", digest.FromBytes(c), len(got), len(c))
		}
	}
	if b, _ := fileCount(t, f); b != 1 {
		t.Errorf("%d blob files after the upgrade, want 1 (the large one)", b)
	}
	infos, err := f.r.Blobs(bg)
	must(t, err, "Blobs")
	refs := map[digest.Digest]int{}
	for _, in := range infos {
		refs[in.Digest] = len(in.Repositories)
	}
	if len(infos) != len(small)+1 || refs[digest.FromBytes(small[0])] != 2 || refs[digest.FromBytes(small[1])] != 1 {
		t.Errorf("Blobs after the upgrade: %+v", infos)
	}
	must(t, f.r.DeleteBlob(bg, regA, "app", digest.FromBytes(small[1])), "DeleteBlob")
	if _, err := f.r.OpenBlob(bg, regA, "app", digest.FromBytes(small[1])); err == nil {
		t.Error("a deleted blob still reads")
	}
}

// Version 7 keeps a manifest's bytes with its record and blob links in
// blob-refs, and no blob-uses index: opening a version-6 store (one
// manifest and one link already moved, as by an upgrade a crash
// interrupted) moves every one, across upgrade batches, and leaves nothing
// in the old buckets; images, their exact bytes, blob sizes and the rule
// that a blob in use stays are as before.
func TestOpenMovesVersion6ManifestBytesAndLinksIntoOneTreeEach(t *testing.T) {
	defer func(n int) { upgradeBatch = n }(upgradeBatch)
	upgradeBatch = 2
	f := onDisk(t)
	f.createRepo(regA, "app")
	f.createRepo(regA, "other")
	var imgs []image
	for i := range 4 {
		img, _ := f.pushImage(regA, "app", "v"+itoa(int64(i)), "seed"+itoa(int64(i)))
		imgs = append(imgs, img)
	}
	idx := f.pushIndex(regA, "app", "multi", imgs[0], imgs[1])
	f.putBlob(regA, "other", []byte("layer bytes of seed0"), mtLayer) // a second link to one blob
	large := f.putBlob(regA, "app", bytes.Repeat([]byte("L"), DefaultInlineBlobs+1), mtLayer)
	wantImages := collect(t, f.r.Images(bg, regA, "app", ""))
	manifests := []digest.Digest{idx.Digest}
	blobs := []Descriptor{large}
	for _, img := range imgs {
		manifests = append(manifests, img.digest)
		blobs = append(blobs, img.config, img.layers[0])
	}
	wantBytes := map[digest.Digest][]byte{}
	for _, d := range manifests {
		wantBytes[d] = mustBytes(t, f, d)
	}

	must(t, f.kv.Update(func(tx kv.Tx) error {
		if err := downgradeTo6(tx); err != nil {
			return err
		}
		// One manifest and one link already moved: an upgrade interrupted after a batch.
		k := itemKey(regA, "app", string(imgs[2].digest))
		if err := tx.Put(bManifests, k, appendImageValue(nil, tx.Get(bManifests, k), tx.Get(bBytesV6, k))); err != nil {
			return err
		}
		if err := tx.Delete(bBytesV6, k); err != nil {
			return err
		}
		l := itemKey(regA, "app", string(imgs[2].layers[0].Digest))
		if err := tx.Put(bBlobRefs, blobRefKey(imgs[2].layers[0].Digest, regA, "app"), tx.Get(bLinksV6, l)); err != nil {
			return err
		}
		return tx.Delete(bLinksV6, l)
	}), "downgrade to version 6")
	reopenAsServe(t, f, "Open")

	f.kv.View(func(tx kv.Tx) error {
		if v := string(tx.Get(bMeta, schemaKey)); v != schemaVersion {
			t.Errorf("layout version %q after Open, want %s", v, schemaVersion)
		}
		for _, b := range []string{bBytesV6, bLinksV6, bBlobUsesV6} {
			tx.Scan(b, nil, nil, func(k, v []byte) bool {
				t.Errorf("%q left in %s", k, b)
				return true
			})
		}
		return nil
	})
	if got := collect(t, f.r.Images(bg, regA, "app", "")); !reflect.DeepEqual(got, wantImages) {
		t.Errorf("images after the upgrade:\n got  %+v\n want %+v", got, wantImages)
	}
	for _, d := range manifests {
		if got := mustBytes(t, f, d); !bytes.Equal(got, wantBytes[d]) {
			t.Errorf("manifest %s reads %q after the upgrade, want %q", d, got, wantBytes[d])
		}
		_, body, err := f.r.GetManifest(bg, regA, "app", string(d), nil)
		must(t, err, "GetManifest after the upgrade")
		if !bytes.Equal(body, wantBytes[d]) {
			t.Errorf("GetManifest %s answers other bytes after the upgrade", d)
		}
	}
	for _, b := range blobs {
		if size, err := f.r.StatBlob(bg, regA, "app", b.Digest); err != nil || size != b.Size {
			t.Errorf("StatBlob %s after the upgrade = %d, %v; want %d", b.Digest, size, err, b.Size)
		}
	}
	if size, err := f.r.StatBlob(bg, regA, "other", imgs[0].layers[0].Digest); err != nil || size != imgs[0].layers[0].Size {
		t.Errorf("the other repository's link after the upgrade: %d, %v", size, err)
	}
	wantKind(t, f.r.DeleteBlob(bg, regA, "app", imgs[2].layers[0].Digest), KindBlobInUse, "a used layer after the upgrade")
	must(t, f.r.DeleteBlob(bg, regA, "app", large.Digest), "deleting an unused blob after the upgrade")
	// Opening again finds nothing to do. The pulls above noted their
	// times (a record rewritten beside its bytes, which stay).
	wantImages = collect(t, f.r.Images(bg, regA, "app", ""))
	reopenAsServe(t, f, "second Open")
	if got := collect(t, f.r.Images(bg, regA, "app", "")); !reflect.DeepEqual(got, wantImages) {
		t.Errorf("images after the second Open:\n got  %+v\n want %+v", got, wantImages)
	}
	for _, d := range manifests {
		if got := mustBytes(t, f, d); !bytes.Equal(got, wantBytes[d]) {
			t.Errorf("manifest %s reads %q after its pull time was noted, want %q", d, got, wantBytes[d])
		}
	}
}

// reopenAsServe closes f's registry and opens its store again as berth serve
// does on disk (Open, small blobs inline), which upgrades an older layout.
func reopenAsServe(t *testing.T, f *fixture, what string) {
	t.Helper()
	f.r.Close()
	f.kv, f.blobs = f.reopen()
	r, err := Open(Options{KV: f.kv, Blobs: f.blobs, Clock: f.clock, InlineBlobs: DefaultInlineBlobs})
	must(t, err, what)
	f.r = r
}
