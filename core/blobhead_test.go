package core

import (
	"testing"

	"github.com/opencontainers/go-digest"
)

// HeadBlob answers as OpenBlob does, without a reader: the blob's size when
// OpenBlob would open it, OpenBlob's error kind when not: a blob stored, one
// of another repository, one never stored, a missing repository, a link
// whose bytes are gone.
func TestHeadBlobAnswersAsOpenBlob(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		f.createRepo(regA, "other")
		d := f.putBlob(regA, "app", []byte("head me"), mtLayer).Digest
		gone := f.putBlob(regA, "app", []byte("bytes gone"), mtLayer).Digest
		if err := f.blobs.Delete(gone); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			repo string
			d    digest.Digest
		}{
			{"app", d}, {"other", d}, {"app", digest.FromString("never")}, {"nope", d}, {"app", gone},
		}
		for _, c := range cases {
			size, herr := f.r.HeadBlob(bg, regA, c.repo, c.d)
			rd, oerr := f.r.OpenBlob(bg, regA, c.repo, c.d)
			if oerr == nil {
				if herr != nil || size != rd.Size() {
					t.Errorf("%s %s: HeadBlob = %d, %v; OpenBlob's reader has %d", c.repo, c.d, size, herr, rd.Size())
				}
				rd.Close()
				continue
			}
			if KindOf(herr) != KindOf(oerr) {
				t.Errorf("%s %s: HeadBlob error %v, OpenBlob's %v", c.repo, c.d, herr, oerr)
			}
		}
		if size, err := f.r.HeadBlob(bg, regA, "app", d); err != nil || size != int64(len("head me")) {
			t.Fatalf("HeadBlob = %d, %v", size, err)
		}
	})
}

// A HEAD that misses is offered to the Upstream as a GET is: the blob is
// fetched and stored, its declared size answered; what the upstream lacks
// stays a miss, a failing upstream is reported.
func TestHeadBlobFetchesOnMiss(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		content := []byte("a layer only the upstream has")
		d := u.addBlob(content)
		size, err := f.r.HeadBlob(asRoot(regA), regA, "hub/alpine", d)
		must(t, err, "HeadBlob through the upstream")
		if size != int64(len(content)) {
			t.Fatalf("size %d, want %d", size, len(content))
		}
		if got := readBlob(t, f, regA, "hub/alpine", d); got != string(content) {
			t.Fatalf("stored %q", got)
		}
		if n := u.blobCalls.Load(); n != 1 {
			t.Fatalf("blob fetches %d, want 1", n)
		}
		_, err = f.r.HeadBlob(bg, regA, "hub/alpine", digest.FromString("nowhere"))
		wantKind(t, err, KindBlobNotFound, "a blob the upstream lacks")
		u.fail = Errorf(KindUpstreamUnavailable, "upstream said 503")
		_, err = f.r.HeadBlob(bg, regA, "hub/alpine", digest.FromString("nowhere"))
		wantKind(t, err, KindUpstreamUnavailable, "a failing upstream")
	})
}

// A caller whose miss was read just before another caller's fetch of the
// same blob ended (stored, and gone from the fetches in progress) finds the
// stored blob instead of asking the upstream again: fetchBlob looks again
// before fetching. (Before, HEAD-then-GET of a blob fetched on miss asked
// the upstream twice in a few runs in a hundred.)
func TestBlobMissReadBeforeAFetchEndedIsNotFetchedAgain(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		content := []byte("a layer fetched once")
		d := u.addBlob(content)
		// Stored whole before LocateBlob returns.
		if _, err := f.r.LocateBlob(asRoot(regA), regA, "hub/alpine", d); err != nil {
			t.Fatal(err)
		}
		// What a caller that missed meanwhile does next.
		tee, again, err := f.r.fetchBlob(bg, regA, "hub/alpine", d, true)
		if tee != nil {
			tee.Close()
			t.Fatal("a stored blob was fetched again, to be served from the upstream")
		}
		if err != nil || !again {
			t.Fatalf("fetchBlob of a stored blob: again %v, %v", again, err)
		}
		if n := u.blobCalls.Load(); n != 1 {
			t.Fatalf("blob fetches %d, want 1", n)
		}
		if got := readBlob(t, f, regA, "hub/alpine", d); got != string(content) {
			t.Fatalf("stored %q", got)
		}
	})
}

// The same for a manifest: a caller whose miss was read just before another
// caller's fetch of the same reference ended (imported, and gone from the
// fetches in progress) reads the imported manifest instead of asking the
// upstream again.
func TestManifestMissReadBeforeAFetchEndedIsNotFetchedAgain(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		img, _, err := f.r.GetManifest(asRoot(regA), regA, "hub/alpine", u.tag, nil)
		must(t, err, "GetManifest through the upstream")
		for _, ref := range []string{u.tag, img.Digest.String()} {
			// What a caller that missed meanwhile does next.
			again, err := f.r.fetchMissingManifest(bg, regA, "hub/alpine", ref)
			if err != nil || !again {
				t.Fatalf("fetchMissingManifest of a stored %s: again %v, %v", ref, again, err)
			}
		}
		if n := u.manifestCalls.Load(); n != 1 {
			t.Fatalf("manifest fetches %d, want 1", n)
		}
	})
}
