package core

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// blobCount is how many blobs the shared blob store holds.
func (f *fixture) blobCount() int {
	f.t.Helper()
	n := 0
	if err := f.r.blobs.Walk(func(digest.Digest, int64) error { n++; return nil }); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// CopyImage copies an index with its children and referrers into another
// account's region, linking blobs without copying a byte, creating the
// destination repository, and marking everything with the caller's cause.
func TestCopyImageAcrossRegistries(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rec := f.record()
		f.createRepo(regA, "src")
		c1, _ := f.pushImage(regA, "src", "c1", "one")
		c2, _ := f.pushImage(regA, "src", "c2", "two")
		idx := f.pushIndex(regA, "src", "multi", c1, c2)
		// A signature of the index.
		sigCfg := f.putBlob(regA, "src", []byte(`{"sig":1}`), "application/vnd.example.sig")
		subject := idx.Descriptor()
		sig := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &sigCfg, Layers: []Descriptor{sigCfg}, Subject: &subject}.bytes(t)
		_, err := f.r.PutManifest(bg, regA, "src", PutManifestInput{Reference: digest.FromBytes(sig).String(), Body: sig})
		must(t, err, "signature")
		rec.take(f)
		blobsBefore := f.blobCount()

		dst := RegistryID{Account: regB.Account, Region: "eu-west-1"}
		ctx := WithCause(bg, CauseReplication)
		img, err := f.r.CopyImage(ctx, CopyImageInput{From: regA, FromRepository: "src", Reference: "multi",
			To: dst, ToRepository: "mirror", Referrers: true, Create: CreateForReplication})
		must(t, err, "CopyImage")
		if img.Digest != idx.Digest || !img.IsIndex() {
			t.Fatalf("copied %+v", img)
		}
		if got, _ := f.r.ResolveImage(bg, dst, "mirror", idx.Digest, ""); !reflect.DeepEqual(got.Tags, []string{"multi"}) {
			t.Fatalf("copied image's tags %v", got.Tags)
		}
		if f.blobCount() != blobsBefore {
			t.Fatalf("the copy stored %d new blobs; blobs are linked by digest", f.blobCount()-blobsBefore)
		}
		// Everything is there and readable in the destination, byte for byte.
		for _, d := range []digest.Digest{c1.digest, c2.digest, idx.Digest, digest.FromBytes(sig)} {
			src, err := f.r.ManifestBytes(bg, regA, "src", d)
			must(t, err, "source bytes")
			got, err := f.r.ManifestBytes(bg, dst, "mirror", d)
			must(t, err, "copied bytes")
			if !bytes.Equal(src, got) {
				t.Fatalf("%s differs", d)
			}
		}
		for _, d := range append(append(c1.blobs(), c2.blobs()...), sigCfg.Digest) {
			if got := readBlob(t, f, dst, "mirror", d); got == "" {
				t.Fatalf("blob %s not readable in the destination", d)
			}
		}
		refs, err := f.r.Referrers(bg, dst, "mirror", idx.Digest, "")
		if err != nil || len(refs) != 1 || refs[0].Digest != digest.FromBytes(sig) {
			t.Fatalf("referrers in the destination: %+v, %v", refs, err)
		}
		child, err := f.r.ResolveImage(bg, dst, "mirror", c1.digest, "")
		if err != nil || !reflect.DeepEqual(child.Parents, []digest.Digest{idx.Digest}) {
			t.Fatalf("child in the destination: %+v, %v", child, err)
		}
		// Events: the destination's creation and pushes, all marked replication.
		kinds := map[EventKind]int{}
		for _, e := range rec.take(f) {
			if e.Cause != CauseReplication || e.Registry != dst {
				t.Fatalf("event %+v", e)
			}
			kinds[e.Kind]++
		}
		if kinds[EventRepositoryCreated] != 1 || kinds[EventPush] != 4 || kinds[EventTag] != 1 {
			t.Fatalf("events by kind %v", kinds)
		}

		// Copying again changes nothing and publishes no push.
		_, err = f.r.CopyImage(ctx, CopyImageInput{From: regA, FromRepository: "src", Reference: "multi", To: dst, ToRepository: "mirror", Referrers: true})
		must(t, err, "copy again")
		if evs := rec.take(f); len(evs) != 0 {
			t.Fatalf("a copy that changed nothing published %+v", evs)
		}
	})
}

func (img image) blobs() []digest.Digest {
	out := []digest.Digest{img.config.Digest}
	for _, l := range img.layers {
		out = append(out, l.Digest)
	}
	return out
}

func TestCopyImageRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "src")
		a, _ := f.pushImage(regA, "src", "v1", "a")
		b, _ := f.pushImage(regA, "src", "v2", "b")
		copyTo := func(repo, ref string, create CreateReason, tags ...string) error {
			_, err := f.r.CopyImage(bg, CopyImageInput{From: regA, FromRepository: "src", Reference: ref, To: regB, ToRepository: repo, Tags: tags, Create: create})
			return err
		}
		wantKind(t, copyTo("dst", "v1", ""), KindRepositoryNotFound, "no destination, nothing may create it")
		wantKind(t, copyTo("dst", "nope", CreateForReplication), KindManifestNotFound, "missing source image")
		must(t, copyTo("dst", "v1", CreateForReplication), "copy v1")
		must(t, copyTo("dst", b.digest.String(), "", "latest"), "copy b by digest as latest")
		if img, err := f.r.ResolveImage(bg, regB, "dst", "", "latest"); err != nil || img.Digest != b.digest {
			t.Fatalf("latest = %+v, %v", img, err)
		}
		// An immutable destination tag does not move.
		_, err := f.r.UpdateRepository(bg, regB, "dst", func(r *Repository) error { r.ImageTagMutability = "IMMUTABLE"; return nil })
		must(t, err, "immutable")
		wantKind(t, copyTo("dst", a.digest.String(), "", "latest"), KindImageTagImmutable, "moving an immutable tag")
		wantKind(t, copyTo("dst", "v1", "", "bad tag"), KindTagInvalid, "invalid tag")
	})
}

// ImportManifest stores a manifest whose blobs are not there yet and creates
// the repository for the pull-through cache; ImportBlob verifies the digest
// while it streams and stores nothing that does not match.
func TestImportManifestAndBlob(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rec := f.record()
		cfg := []byte(`{"upstream":true}`)
		layer := []byte("upstream layer")
		cfgD := Descriptor{MediaType: mtConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
		layerD := Descriptor{MediaType: mtLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
		body := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &cfgD, Layers: []Descriptor{layerD}}.bytes(t)
		ctx := WithCause(bg, CausePullThrough)
		img, err := f.r.ImportManifest(ctx, regA, "hub/library/alpine", PutManifestInput{Reference: "3.20", Body: body})
		must(t, err, "ImportManifest")
		if img.Digest != digest.FromBytes(body) {
			t.Fatalf("imported %+v", img)
		}
		_, err = f.r.StatBlob(bg, regA, "hub/library/alpine", layerD.Digest)
		wantKind(t, err, KindBlobNotFound, "a blob not fetched yet")

		_, err = f.r.ImportBlob(ctx, regA, "hub/library/alpine", layerD.Digest, strings.NewReader("tampered layer"))
		wantKind(t, err, KindDigestInvalid, "upstream bytes that do not match")
		if f.blobBytesStored(layerD.Digest) || f.blobBytesStored(digest.FromString("tampered layer")) {
			t.Fatal("bytes that did not match were kept")
		}
		for _, b := range [][]byte{cfg, layer} {
			_, err := f.r.ImportBlob(ctx, regA, "hub/library/alpine", digest.FromBytes(b), bytes.NewReader(b))
			must(t, err, "ImportBlob")
		}
		if got := readBlob(t, f, regA, "hub/library/alpine", layerD.Digest); got != string(layer) {
			t.Fatalf("layer %q", got)
		}
		evs := rec.take(f)
		if len(evs) == 0 || evs[0].Kind != EventRepositoryCreated {
			t.Fatalf("events %+v", evs)
		}
		for _, e := range evs {
			if e.Cause != CausePullThrough {
				t.Fatalf("event %+v not marked pull-through", e)
			}
		}
		// A blob import into a missing repository creates it too.
		_, err = f.r.ImportBlob(ctx, regA, "hub/other", digest.FromBytes(layer), bytes.NewReader(layer))
		must(t, err, "ImportBlob into a new repository")
		must(t, f.r.HasRepository(bg, regA, "hub/other"), "created by ImportBlob")
	})
}
