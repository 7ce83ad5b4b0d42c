package core

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/blob"
	"github.com/opencontainers/go-digest"
)

// fakeUpstream serves one image from memory, as a pull-through cache would:
// manifests imported through core, blobs handed to core to store while it
// serves them. It counts the fetches it is asked for.
type fakeUpstream struct {
	r                        *Registry
	tag                      string
	manifest                 []byte
	blobs                    map[digest.Digest][]byte
	fail                     error         // returned instead of fetching
	gate                     chan struct{} // when set, manifest fetches wait for it
	blobGate                 chan struct{} // when set, blob fetches wait for it
	deny                     string        // a principal the upstream refuses to import for
	mu                       sync.Mutex
	bodies                   map[digest.Digest]io.ReadCloser // a blob's body, instead of its bytes
	unsized                  bool                            // declare no size
	due                      func(tag string, held digest.Digest) bool
	manifestCalls, blobCalls atomic.Int32
	refreshAsked             atomic.Int32
}

func (u *fakeUpstream) FetchManifest(ctx context.Context, reg RegistryID, repo, ref string) error {
	u.manifestCalls.Add(1)
	if u.gate != nil {
		<-u.gate
	}
	if u.deny != "" && CallerFrom(ctx).Principal == u.deny {
		return Denied("%s may not import", u.deny)
	}
	if CauseFrom(ctx) != CausePullThrough {
		return errors.New("an upstream fetch without the pull-through cause")
	}
	if u.fail != nil {
		return u.fail
	}
	u.mu.Lock()
	tag, manifest := u.tag, u.manifest
	u.mu.Unlock()
	if ref != tag && ref != digest.FromBytes(manifest).String() {
		return manifestNotFound(repo, ref)
	}
	_, err := u.r.ImportManifest(ctx, reg, repo, PutManifestInput{Reference: ref, Body: manifest})
	return err
}

func (u *fakeUpstream) FetchBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) (UpstreamBlob, error) {
	u.blobCalls.Add(1)
	if u.blobGate != nil {
		<-u.blobGate
	}
	if u.deny != "" && CallerFrom(ctx).Principal == u.deny {
		return UpstreamBlob{}, Denied("%s may not import", u.deny)
	}
	if u.fail != nil {
		return UpstreamBlob{}, u.fail
	}
	u.mu.Lock()
	body := u.bodies[d]
	u.mu.Unlock()
	b, ok := u.blobs[d]
	if !ok {
		return UpstreamBlob{}, blobNotFound(d)
	}
	if body == nil {
		body = io.NopCloser(bytes.NewReader(b))
	}
	size := int64(len(b))
	if u.unsized {
		size = -1
	}
	return UpstreamBlob{Body: body, Size: size}, nil
}

func (u *fakeUpstream) RefreshDue(ctx context.Context, reg RegistryID, repo, tag string, held digest.Digest) bool {
	u.refreshAsked.Add(1)
	return u.due != nil && u.due(tag, held)
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

// addBlob gives the upstream one more blob and returns its digest.
func (u *fakeUpstream) addBlob(b []byte) digest.Digest {
	d := digest.FromBytes(b)
	u.blobs[d] = b
	return d
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
		readBlob(t, f, regA, "hub/alpine", digest.FromBytes([]byte("an upstream layer")))
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
		_, err = f.r.OpenBlob(bg, regA, "hub/alpine", digest.FromString("nowhere"))
		wantKind(t, err, KindUpstreamUnavailable, "a failing upstream, for a blob")
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

// streamingBody is an upstream body the test feeds piece by piece.
type streamingBody struct {
	*io.PipeReader
	w *io.PipeWriter
}

func newStreamingBody() streamingBody {
	r, w := io.Pipe()
	return streamingBody{r, w}
}

// The first pull of a blob is served while the upstream is still sending
// it; the blob becomes reachable only once all of it is stored and
// verified, and pulls that miss meanwhile wait for it rather than fetch
// again.
func TestFirstBlobPullStreamsWhileStored(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		content := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
		d := u.addBlob(content)
		body := newStreamingBody()
		u.bodies = map[digest.Digest]io.ReadCloser{d: body}

		rd, err := f.r.OpenBlob(bg, regA, "hub/alpine", d)
		must(t, err, "OpenBlob of a blob being fetched")
		if rd.Size() != int64(len(content)) {
			t.Fatalf("Size = %d, want the declared %d", rd.Size(), len(content))
		}
		half := len(content) / 2
		go body.w.Write(content[:half]) // the upstream sends half, then stalls
		got := make([]byte, half)
		if _, err := io.ReadFull(rd, got); err != nil || !bytes.Equal(got, content[:half]) {
			t.Fatalf("the first half was not served while the upstream stalled: %v", err)
		}
		if _, err := f.r.StatBlob(bg, regA, "hub/alpine", d); !IsKind(err, KindBlobNotFound) {
			t.Fatalf("a blob half stored is reachable: %v", err)
		}
		// A second pull meanwhile waits for the fetch in progress.
		second := make(chan string, 1)
		go func() {
			rd2, err := f.r.OpenBlob(bg, regA, "hub/alpine", d)
			if err != nil {
				second <- "error: " + err.Error()
				return
			}
			defer rd2.Close()
			b, _ := io.ReadAll(rd2)
			second <- string(b)
		}()
		go func() {
			body.w.Write(content[half:])
			body.w.Close()
		}()
		rest, err := io.ReadAll(rd)
		must(t, err, "reading the rest")
		rd.Close()
		if !bytes.Equal(rest, content[half:]) {
			t.Fatalf("the rest differs: %d bytes", len(rest))
		}
		if s := <-second; s != string(content) {
			t.Fatalf("the waiting pull got %.40q", s)
		}
		if size, err := f.r.StatBlob(bg, regA, "hub/alpine", d); err != nil || size != int64(len(content)) {
			t.Fatalf("after the first pull: %d %v", size, err)
		}
		if n := u.blobCalls.Load(); n != 1 {
			t.Fatalf("%d upstream fetches, want 1", n)
		}
		// The repository was created for the pull-through cache.
		if _, err := f.r.GetRepository(bg, regA, "hub/alpine"); err != nil {
			t.Fatal(err)
		}
	})
}

// A client that goes away in the middle of a first pull does not abort the
// import: it completes, and later pulls are served from the store.
func TestFirstBlobPullOutlivesItsClient(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		content := bytes.Repeat([]byte("layer bytes "), 50000)
		d := u.addBlob(content)
		rd, err := f.r.OpenBlob(bg, regA, "hub/alpine", d)
		must(t, err, "OpenBlob")
		if _, err := io.ReadFull(rd, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		rd.Close() // gone
		if got := readBlob(t, f, regA, "hub/alpine", d); got != string(content) {
			t.Fatalf("after the first client left: %d bytes", len(got))
		}
		if n := u.blobCalls.Load(); n != 1 {
			t.Fatalf("%d upstream fetches, want 1", n)
		}
	})
}

// An upstream whose bytes do not match the digest asked for is rejected:
// the reader never gets the last of them, and nothing is stored.
func TestLyingUpstreamBlobIsRejected(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		honest := bytes.Repeat([]byte("x"), 100000)
		d := u.addBlob(honest)
		lie := bytes.Repeat([]byte("y"), len(honest))
		u.bodies = map[digest.Digest]io.ReadCloser{d: io.NopCloser(bytes.NewReader(lie))}
		rd, err := f.r.OpenBlob(bg, regA, "hub/alpine", d)
		must(t, err, "OpenBlob")
		got, err := io.ReadAll(rd)
		rd.Close()
		wantKind(t, err, KindUpstreamUnavailable, "reading a lying upstream's blob")
		if !strings.Contains(err.Error(), "does not match digest") {
			t.Fatalf("reason: %v", err)
		}
		if len(got) >= len(lie) {
			t.Fatalf("the reader got all %d bytes of a blob that was rejected", len(got))
		}
		if _, err := f.r.StatBlob(bg, regA, "hub/alpine", d); !IsKind(err, KindBlobNotFound) {
			t.Fatalf("the rejected blob is reachable: %v", err)
		}
		for _, dg := range []digest.Digest{d, digest.FromBytes(lie)} {
			if _, err := f.r.blobs.Stat(dg); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("blob %s was stored: %v", dg, err)
			}
		}
		if n := leftoverUploads(t, f); n != 0 {
			t.Fatalf("%d uploads left behind", n)
		}
		// Nobody to stream to: the same answer, nothing stored either.
		u.bodies = map[digest.Digest]io.ReadCloser{d: io.NopCloser(bytes.NewReader(lie))}
		_, err = f.r.LocateBlob(bg, regA, "hub/alpine", d)
		wantKind(t, err, KindUpstreamUnavailable, "LocateBlob of a lying upstream's blob")
	})
}

func leftoverUploads(t *testing.T, f *fixture) int {
	n := 0
	must(t, f.blobs.ListUploads(func(string) error { n++; return nil }), "ListUploads")
	return n
}

// An upstream that stops short of the size it declared fails the import.
func TestShortUpstreamBodyFailsTheImport(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		content := bytes.Repeat([]byte("z"), 5000)
		d := u.addBlob(content)
		u.bodies = map[digest.Digest]io.ReadCloser{d: io.NopCloser(bytes.NewReader(content[:4000]))}
		rd, err := f.r.OpenBlob(bg, regA, "hub/alpine", d)
		must(t, err, "OpenBlob")
		_, err = io.ReadAll(rd)
		rd.Close()
		wantKind(t, err, KindUpstreamUnavailable, "a short upstream body")
		if _, err := f.r.StatBlob(bg, regA, "hub/alpine", d); !IsKind(err, KindBlobNotFound) {
			t.Fatalf("a short blob is reachable: %v", err)
		}
	})
}

// The streaming reader seeks as http.ServeContent asks: to the end for the
// size, forward for a range (storing what it skips), and back (serving the
// rest from the store once it is complete).
func TestFirstBlobPullSeeks(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		content := make([]byte, 300000)
		for i := range content {
			content[i] = byte(i * 7)
		}
		d := u.addBlob(content)
		rd, err := f.r.OpenBlob(bg, regA, "hub/alpine", d)
		must(t, err, "OpenBlob")
		defer rd.Close()
		if end, err := rd.Seek(0, io.SeekEnd); err != nil || end != int64(len(content)) {
			t.Fatalf("Seek to the end: %d %v", end, err)
		}
		if _, err := rd.Seek(100000, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		part := make([]byte, 1000)
		if _, err := io.ReadFull(rd, part); err != nil || !bytes.Equal(part, content[100000:101000]) {
			t.Fatalf("a forward range: %v", err)
		}
		if _, err := rd.Seek(10, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(rd)
		if err != nil || !bytes.Equal(rest, content[10:]) {
			t.Fatalf("reading back from offset 10: %d bytes, %v", len(rest), err)
		}
		if _, err := f.r.StatBlob(bg, regA, "hub/alpine", d); err != nil {
			t.Fatal(err)
		}
	})
}

// A blob whose size the upstream does not declare is stored whole first,
// then served from the store.
func TestUnsizedUpstreamBlobIsStoredFirst(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		u.unsized = true
		d := u.addBlob([]byte("no content-length"))
		if got := readBlob(t, f, regA, "hub/alpine", d); got != "no content-length" {
			t.Fatalf("got %q", got)
		}
	})
}

// LocateBlob stores a missing blob whole before it answers.
func TestLocateBlobImportsWhole(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		d := u.addBlob([]byte("located"))
		size, err := f.r.LocateBlob(bg, regA, "hub/alpine", d)
		if err != nil || size != 7 {
			t.Fatalf("LocateBlob: %d %v", size, err)
		}
		if _, err := f.r.StatBlob(bg, regA, "hub/alpine", d); err != nil {
			t.Fatal(err)
		}
		_, err = f.r.LocateBlob(bg, regA, "hub/alpine", digest.FromString("nowhere"))
		wantKind(t, err, KindBlobNotFound, "LocateBlob of a blob nobody has")
	})
}

// A pull by tag of an image the registry holds asks the Upstream whether
// the tag is due a re-check; when it is, a tag moved upstream moves here
// too, and an upstream that fails leaves the held image served. Pulls by
// digest never ask.
func TestTagRefreshedWhenDue(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		first, _, err := f.r.GetManifest(bg, regA, "hub/alpine", "3.20", nil)
		must(t, err, "first pull")
		if _, _, err := f.r.GetManifest(bg, regA, "hub/alpine", first.Digest.String(), nil); err != nil {
			t.Fatal(err)
		}
		asked := u.refreshAsked.Load()
		if asked != 0 {
			t.Fatalf("a miss and a pull by digest asked RefreshDue %d times", asked)
		}
		// Not due: the held image, without a fetch.
		if _, _, err := f.r.GetManifest(bg, regA, "hub/alpine", "3.20", nil); err != nil {
			t.Fatal(err)
		}
		if u.refreshAsked.Load() != 1 || u.manifestCalls.Load() != 1 {
			t.Fatalf("asked %d, fetched %d", u.refreshAsked.Load(), u.manifestCalls.Load())
		}
		// The tag moves upstream, and is due.
		cfg := []byte(`{"from":"upstream","version":2}`)
		u.addBlob(cfg)
		u.mu.Lock()
		u.manifest = manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest,
			Config: &Descriptor{MediaType: mtConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}, Layers: []Descriptor{}}.bytes(t)
		u.mu.Unlock()
		u.due = func(tag string, held digest.Digest) bool { return tag == "3.20" && held == first.Digest }
		moved, err := f.r.StatManifest(bg, regA, "hub/alpine", "3.20", nil)
		must(t, err, "HEAD when due")
		if moved.Digest != digest.FromBytes(u.manifest) {
			t.Fatalf("the tag was not refreshed: %s", moved.Digest)
		}
		// Due again, but the upstream fails: the held image is served.
		u.due = func(string, digest.Digest) bool { return true }
		u.fail = Errorf(KindUpstreamUnavailable, "upstream down")
		held, _, err := f.r.GetManifest(bg, regA, "hub/alpine", "3.20", nil)
		if err != nil || held.Digest != moved.Digest {
			t.Fatalf("an upstream outage during a re-check: %v %v", held.Digest, err)
		}
	})
}

// The pull-through cache's own reads are never offered back to it.
func TestPullThroughReadsAreNotOffered(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		own := WithCause(bg, CausePullThrough)
		_, _, err := f.r.GetManifest(own, regA, "hub/alpine", "3.20", nil)
		wantKind(t, err, KindRepositoryNotFound, "a pull-through read that misses")
		_, err = f.r.OpenBlob(own, regA, "hub/alpine", digest.FromBytes([]byte("an upstream layer")))
		wantKind(t, err, KindRepositoryNotFound, "a pull-through blob read that misses")
		if u.manifestCalls.Load()+u.blobCalls.Load()+u.refreshAsked.Load() != 0 {
			t.Fatal("the Upstream was consulted for its own read")
		}
	})
}

// A denial is the caller's own: a caller who joined a denied caller's
// fetch (of a manifest or a blob) asks the Upstream again for itself.
func TestADenialIsNotShared(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		denied := "arn:aws:iam::111111111111:user/pull-only"
		u.deny = denied
		u.gate, u.blobGate = make(chan struct{}), make(chan struct{})
		layer := digest.FromBytes([]byte("an upstream layer"))
		type result struct {
			who string
			err error
		}
		results := make(chan result, 4)
		for _, who := range []string{denied, RootPrincipal(regA.Account)} {
			ctx := WithCaller(bg, Caller{Registry: regA, Principal: who})
			go func() {
				_, _, err := f.r.GetManifest(ctx, regA, "hub/alpine", "3.20", nil)
				results <- result{"manifest " + who, err}
			}()
			go func() {
				rd, err := f.r.OpenBlob(ctx, regA, "hub/alpine", layer)
				if err == nil {
					_, err = io.ReadAll(rd)
					rd.Close()
				}
				results <- result{"blob " + who, err}
			}()
			// The first caller's fetches start before the second caller arrives.
			for u.manifestCalls.Load() == 0 || u.blobCalls.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(50 * time.Millisecond) // the second caller joins the fetches in progress
		close(u.gate)
		close(u.blobGate)
		for range 4 {
			r := <-results
			if strings.Contains(r.who, denied) {
				wantKind(t, r.err, KindDenied, r.who)
			} else if r.err != nil {
				t.Fatalf("%s: %v", r.who, r.err)
			}
		}
	})
}

// coveringUpstream is a fakeUpstream that says which repositories it could
// cover (UpstreamCoverage).
type coveringUpstream struct {
	*fakeUpstream
	covered string
	asked   atomic.Int32
}

func (c *coveringUpstream) Covers(ctx context.Context, reg RegistryID, repo string) bool {
	c.asked.Add(1)
	return repo == c.covered
}

// An Upstream that says it cannot cover a repository is not offered its
// misses, blob misses or tag re-checks (a registry without pull-through
// rules pays nothing for them); one it covers is, as before.
func TestUncoveredRepositoryIsNotOffered(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		u := newUpstreamFixture(t, f)
		c := &coveringUpstream{fakeUpstream: u, covered: "hub/alpine"}
		f.r.upstream = c
		// Held in a repository the upstream does not cover: no re-check.
		f.createRepo(regA, "local")
		f.pushImage(regA, "local", "v1", "held")
		if _, _, err := f.r.GetManifest(bg, regA, "local", "v1", nil); err != nil {
			t.Fatal(err)
		}
		_, _, err := f.r.GetManifest(bg, regA, "local", "absent", nil)
		wantKind(t, err, KindManifestNotFound, "a miss in an uncovered repository")
		_, err = f.r.StatManifest(bg, regA, "local", digest.FromString("absent").String(), nil)
		wantKind(t, err, KindManifestNotFound, "a HEAD miss in an uncovered repository")
		_, err = f.r.OpenBlob(bg, regA, "local", digest.FromString("absent"))
		wantKind(t, err, KindBlobNotFound, "a blob miss in an uncovered repository")
		if n := u.manifestCalls.Load() + u.blobCalls.Load() + u.refreshAsked.Load(); n != 0 {
			t.Fatalf("the Upstream was consulted %d times for a repository it does not cover", n)
		}
		if c.asked.Load() == 0 {
			t.Fatal("Covers was never asked")
		}
		// The covered repository is filled from the upstream as before.
		if _, _, err := f.r.GetManifest(bg, regA, "hub/alpine", "3.20", nil); err != nil {
			t.Fatal(err)
		}
		if u.manifestCalls.Load() != 1 {
			t.Fatalf("manifest fetches %d, want 1", u.manifestCalls.Load())
		}
	})
}
