package core

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/opencontainers/go-digest"
)

// untypedImage is a fresh image whose manifest names no mediaType of its
// own: what it is depends on the type declared beside it.
func untypedImage(t *testing.T, f *fixture, repo, seed string) image {
	t.Helper()
	img := f.newImage(regA, repo, seed)
	img.body = bytes.Replace(img.body, []byte(`"mediaType":"`+MediaTypeOCIManifest+`",`), nil, 1)
	if bytes.Contains(img.body, []byte(`"mediaType":"`+MediaTypeOCIManifest+`"`)) {
		t.Fatalf("no top-level mediaType removed from %s", img.body)
	}
	return img
}

// A manifest pushed again is remembered, by its digest and the type
// declared beside it: a push declaring another type is parsed for that type.
func TestARememberedManifestAnswersOnlyForTheTypeItWasParsedWith(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img := untypedImage(t, f, "app", "memo type "+f.cfg.name)
		push := func(tag, ct string) Image {
			t.Helper()
			got, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: tag, ContentType: ct, Body: img.body})
			must(t, err, "push "+tag)
			return got
		}
		push("a", MediaTypeDockerManifest)
		push("b", MediaTypeDockerManifest) // pushed again: remembered
		if _, ok := parsedManifests.get(img.body, MediaTypeDockerManifest); !ok {
			t.Fatal("a manifest pushed again was not remembered")
		}
		if got := push("c", MediaTypeDockerManifest); got.MediaType != MediaTypeDockerManifest {
			t.Fatalf("remembered push: media type %q", got.MediaType)
		}
		if got := push("d", ""); got.MediaType != MediaTypeOCIManifest {
			t.Fatalf("the same body without a declared type: media type %q, want the inferred %q", got.MediaType, MediaTypeOCIManifest)
		}
		if got := push("e", MediaTypeDockerManifest); got.MediaType != MediaTypeDockerManifest {
			t.Fatalf("declared again: media type %q", got.MediaType)
		}
	})
}

// A remembered manifest that names no media type is still refused by
// PutImage's rule when no type is declared beside it.
func TestARememberedManifestIsStillJudgedForItsMediaType(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img := untypedImage(t, f, "app", "memo require "+f.cfg.name)
		for _, tag := range []string{"a", "b", "c"} { // as /v2 pushes without a Content-Type
			_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: tag, Body: img.body})
			must(t, err, "push "+tag)
		}
		if _, ok := parsedManifests.get(img.body, ""); !ok {
			t.Fatal("not remembered: the test proves nothing")
		}
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "d", Body: img.body, RequireMediaType: true})
		if !IsKind(err, KindInvalidParameter) {
			t.Fatalf("untyped remembered manifest under RequireMediaType: %v", err)
		}
	})
}

// Remembering a parse skips nothing else: a remembered manifest pushed into
// a repository without its blobs is refused, and one pushed by a digest it
// does not hash to is refused.
func TestARememberedManifestIsStillCheckedAgainstItsRepositoryAndReference(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		f.createRepo(regA, "other")
		img := f.newImage(regA, "app", "memo refs "+f.cfg.name)
		for _, tag := range []string{"a", "b", "c"} {
			_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: tag, ContentType: MediaTypeOCIManifest, Body: img.body})
			must(t, err, "push "+tag)
		}
		_, err := f.r.PutManifest(bg, regA, "other", PutManifestInput{Reference: "a", ContentType: MediaTypeOCIManifest, Body: img.body})
		wantKind(t, err, KindManifestBlobMissing, "a remembered manifest in a repository without its blobs")
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: digestOf("sha256", []byte("other")).String(), ContentType: MediaTypeOCIManifest, Body: img.body})
		wantKind(t, err, KindDigestInvalid, "a remembered manifest under another digest")
	})
}

// The entry a push finds is shared: pushes must leave it as it was parsed.
func TestPushesLeaveARememberedManifestAsParsed(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img := f.newImage(regA, "app", "memo shared "+f.cfg.name)
		for _, tag := range []string{"a", "b", "c", "d"} {
			_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: tag, ContentType: MediaTypeOCIManifest, Body: img.body})
			must(t, err, "push "+tag)
		}
		p, ok := parsedManifests.get(img.body, MediaTypeOCIManifest)
		if !ok {
			t.Fatal("not remembered")
		}
		want, err := ParseManifest(img.body, MediaTypeOCIManifest)
		must(t, err, "parse")
		want.Digest = img.digest
		if !reflect.DeepEqual(p.m, want) || !p.declaresType {
			t.Fatalf("remembered %+v (declares type %v), want %+v", p.m, p.declaresType, want)
		}
	})
}

// The memo keeps at most memoSlots entries, dropping the oldest, and never
// a body larger than memoMaxBody.
func TestManifestMemoIsBounded(t *testing.T) {
	var mm manifestMemo
	m := &parsedManifest{}
	for i := range memoSlots + 10 {
		body := []byte(itoa(int64(i)))
		mm.put(digestOf("sha256", body), "", body, m)
	}
	if len(mm.byKey) != memoSlots {
		t.Fatalf("%d entries, want %d", len(mm.byKey), memoSlots)
	}
	if _, ok := mm.get([]byte("0"), ""); ok {
		t.Fatal("the oldest entry was kept")
	}
	if _, ok := mm.get([]byte(itoa(memoSlots+9)), ""); !ok {
		t.Fatal("the newest entry was dropped")
	}
	big := make([]byte, memoMaxBody+1)
	mm.put(digestOf("sha256", big), "", big, m)
	if _, ok := mm.get(big, ""); ok {
		t.Fatal("a body over memoMaxBody was kept")
	}
}

// A manifest pushed again is found by its bytes, without hashing them with
// SHA-256 again (the hex digest digestOf makes is an allocation, so none
// means no hash), and answers with the digest of its first push.
func TestARememberedManifestIsFoundWithoutHashingItAgain(t *testing.T) {
	body := []byte(`{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","annotations":{"test":"found without hashing"}}`)
	dg := digestOf("sha256", body)
	parsedManifests.put(dg, "", body, &parsedManifest{})
	view := bytes.Clone(body) // the same bytes elsewhere, as a new request holds them
	var got digest.Digest
	var p *parsedManifest
	if allocs := testing.AllocsPerRun(100, func() { got, p = memoLookup(view, "") }); allocs != 0 {
		t.Fatalf("looking up a remembered manifest: %v allocations, want none (no SHA-256)", allocs)
	}
	if p == nil || got != dg {
		t.Fatalf("memoLookup: %v, %v; want the entry and %s", got, p, dg)
	}
}

// An entry answers only for its own bytes: another body that lands on its
// hash key is not taken for it.
func TestARememberedManifestAnswersOnlyForItsOwnBytes(t *testing.T) {
	var mm manifestMemo
	a, b := []byte(`{"a":1}`), []byte(`{"b":2}`)
	mm.put(digestOf("sha256", a), "", a, &parsedManifest{})
	// b's key made to point at a's entry: a hash collision, forced.
	mm.byKey[memoKeyOf(b, "")] = mm.byKey[memoKeyOf(a, "")]
	if _, ok := mm.get(b, ""); ok {
		t.Fatal("an entry answered for a body that is not its own")
	}
	if p, ok := mm.get(a, ""); !ok || p.dg != digestOf("sha256", a) {
		t.Fatal("the entry no longer answers for its own body")
	}
}
