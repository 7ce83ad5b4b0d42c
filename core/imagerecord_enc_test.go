package core

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// randomRecord draws records of every shape encodeRecord meets, with
// strings it writes itself and strings it leaves to encoding/json.
func randomRecord(rng *rand.Rand) imageRecord {
	strs := []string{"", MediaTypeOCIManifest, MediaTypeDockerManifest, "application/vnd.example+json; v=1", "a<b", "x&y", `q"uote`, `back\slash`,
		"tab\t", "é", "\u2028", "\xff", "~", "\x7f", "org.opencontainers.image.created"}
	str := func() string { return strs[rng.IntN(len(strs))] }
	times := []time.Time{{}, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 23, 59, 59, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600+1800)), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(1, 0)}
	tm := func() time.Time { return times[rng.IntN(len(times))] }
	annotations := func() map[string]string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return map[string]string{}
		}
		m := map[string]string{}
		for range rng.IntN(4) + 1 {
			m[str()] = str()
		}
		return m
	}
	rec := imageRecord{MediaType: str(), Size: rng.Int64N(1<<40) - 5, ArtifactType: str(), ImageSize: rng.Int64(), ConfigMediaType: str(),
		Annotations: annotations(), PushedAt: tm(), LastPulledAt: tm(), Archived: rng.IntN(2) == 0, ArchivedAt: tm(), ActivatedAt: tm()}
	if rng.IntN(3) == 0 {
		rec.Subject = &Descriptor{MediaType: str(), Digest: digest.Digest(str()), Size: rng.Int64N(1000), ArtifactType: str(), Annotations: annotations()}
	}
	return rec
}

func TestEncodeRecordIsJSONMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 3))
	plain := 0
	for range 20000 {
		rec := randomRecord(rng)
		want, werr := json.Marshal(&rec)
		got, err := encodeRecord(&rec)
		if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("%+v:\nencodeRecord %s, %v\njson.Marshal %s, %v", rec, got, err, want, werr)
		}
		if _, ok := appendRecord(nil, &rec); ok {
			plain++
		}
	}
	if plain < 100 {
		t.Fatalf("only %d records written without encoding/json", plain)
	}
}

// putLog is a memory store that notes the bucket of every Put.
type putLog struct {
	*kv.Mem
	puts []string
}

type loggedTx struct {
	kv.Tx
	log *putLog
}

func (t loggedTx) Put(bucket string, key, value []byte) error {
	t.log.puts = append(t.log.puts, bucket)
	return t.Tx.Put(bucket, key, value)
}

func (p *putLog) Update(fn func(kv.Tx) error) error {
	return p.Mem.Update(func(tx kv.Tx) error { return fn(loggedTx{tx, p}) })
}

func (p *putLog) Batch(fn func(kv.Tx) error) error { return p.Update(fn) }

// Pushing a stored manifest under a new tag writes the tag and nothing else;
// pushing it under another media type rewrites its record.
func TestPushAgainUnderANewTagWritesOnlyTheTag(t *testing.T) {
	store := &putLog{Mem: kv.NewMem()}
	f := &fixture{t: t, cfg: storeConfigs[0], kv: store, blobs: nil, clock: newFakeClock(), ids: &seqIDs{}}
	f.cfg.open = nil
	_, b, _ := storeConfigs[0].open(t)
	f.blobs = b
	f.r = f.build()
	t.Cleanup(func() { f.r.Close() })
	f.createRepo(regA, "app")
	img, _ := f.pushImage(regA, "app", "v1", "one")

	store.puts = nil
	_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v2", ContentType: MediaTypeOCIManifest, Body: img.body})
	must(t, err, "push again under v2")
	if want := []string{bTags, bDigestTags}; !slices.Equal(store.puts, want) {
		t.Fatalf("puts %v, want %v", store.puts, want)
	}
	got, err := f.r.ResolveImage(bg, regA, "app", img.digest, "")
	must(t, err, "ResolveImage")
	if !slices.Equal(got.Tags, []string{"v1", "v2"}) || got.MediaType != MediaTypeOCIManifest {
		t.Fatalf("image %+v", got)
	}

	// The same bytes under the Docker type (the body names none): the
	// record changes, and is written.
	untyped := bytes.Replace(img.body, []byte(`"mediaType":"`+MediaTypeOCIManifest+`",`), nil, 1)
	_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "u1", ContentType: MediaTypeOCIManifest, Body: untyped})
	must(t, err, "push the untyped body")
	store.puts = nil
	_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "u2", ContentType: MediaTypeDockerManifest, Body: untyped})
	must(t, err, "push it again as Docker's")
	if want := []string{bManifests, bTags, bDigestTags}; !slices.Equal(store.puts, want) {
		t.Fatalf("puts %v, want %v: the record rewritten (with its bytes, in one value) and the tag", store.puts, want)
	}
	got, err = f.r.ResolveImage(bg, regA, "app", digest.FromBytes(untyped), "")
	must(t, err, "ResolveImage")
	if got.MediaType != MediaTypeDockerManifest {
		t.Fatalf("media type %q after the second push", got.MediaType)
	}
}

func TestDigestOfIsFromBytes(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("manifest"), 100)} {
		for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
			if got, want := digestOf(alg, b), alg.FromBytes(b); got != want {
				t.Errorf("digestOf(%s, %q) = %s, want %s", alg, b, got, want)
			}
		}
	}
}

// A push naming one tag twice moves it once and tells of it once.
func TestPushWithATagTwiceMovesItOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		one, _ := f.pushImage(regA, "app", "a", "one")
		two := f.newImage(regA, "app", "two")
		rec := f.record()
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: two.digest.String(), Tags: []string{"a", "b", "a"}, Body: two.body})
		must(t, err, "push with a, b, a")
		var moved []string
		for _, e := range rec.take(f) {
			if e.Kind == EventTag {
				moved = append(moved, e.Tag+"<-"+string(e.PreviousDigest))
			}
		}
		if want := []string{"a<-" + string(one.digest), "b<-"}; !slices.Equal(moved, want) {
			t.Fatalf("tag events %v, want %v", moved, want)
		}
		for _, d := range []digest.Digest{one.digest, two.digest} {
			img, err := f.r.ResolveImage(bg, regA, "app", d, "")
			must(t, err, "ResolveImage")
			want := map[digest.Digest][]string{one.digest: nil, two.digest: {"a", "b"}}[d]
			if !slices.Equal(img.Tags, want) {
				t.Fatalf("%s: tags %v, want %v", d, img.Tags, want)
			}
		}
	})
}
