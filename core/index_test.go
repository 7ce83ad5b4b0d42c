package core

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// decodeRecord must read every stored image record exactly as
// json.Unmarshal does: the fast path only for what it fully understands.

var recordSamples = []string{
	`{}`,
	`{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":528,"imageSize":1234,"pushedAt":"2024-03-01T12:00:00Z"}`,
	`{"mediaType":"m","size":1,"artifactType":"a","imageSize":2,"configMediaType":"c","subject":{"mediaType":"s","digest":"sha256:` + zeros + `","size":3,"annotations":{"k":"v\"}"}},"annotations":{"a":"b","c":"d"},"pushedAt":"2024-03-01T12:00:00.123456789+02:00","lastPulledAt":"2024-03-02T12:00:00Z","archived":true,"archivedAt":"2024-03-03T12:00:00Z","activatedAt":"2024-03-04T12:00:00Z"}`,
	`{"mediaType":"caf\u00e9","size":1}`,                // an escape: encoding/json
	`{"mediaType":"café","size":1}`,                     // UTF-8
	"{\"mediaType\":\"\xff\",\"size\":1}",               // invalid UTF-8: replaced by encoding/json
	`{"MediaType":"m"}`,                                 // another case: encoding/json matches it
	`{"mediaType":"m","other":1}`,                       // unknown key
	`{"annotations":{"a":"1"},"annotations":{"b":"2"}}`, // repeated: encoding/json merges
	`{"mediaType":"m","mediaType":"n"}`,                 // repeated
	`{ "mediaType" : "m" }`,                             // spaced
	`{"mediaType":"m"} `,                                // trailing space
	`{"mediaType":"m"}x`,                                // trailing data: an error
	`{"size":1.0}`, `{"size":1e3}`, `{"size":01}`, `{"size":-0}`, `{"size":-}`, `{"size":99999999999999999999}`,
	`{"archived":false}`, `{"archived":tru}`, `{"archived":null}`, `{"subject":null}`, `{"subject":"x"}`,
	`{"subject":{"digest":"sha256:` + zeros + `"}`, `{"subject":{"size":"x"}}`, `{"subject":{}}`,
	`{"annotations":{}}`, `{"annotations":null}`, `{"annotations":{"a":1}}`, `{"annotations":{"a":"b",}}`,
	`{"pushedAt":"not a time"}`, `{"pushedAt":"2024-03-01T12:00:00Z","pushedAt":"2024-03-01T12:00:00Z"}`,
	`{"mediaType":"m",}`, `{"mediaType":"m"`, `{"mediaType"}`, `{`, ``, `null`, `[]`, `{"mediaType":"a	b"}`,
	"{}\x00", "{\"mediaType\":\"m\",\"size\":2}\x00{}", "{\"mediaType\":\"m\"}\x00x\x00}", // a stored value: the record, NUL, the manifest's bytes
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"

// checkRecord checks decodeRecord against encoding/json on b, an image's
// stored value: its record, and from the first NUL (which JSON never holds
// unescaped) its manifest's bytes, which are not the record's.
func checkRecord(t *testing.T, b []byte) {
	var want imageRecord
	werr := json.Unmarshal(recordPart(b), &want)
	var got imageRecord
	gerr := decodeRecord(b, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: error %v, encoding/json says %v", b, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", b, got, want)
	}
	// Skimming for the storage class agrees on every record encoding/json
	// reads (it may pass over a bad value it does not keep).
	var id ImageID
	if serr := decodeStorageClass(b, &id); werr == nil && (serr != nil || id.Archived != want.Archived || !id.ActivatedAt.Equal(want.ActivatedAt)) {
		t.Fatalf("%q: storage class %v %v, %v; encoding/json says %v %v", b, id.Archived, id.ActivatedAt, serr, want.Archived, want.ActivatedAt)
	}
}

func TestDecodeRecord(t *testing.T) {
	for _, s := range recordSamples {
		checkRecord(t, []byte(s))
	}
	// What putJSON writes, through the fast path.
	at := time.Date(2024, 3, 1, 12, 0, 0, 5, time.FixedZone("x", 3600))
	img := Image{Digest: digest.FromString("x"), MediaType: MediaTypeOCIManifest, Size: 528, ArtifactType: "application/vnd.example+json",
		ImageSize: 1 << 40, ConfigMediaType: mtConfig, Annotations: map[string]string{"org.opencontainers.image.created": "now", "é": "ü"},
		Subject: &Descriptor{MediaType: MediaTypeOCIManifest, Digest: digest.FromString("s"), Size: 9}, PushedAt: at, LastPulledAt: at.Add(time.Hour),
		Archived: true, ArchivedAt: at.Add(2 * time.Hour), ActivatedAt: at.Add(3 * time.Hour)}
	for _, rec := range []imageRecord{recordOf(&img), {MediaType: MediaTypeDockerManifest, PushedAt: at.UTC()}} {
		b, err := json.Marshal(rec)
		must(t, err, "marshal")
		checkRecord(t, b)
		var got imageRecord
		if !(&recordReader{jsonScan: jsonScan{b: b}}).record(&got) {
			t.Errorf("%s: not read by the fast path", b)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, s := range recordSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkRecord(t, b) })
}

// Pages and the iterator read tags and parents with one range scan per chunk
// of images: they must see what ResolveImage (a seek per image) sees, for
// untagged images, images with many tags, images listed by indexes, across
// chunk boundaries, with a neighbouring repository holding the same images.
func TestPagedImagesCarryTheirLinks(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		f.createRepo(regA, "app2")
		var kids []image
		for i := range imageBatch + 30 {
			ref := "t" + itoa(int64(i))
			if i%5 == 0 {
				ref = "" // untagged: pushed by digest
			}
			img := f.newImage(regA, "app", "seed"+itoa(int64(i)))
			var tags []string
			if i%7 == 0 {
				tags = []string{"x" + itoa(int64(i)), "y" + itoa(int64(i))}
			}
			if ref == "" {
				ref = string(img.digest)
			}
			_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: ref, Body: img.body, Tags: tags})
			must(t, err, "PutManifest")
			if i%9 == 0 {
				kids = append(kids, img)
			}
		}
		f.pushIndex(regA, "app", "idx1", kids[:len(kids)/2+1]...)
		f.pushIndex(regA, "app", "idx2", kids[len(kids)/2:]...)
		// The same images, other tags, in a neighbour whose name extends this one's.
		f.createRepo(regA, "ap")
		for i := range 20 {
			f.pushImage(regA, "app2", "other"+itoa(int64(i)), "seed"+itoa(int64(i)))
		}

		resolved := func(d digest.Digest) Image {
			t.Helper()
			img, err := f.r.ResolveImage(bg, regA, "app", d, "")
			must(t, err, "ResolveImage")
			return img
		}
		check := func(how string, imgs []Image) {
			t.Helper()
			tagged, parented := 0, 0
			for _, img := range imgs {
				want := resolved(img.Digest)
				if !reflect.DeepEqual(img.Tags, want.Tags) || !reflect.DeepEqual(img.Parents, want.Parents) {
					t.Fatalf("%s: %s has tags %v parents %v, want %v %v", how, img.Digest, img.Tags, img.Parents, want.Tags, want.Parents)
				}
				tagged += len(img.Tags)
				parented += len(img.Parents)
			}
			if tagged == 0 || parented < len(kids)+1 {
				t.Fatalf("%s: %d tags and %d parents in all: the fixture lost its links", how, tagged, parented)
			}
		}
		all := collect(t, f.r.Images(bg, regA, "app", ""))
		if len(all) != imageBatch+32 {
			t.Fatalf("iterated %d images", len(all))
		}
		check("Images", all)
		var paged []Image
		for after := ""; ; {
			page, more, err := f.r.PageImages(bg, regA, "app", ImagePage{After: after, Limit: 7})
			must(t, err, "PageImages")
			paged = append(paged, page...)
			if !more {
				break
			}
			after = string(page[len(page)-1].Digest)
		}
		if len(paged) != len(all) {
			t.Fatalf("paged %d images, iterated %d", len(paged), len(all))
		}
		check("PageImages", paged)
		// A filter that takes one image in three still pages by 7.
		var filtered []Image
		for after := ""; ; {
			page, more, err := f.r.PageImages(bg, regA, "app", ImagePage{After: after, Limit: 7, Match: func(img *Image) bool { return len(img.Tags) != 1 }})
			must(t, err, "PageImages")
			filtered = append(filtered, page...)
			if !more {
				break
			}
			if len(page) != 7 {
				t.Fatalf("a page of %d before the last", len(page))
			}
			after = string(page[len(page)-1].Digest)
		}
		want := 0
		for _, img := range all {
			if len(img.Tags) != 1 {
				want++
			}
		}
		if len(filtered) != want {
			t.Fatalf("filtered %d images, want %d", len(filtered), want)
		}
	})
}
