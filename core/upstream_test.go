package core

import (
	"bytes"
	"context"

	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// fakeUpstream serves one image from memory, importing through core as a
// pull-through cache would, and counts the fetches it is asked for.
type fakeUpstream struct {
	r                        *Registry
	tag                      string
	manifest                 []byte
	blobs                    map[digest.Digest][]byte
	fail                     error         // returned instead of fetching
	gate                     chan struct{} // when set, fetches wait for it
	manifestCalls, blobCalls atomic.Int32
}

func (u *fakeUpstream) FetchManifest(ctx context.Context, reg RegistryID, repo, ref string) error {
	u.manifestCalls.Add(1)
	if u.gate != nil {
		<-u.gate
	}
	if u.fail != nil {
		return u.fail
	}
	if ref != u.tag && ref != digest.FromBytes(u.manifest).String() {
		return manifestNotFound(repo, ref)
	}
	_, err := u.r.ImportManifest(WithCause(ctx, CausePullThrough), reg, repo, PutManifestInput{Reference: ref, Body: u.manifest})
	return err
}

func (u *fakeUpstream) FetchBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) error {
	u.blobCalls.Add(1)
	if u.fail != nil {
		return u.fail
	}
	b, ok := u.blobs[d]
	if !ok {
		return blobNotFound(d)
	}
	_, err := u.r.ImportBlob(WithCause(ctx, CausePullThrough), reg, repo, d, bytes.NewReader(b))
	return err
}

func newUpstreamFixture(t *testing.T, f *fixture) *fakeUpstream {
	cfg, layer := []byte(`{"from":"upstream"}`), []byte("an upstream layer")
	cfgD := Descriptor{MediaType: mtConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	layerD := Descriptor{MediaType: mtLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	u := &fakeUpstream{tag: "3.20",
		manifest: manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &cfgD, Layers: []Descriptor{layerD}}.bytes(t),
		blobs:    map[digest.Digest][]byte{cfgD.Digest: cfg, layerD.Digest: layer}}
	f.r.upstream = u
	u.r = f.r
	return u
}

// A manifest or blob GET that misses is filled from the Upstream and served;
// once imported, it is served locally.
func TestFetchOnMiss(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		img, body, err := f.r.GetManifest(asRoot(regA), regA, "hub/alpine", "3.20", nil)
		must(t, err, "GetManifest through the upstream")
		if !bytes.Equal(body, u.manifest) || img.Digest != digest.FromBytes(u.manifest) {
			t.Fatalf("served %+v", img)
		}
		_, _, err = f.r.GetManifest(asRoot(regA), regA, "hub/alpine", "3.20", nil)
		must(t, err, "second GetManifest")
		if _, err := f.r.StatManifest(bg, regA, "hub/alpine", img.Digest.String(), nil); err != nil {
			t.Fatal(err)
		}
		if n := u.manifestCalls.Load(); n != 1 {
			t.Fatalf("the upstream was asked %d times, want once", n)
		}
		for d, want := range u.blobs {
			if got := readBlob(t, f, regA, "hub/alpine", d); got != string(want) {
				t.Fatalf("blob %s = %q", d, got)
			}
		}
		if n := u.blobCalls.Load(); n != 2 {
			t.Fatalf("blob fetches %d, want 2", n)
		}
		readBlob(t, f, regA, "hub/alpine", digest.FromBytes(u.blobs[digest.FromBytes([]byte("an upstream layer"))]))
		if n := u.blobCalls.Load(); n != 2 {
			t.Fatal("a stored blob was fetched again")
		}

		// What the upstream lacks stays a miss; a failing upstream is reported.
		_, _, err = f.r.GetManifest(bg, regA, "hub/alpine", "edge", nil)
		wantKind(t, err, KindManifestNotFound, "a tag the upstream lacks")
		_, err = f.r.OpenBlob(bg, regA, "hub/alpine", digest.FromString("nowhere"))
		wantKind(t, err, KindBlobNotFound, "a blob the upstream lacks")
		u.fail = Errorf(KindUpstreamUnavailable, "upstream said 503")
		_, _, err = f.r.GetManifest(bg, regA, "hub/alpine", "edge", nil)
		wantKind(t, err, KindUpstreamUnavailable, "a failing upstream")
		// Without an Upstream, a miss is just a miss.
		f.r.upstream = nil
		_, _, err = f.r.GetManifest(bg, regA, "hub/alpine", "edge", nil)
		wantKind(t, err, KindManifestNotFound, "no upstream")
	})
}

// Concurrent first pulls of one reference make one fetch.
func TestConcurrentMissesFetchOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		u.gate = make(chan struct{})
		const n = 20
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := f.r.GetManifest(bg, regA, "hub/alpine", "3.20", nil)
				errs <- err
			}()
		}
		// Let every caller reach the fetch before it completes.
		deadline := time.Now().Add(10 * time.Second)
		for u.manifestCalls.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		close(u.gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err, "concurrent GetManifest")
		}
		if c := u.manifestCalls.Load(); c != 1 {
			t.Fatalf("%d fetches for %d concurrent misses, want 1", c, n)
		}
	})
}

// A caller giving up does not cancel the fetch others wait on.
func TestFetchOutlivesACallerWhoGivesUp(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		u.gate = make(chan struct{})
		ctx, cancel := context.WithCancel(bg)
		first := make(chan error, 1)
		go func() { _, _, err := f.r.GetManifest(ctx, regA, "hub/alpine", "3.20", nil); first <- err }()
		for u.manifestCalls.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		close(u.gate)
		<-first
		if _, err := f.r.StatManifest(bg, regA, "hub/alpine", "3.20", nil); err != nil {
			t.Fatalf("the fetch was lost with its first caller: %v", err)
		}
	})
}
