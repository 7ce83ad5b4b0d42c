package core

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// pushIndex pushes an index of the given children under ref.
func (f *fixture) pushIndex(reg RegistryID, repo, ref string, children ...image) Image {
	f.t.Helper()
	var ds []Descriptor
	for _, c := range children {
		ds = append(ds, Descriptor{MediaType: MediaTypeOCIManifest, Digest: c.digest, Size: int64(len(c.body))})
	}
	body := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: ds}.bytes(f.t)
	img, err := f.r.PutManifest(bg, reg, repo, PutManifestInput{Reference: ref, Body: body})
	if err != nil {
		f.t.Fatalf("PutManifest(index %s): %v", ref, err)
	}
	return img
}

func collect(t *testing.T, seq func(func(Image, error) bool)) []Image {
	t.Helper()
	var out []Image
	for img, err := range seq {
		must(t, err, "iterating images")
		out = append(out, img)
	}
	return out
}

// The iterator yields every image once, in digest order, with its tags
// (in order), parents, times and sizes, across batch boundaries, and
// resumes after a given digest.
func TestImagesIterator(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		const n = imageBatch + 44
		want := map[digest.Digest]string{}
		for i := range n {
			img, _ := f.pushImage(regA, "app", "t"+itoa(int64(i)), "seed"+itoa(int64(i)))
			want[img.digest] = "t" + itoa(int64(i))
			f.clock.Advance(time.Second)
		}
		all := collect(t, f.r.Images(bg, regA, "app", ""))
		if len(all) != n {
			t.Fatalf("iterated %d images, want %d", len(all), n)
		}
		if !slices.IsSortedFunc(all, func(a, b Image) int { return compareDigest(a.Digest, b.Digest) }) {
			t.Fatal("images not in digest order")
		}
		for _, img := range all {
			if tag := want[img.Digest]; !reflect.DeepEqual(img.Tags, []string{tag}) {
				t.Fatalf("%s: tags %v, want [%s]", img.Digest, img.Tags, tag)
			}
			if img.PushedAt.IsZero() || img.ImageSize == 0 || img.ConfigMediaType != mtConfig {
				t.Fatalf("%s: %+v", img.Digest, img)
			}
		}
		rest := collect(t, f.r.Images(bg, regA, "app", string(all[99].Digest)))
		if len(rest) != n-100 || rest[0].Digest != all[100].Digest {
			t.Fatalf("after the 100th: %d images starting %s", len(rest), rest[0].Digest)
		}
		// Stopping early is fine.
		for range f.r.Images(bg, regA, "app", "") {
			break
		}
		// An unknown repository is one error.
		for _, err := range f.r.Images(bg, regA, "nope", "") {
			wantKind(t, err, KindRepositoryNotFound, "iterating a missing repository")
		}
	})
}

func compareDigest(a, b digest.Digest) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// The loop body may call back into core: here it deletes what it sees.
func TestImagesIteratorBodyMayWrite(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		for i := range imageBatch + 5 {
			f.pushImage(regA, "app", "t"+itoa(int64(i)), "seed"+itoa(int64(i)))
		}
		done := make(chan int)
		go func() {
			n := 0
			for img, err := range f.r.Images(bg, regA, "app", "") {
				must(t, err, "iterating")
				must(t, f.r.DeleteManifest(bg, regA, "app", img.Digest.String()), "DeleteManifest")
				n++
			}
			done <- n
		}()
		select {
		case n := <-done:
			if n != imageBatch+5 {
				t.Fatalf("deleted %d images while iterating, want %d", n, imageBatch+5)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a write from the loop body deadlocked with the iterator")
		}
		if left := collect(t, f.r.Images(bg, regA, "app", "")); len(left) != 0 {
			t.Fatalf("%d images left", len(left))
		}
	})
}

// The digest → tags index follows every way a tag moves or goes.
func TestTagsIndexFollowsTags(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		a, _ := f.pushImage(regA, "app", "a1", "a")
		b, _ := f.pushImage(regA, "app", "b1", "b")
		tagsOf := func(d digest.Digest) []string {
			t.Helper()
			img, err := f.r.ResolveImage(bg, regA, "app", d, "")
			must(t, err, "ResolveImage")
			return img.Tags
		}
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "shared", Body: a.body, Tags: []string{"a2"}})
		must(t, err, "tag a")
		if got := tagsOf(a.digest); !reflect.DeepEqual(got, []string{"a1", "a2", "shared"}) {
			t.Fatalf("a's tags %v", got)
		}
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "shared", Body: b.body}) // moves
		must(t, err, "move shared")
		if got := tagsOf(a.digest); !reflect.DeepEqual(got, []string{"a1", "a2"}) {
			t.Fatalf("a's tags after the move %v", got)
		}
		if got := tagsOf(b.digest); !reflect.DeepEqual(got, []string{"b1", "shared"}) {
			t.Fatalf("b's tags after the move %v", got)
		}
		must(t, f.r.DeleteTag(bg, regA, "app", "a2"), "DeleteTag")
		_, _, err = f.r.UntagImage(bg, regA, "app", "shared")
		must(t, err, "UntagImage")
		if got := tagsOf(a.digest); !reflect.DeepEqual(got, []string{"a1"}) {
			t.Fatalf("a's tags %v", got)
		}
		if got := tagsOf(b.digest); !reflect.DeepEqual(got, []string{"b1"}) {
			t.Fatalf("b's tags %v", got)
		}
		// A deleted image's tags leave the index with it: pushing it again starts bare.
		must(t, f.r.DeleteManifest(bg, regA, "app", b.digest.String()), "DeleteManifest")
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: b.digest.String(), Body: b.body})
		must(t, err, "re-push b by digest")
		if got := tagsOf(b.digest); len(got) != 0 {
			t.Fatalf("re-pushed b has tags %v", got)
		}
	})
}

// DeleteImages deletes many images in one transaction, an index together
// with its children, and says why it left the others.
func TestDeleteImages(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rec := f.record()
		f.createRepo(regA, "app")
		c1, _ := f.pushImage(regA, "app", "c1", "child1")
		c2, _ := f.pushImage(regA, "app", "c2", "child2")
		kept, _ := f.pushImage(regA, "app", "kept", "kept")
		solo, _ := f.pushImage(regA, "app", "solo", "solo")
		idx := f.pushIndex(regA, "app", "multi", c1, c2)
		held := f.pushIndex(regA, "app", "held", kept) // stays, so kept must stay
		rec.take(f)

		ctx := WithCause(bg, CauseLifecycle)
		absent := digest.FromString("never pushed")
		deleted, failed, err := f.r.DeleteImages(ctx, regA, "app", []digest.Digest{c1.digest, solo.digest, idx.Digest, c2.digest, kept.digest, absent, solo.digest})
		must(t, err, "DeleteImages")
		var got []digest.Digest
		for _, img := range deleted {
			got = append(got, img.Digest)
		}
		for _, d := range []digest.Digest{c1.digest, c2.digest, solo.digest, idx.Digest} {
			if !slices.Contains(got, d) {
				t.Errorf("%s not deleted (deleted %v)", d, got)
			}
		}
		if i, j := slices.Index(got, idx.Digest), slices.Index(got, c1.digest); i > j {
			t.Error("a child was deleted before its index")
		}
		if len(got) != 4 {
			t.Errorf("deleted %v", got)
		}
		wantKind(t, failed[kept.digest], KindManifestReferenced, "an image its staying index lists")
		wantKind(t, failed[absent], KindManifestNotFound, "an image that is not there")
		if len(failed) != 2 {
			t.Errorf("failures %v", failed)
		}
		left := collect(t, f.r.Images(bg, regA, "app", ""))
		if len(left) != 2 {
			t.Fatalf("%d images left, want kept and its index", len(left))
		}
		for _, img := range left {
			if img.Digest != kept.digest && img.Digest != held.Digest {
				t.Fatalf("left %s", img.Digest)
			}
		}
		// Events: every tag and manifest, marked with the cause.
		evs := rec.take(f)
		manifests := 0
		for _, e := range evs {
			if e.Cause != CauseLifecycle || e.Kind != EventDelete {
				t.Fatalf("event %+v", e)
			}
			if e.Target == TargetManifest {
				manifests++
			}
		}
		if manifests != 4 {
			t.Fatalf("%d manifest delete events, want 4", manifests)
		}

		// A vetoed delete fails alone.
		f.r.Bus().Before(func(ctx context.Context, e Event) error {
			if e.Kind == EventDelete && e.Digest == held.Digest {
				return Denied("protected")
			}
			return nil
		})
		deleted, failed, err = f.r.DeleteImages(ctx, regA, "app", []digest.Digest{held.Digest, kept.digest})
		must(t, err, "DeleteImages with a veto")
		wantKind(t, failed[held.Digest], KindDenied, "vetoed")
		wantKind(t, failed[kept.digest], KindManifestReferenced, "listed by the vetoed index")
		if len(deleted) != 0 {
			t.Fatalf("deleted %v", deleted)
		}
		_, _, err = f.r.DeleteImages(ctx, regA, "nope", []digest.Digest{kept.digest})
		wantKind(t, err, KindRepositoryNotFound, "DeleteImages in a missing repository")
	})
}

// Archiving and restoring are published, as is a re-push that restores.
func TestStorageClassEvents(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rec := f.record()
		f.createRepo(regA, "app")
		img, _ := f.pushImage(regA, "app", "v1", "archived")
		rec.take(f)
		_, err := f.r.SetStorageClass(asAlice(), regA, "app", img.digest, true)
		must(t, err, "archive")
		_, err = f.r.SetStorageClass(asAlice(), regA, "app", img.digest, true) // already archived: nothing happens
		must(t, err, "archive again")
		evs := rec.take(f)
		if len(evs) != 1 || evs[0].Kind != EventImageArchived || evs[0].Digest != img.digest || evs[0].Actor != alice {
			t.Fatalf("events %+v", evs)
		}
		_, err = f.r.SetStorageClass(bg, regA, "app", img.digest, false)
		must(t, err, "restore")
		if evs := rec.take(f); len(evs) != 1 || evs[0].Kind != EventImageRestored {
			t.Fatalf("events %+v", evs)
		}
		_, err = f.r.SetStorageClass(bg, regA, "app", img.digest, true)
		must(t, err, "archive")
		rec.take(f)
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v1", Body: img.body})
		must(t, err, "re-push")
		kinds := []EventKind{}
		for _, e := range rec.take(f) {
			kinds = append(kinds, e.Kind)
		}
		if !reflect.DeepEqual(kinds, []EventKind{EventPush, EventImageRestored}) {
			t.Fatalf("re-push of an archived image published %v", kinds)
		}
	})
}

// Creating a repository and changing a policy are published.
func TestRepositoryAndPolicyEvents(t *testing.T) {
	eachStoreCreateOnPush(t, func(t *testing.T, f *fixture) {
		rec := f.record()
		_, err := f.r.CreateRepository(asAlice(), regA, "app")
		must(t, err, "CreateRepository")
		img := f.newImage(regA, "pushed", "created by a push")
		evs := rec.take(f)
		if len(evs) < 2 || evs[0].Kind != EventRepositoryCreated || evs[0].Repository != "app" || evs[0].Actor != alice ||
			evs[1].Kind != EventRepositoryCreated || evs[1].Repository != "pushed" {
			t.Fatalf("events %+v", evs)
		}
		_ = img
		_, err = f.r.UpdateRepository(bg, regA, "app", func(r *Repository) error { r.Policy = `{"Version":"2012-10-17"}`; return nil })
		must(t, err, "set policy")
		_, err = f.r.UpdateRepository(bg, regA, "app", func(r *Repository) error { r.ScanOnPush = true; return nil })
		must(t, err, "another setting")
		_, err = f.r.UpdateSettings(bg, regA, func(s *RegistrySettings) error { s.Policy = "{}"; return nil })
		must(t, err, "registry policy")
		evs = rec.take(f)
		if len(evs) != 2 || evs[0].Kind != EventPolicyChanged || evs[0].Target != TargetRepository || evs[0].Repository != "app" ||
			evs[1].Kind != EventPolicyChanged || evs[1].Target != TargetRegistry {
			t.Fatalf("events %+v", evs)
		}
	})
}

// Untagging an image's last tag deletes it (ECR's BatchDeleteImage by tag),
// unless an index of the repository still lists it: then nothing changes.
func TestUntagLastTagOfAListedImageIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		child, _ := f.pushImage(regA, "app", "child", "child")
		f.pushIndex(regA, "app", "multi", child)
		_, deleted, err := f.r.UntagImage(bg, regA, "app", "child")
		wantKind(t, err, KindManifestReferenced, "untagging the last tag of a listed image")
		if deleted {
			t.Fatal("reported deleted")
		}
		img, err := f.r.ResolveImage(bg, regA, "app", child.digest, "")
		must(t, err, "the child is still there")
		if !reflect.DeepEqual(img.Tags, []string{"child"}) {
			t.Fatalf("tags %v", img.Tags)
		}
		// Not listed any more: untagging deletes it.
		must(t, f.r.DeleteTag(bg, regA, "app", "multi"), "untag the index")
		idx, _ := f.r.ListImages(bg, regA, "app")
		for _, i := range idx {
			if i.IsIndex() {
				must(t, f.r.DeleteManifest(bg, regA, "app", i.Digest.String()), "delete the index")
			}
		}
		_, deleted, err = f.r.UntagImage(bg, regA, "app", "child")
		if err != nil || !deleted {
			t.Fatalf("UntagImage = %v, %v", deleted, err)
		}
	})
}

// A repository's lifecycle policy is stored with it, its changes are
// published (Target lifecycle-policy), and it goes with the repository.
func TestLifecyclePolicyStoredWithTheRepository(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		rec := f.record()
		const text = `{"rules":[]}`
		_, err := f.r.UpdateRepository(bg, regA, "app", func(r *Repository) error { r.LifecyclePolicy = text; return nil })
		must(t, err, "set lifecycle policy")
		at := f.clock.Now()
		_, err = f.r.UpdateRepository(bg, regA, "app", func(r *Repository) error { r.LifecycleEvaluatedAt = at; return nil })
		must(t, err, "record an evaluation")
		f.restart()
		repo, err := f.r.GetRepository(bg, regA, "app")
		must(t, err, "GetRepository")
		if repo.LifecyclePolicy != text || !repo.LifecycleEvaluatedAt.Equal(at) {
			t.Fatalf("stored %q at %v", repo.LifecyclePolicy, repo.LifecycleEvaluatedAt)
		}
		evs := rec.take(f)
		if len(evs) != 1 || evs[0].Kind != EventPolicyChanged || evs[0].Target != TargetLifecyclePolicy || evs[0].Repository != "app" {
			t.Fatalf("events %+v, want one lifecycle-policy change", evs)
		}
		_, err = f.r.DeleteRepository(bg, regA, "app", true)
		must(t, err, "DeleteRepository")
		f.createRepo(regA, "app")
		repo, err = f.r.GetRepository(bg, regA, "app")
		must(t, err, "GetRepository")
		if repo.LifecyclePolicy != "" || !repo.LifecycleEvaluatedAt.IsZero() {
			t.Fatalf("a new repository of the same name has lifecycle policy %q (%v)", repo.LifecyclePolicy, repo.LifecycleEvaluatedAt)
		}
	})
}

// PageImageIDs lists what PageImages lists — digests in order, tags in
// order, storage class — page by page from an inclusive bound, with an
// untagged, a multi-tagged, an archived and a restored image among them.
func TestPageImageIDsAgreesWithPageImages(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		const n = 30
		for i := range n {
			img, _ := f.pushImage(regA, "app", "t"+itoa(int64(i)), "seed"+itoa(int64(i)))
			switch i {
			case 3: // a second and a third tag
				for _, tag := range []string{"a3", "z3"} {
					_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: tag, ContentType: MediaTypeOCIManifest, Body: img.body})
					must(t, err, "tagging")
				}
			case 5: // untagged: pushed by digest only
				u := f.newImage(regA, "app", "untagged")
				_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: string(u.digest), ContentType: MediaTypeOCIManifest, Body: u.body})
				must(t, err, "pushing by digest")
			case 7, 8:
				_, err := f.r.SetStorageClass(bg, regA, "app", img.digest, true)
				must(t, err, "archiving")
				if i == 8 {
					_, err = f.r.SetStorageClass(bg, regA, "app", img.digest, false)
					must(t, err, "restoring")
				}
			}
			f.clock.Advance(time.Second)
		}
		all, _, err := f.r.PageImages(bg, regA, "app", ImagePage{})
		must(t, err, "PageImages")
		if len(all) != n+1 {
			t.Fatalf("%d images, want %d", len(all), n+1)
		}
		now := f.clock.Now()
		var got []ImageID
		from := ""
		for pages := 0; ; pages++ {
			ids, more, err := f.r.PageImageIDs(bg, regA, "app", from, 7)
			must(t, err, "PageImageIDs")
			if len(ids) > 7 || more && len(ids) != 7 || pages > n {
				t.Fatalf("page of %d ids, more %v", len(ids), more)
			}
			got = append(got, ids...)
			if !more {
				break
			}
			from = DigestsAfter(ids[len(ids)-1].Digest)
		}
		if len(got) != len(all) {
			t.Fatalf("%d ids, want %d", len(got), len(all))
		}
		archived := 0
		for i, img := range all {
			id := got[i]
			if id.Digest != img.Digest || !slices.Equal(id.Tags, img.Tags) || id.Archived != img.Archived ||
				!id.ActivatedAt.Equal(img.ActivatedAt) || id.Status(now, time.Hour) != img.Status(now, time.Hour) {
				t.Fatalf("id %d: %+v, image %+v", i, id, img)
			}
			if img.Archived {
				archived++
			}
		}
		if archived != 1 {
			t.Fatalf("%d archived images, want 1", archived)
		}
		// The bound is inclusive; an unknown repository is an error.
		ids, _, err := f.r.PageImageIDs(bg, regA, "app", string(all[4].Digest), 2)
		must(t, err, "PageImageIDs from a digest")
		if len(ids) != 2 || ids[0].Digest != all[4].Digest || ids[1].Digest != all[5].Digest {
			t.Fatalf("from the 5th digest: %+v", ids)
		}
		_, _, err = f.r.PageImageIDs(bg, regA, "nope", "", 10)
		wantKind(t, err, KindRepositoryNotFound, "PageImageIDs of a missing repository")
	})
}

// A record the skimming reader does not take (here: written with its keys
// in another case, which encoding/json accepts) is decoded whole, and one
// that cannot be decoded is an error, never an active image.
func TestDecodeStorageClassFallsBackAndReportsCorruption(t *testing.T) {
	var id ImageID
	if err := decodeStorageClass([]byte(`{"mediaType":"m","size":1,"imageSize":2,"pushedAt":"2026-01-02T03:04:05Z","Archived":true}`), &id); err != nil || !id.Archived {
		t.Fatalf("a record encoding/json takes: %+v, %v", id, err)
	}
	id = ImageID{}
	if err := decodeStorageClass([]byte(`{"mediaType":"m","archived":true,"annotations":{"a":"b"},"subject":{"digest":"sha256:x"},"activatedAt":"2026-01-02T03:04:05Z"}`), &id); err != nil ||
		!id.Archived || id.ActivatedAt.IsZero() {
		t.Fatalf("a record the reader takes: %+v, %v", id, err)
	}
	for _, bad := range []string{`{"archived":tru}`, `{"subject":{"digest":}}`, `{"activatedAt":"yesterday"}`, `[]`} {
		if err := decodeStorageClass([]byte(bad), &id); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
