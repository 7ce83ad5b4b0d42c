package coretest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Registries for tests; any RegistryID works with the helpers.
var (
	RegA  = core.RegistryID{Account: "111111111111", Region: "us-east-1"}
	RegA2 = core.RegistryID{Account: "111111111111", Region: "eu-west-1"} // RegA's account, another region
	RegB  = core.RegistryID{Account: "222222222222", Region: "us-east-1"} // another account
)

// Start is the time every fixture's clock starts at.
var Start = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// WaitTimeout bounds Wait and Recorder.Take.
const WaitTimeout = 10 * time.Second

// Stores names a store configuration.
type Stores string

const (
	Memory Stores = "mem"  // kv.NewMem, blob.NewMem
	Disk   Stores = "disk" // kv.OpenBolt, blob.NewFS, in the test's temporary directory
)

// AllStores are the configurations Each runs, in order.
var AllStores = []Stores{Memory, Disk}

// Options set the core.Options a feature under test depends on; the zero
// value is berth's defaults (no create-on-push, no templates, no upstream,
// the AccountBoundary authorizer). They are used again at each Restart.
type Options struct {
	CreateOnPush bool
	Templates    core.TemplateSource
	Upstream     core.Upstream
	Authorizer   core.Authorizer
	// Log receives the registry's logs; nil discards them.
	Log *slog.Logger
	// Core, if set, changes the core.Options last, for fields not above
	// (NewID, Bus…). The fixture's stores and clock are already in them.
	Core func(*core.Options)
}

// Fixture is one Registry under test, with its stores and clock.
type Fixture struct {
	// Clock is the registry's clock, stopped at Start until the test moves
	// it. It stays the same across Restart.
	Clock *core.ManualClock
	// Stores is the configuration this fixture runs on.
	Stores Stores

	t     testing.TB
	opts  Options
	dir   string
	ids   atomic.Int64
	rand  *lockedRand
	r     *core.Registry
	kv    kv.Store
	blobs blob.Store
	wired []wiring
}

type wiring struct {
	start func(*core.Registry) (stop func())
	stop  func()
}

// Each runs fn once per store configuration (AllStores), each in a subtest
// with a fresh Fixture and default Options.
func Each(t *testing.T, fn func(t *testing.T, f *Fixture)) {
	t.Helper()
	EachWith(t, Options{}, fn)
}

// EachWith is Each with Options.
func EachWith(t *testing.T, o Options, fn func(t *testing.T, f *Fixture)) {
	t.Helper()
	for _, s := range AllStores {
		t.Run(string(s), func(t *testing.T) { fn(t, New(t, s, o)) })
	}
}

// New builds a Fixture on one store configuration. The Registry is closed,
// and the disk stores removed, when the test ends.
func New(t testing.TB, s Stores, o Options) *Fixture {
	t.Helper()
	f := &Fixture{Clock: core.NewManualClock(Start), Stores: s, t: t, opts: o, rand: newLockedRand()}
	switch s {
	case Memory:
		f.kv, f.blobs = kv.NewMem(), blob.NewMem()
	case Disk:
		f.dir = t.TempDir()
		f.openDisk()
	default:
		t.Fatalf("coretest: unknown store configuration %q", s)
	}
	f.r = f.open()
	t.Cleanup(func() {
		if err := f.close(); err != nil {
			t.Errorf("coretest: closing the registry: %v", err)
		}
		if s == Memory {
			f.kv.Close()
		}
	})
	return f
}

// keepOpen is the memory store as the Registry sees it: closing the
// Registry at Restart must not close the store the next one reads.
type keepOpen struct{ kv.Store }

func (keepOpen) Close() error { return nil }

func (f *Fixture) openDisk() {
	f.t.Helper()
	m, err := kv.OpenBolt(filepath.Join(f.dir, "meta.db"))
	if err != nil {
		f.t.Fatalf("coretest: %v", err)
	}
	b, err := blob.NewFS(filepath.Join(f.dir, "blobs"))
	if err != nil {
		m.Close()
		f.t.Fatalf("coretest: %v", err)
	}
	f.kv, f.blobs = m, b
}

// open builds a Registry over the fixture's stores with core.Open, as the
// server does, and wires the features in.
func (f *Fixture) open() *core.Registry {
	f.t.Helper()
	o := core.Options{KV: f.kv, Blobs: f.blobs, Clock: f.Clock, NewID: f.newID, Rand: f.rand,
		CreateOnPush: f.opts.CreateOnPush, Templates: f.opts.Templates, Upstream: f.opts.Upstream,
		Authorizer: f.opts.Authorizer, Log: f.opts.Log}
	if f.Stores == Memory {
		o.KV = keepOpen{f.kv}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if f.opts.Core != nil {
		f.opts.Core(&o)
	}
	r, err := core.Open(o)
	if err != nil {
		f.t.Fatalf("coretest: core.Open: %v", err)
	}
	for i := range f.wired {
		f.wired[i].stop = f.wired[i].start(r)
	}
	return r
}

// close stops the wired features, last wired first, then closes the Registry.
func (f *Fixture) close() error {
	for i := len(f.wired) - 1; i >= 0; i-- {
		if stop := f.wired[i].stop; stop != nil {
			f.wired[i].stop = nil
			stop()
		}
	}
	return f.r.Close()
}

// newID hands out ids of one-request uploads that are UUIDs, and
// deterministic: 00000000-0000-4000-8000-000000000001, …, across restarts.
func (f *Fixture) newID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", f.ids.Add(1))
}

// lockedRand is the registry's randomness (core.Options.Rand): one seeded
// stream per fixture, across restarts, so that upload session ids — made
// of the clock's time and this randomness — are the same on every run.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func newLockedRand() *lockedRand {
	var seed [32]byte
	copy(seed[:], "berth coretest: fixed randomness")
	return &lockedRand{r: rand.NewChaCha8(seed)}
}

func (l *lockedRand) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// Registry is the Registry under test; Restart replaces it.
func (f *Fixture) Registry() *core.Registry { return f.r }

// KV is the metadata store; Restart replaces it on disk.
func (f *Fixture) KV() kv.Store { return f.kv }

// Blobs is the blob store; Restart replaces it on disk.
func (f *Fixture) Blobs() blob.Store { return f.blobs }

// Dir is where the disk stores live: meta.db and blobs/; "" in memory.
func (f *Fixture) Dir() string { return f.dir }

// Restart simulates a process restart: the wired features stop, the Registry
// closes (open upload handles released, pull times written, event queues
// drained, the bolt file closed), and a new Registry is built over the same
// stores — reopened from disk for Disk, the very same ones in Memory — with
// the same Options and clock, and the features wired again.
func (f *Fixture) Restart() {
	f.t.Helper()
	if err := f.close(); err != nil {
		f.t.Fatalf("coretest: closing the registry: %v", err)
	}
	if f.Stores == Disk {
		f.openDisk()
	}
	f.r = f.open()
}

// Wire installs a feature, as berth's server does at startup: start runs now
// with the Registry, and again with the new one after each Restart. The stop
// it returns (nil if none) runs before that Registry closes, at Restart or
// when the test ends, features stopping in reverse order of wiring.
func (f *Fixture) Wire(start func(r *core.Registry) (stop func())) {
	f.wired = append(f.wired, wiring{start: start, stop: start(f.r)})
}

// Subscribe subscribes s to the Registry's events, and to the new
// Registry's after each Restart.
func (f *Fixture) Subscribe(s core.Subscriber) {
	f.Wire(func(r *core.Registry) func() { r.Bus().Subscribe(s); return nil })
}

// Wait returns once every subscriber has handled every event published so
// far, including those their handlers published in turn; it fails the test
// after WaitTimeout. A subscriber whose handler failed waits for its retry
// on the fixture's clock: advance the clock past its Backoff to let it retry.
func (f *Fixture) Wait() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	if err := f.r.Bus().Wait(ctx); err != nil {
		f.t.Fatalf("coretest: subscribers did not catch up within %s (one waiting for a retry on the manual clock?): %v", WaitTimeout, err)
	}
}

// AsRoot is a request context whose caller is the root user of reg's account.
func AsRoot(reg core.RegistryID) context.Context {
	return As(reg, core.RootPrincipal(reg.Account))
}

// As is a request context whose caller is principal (an IAM or STS ARN),
// calling from reg's account and region.
func As(reg core.RegistryID, principal string) context.Context {
	return core.WithCaller(context.Background(), core.Caller{Registry: reg, Principal: principal})
}

// CreateRepository creates a repository; init functions set its settings.
func (f *Fixture) CreateRepository(reg core.RegistryID, name string, init ...func(*core.Repository)) core.Repository {
	f.t.Helper()
	repo, err := f.r.CreateRepository(AsRoot(reg), reg, name, init...)
	if err != nil {
		f.t.Fatalf("coretest: CreateRepository(%s, %s): %v", reg, name, err)
	}
	return repo
}

// PushBlob stores content in repo, as one upload, and returns its descriptor.
func (f *Fixture) PushBlob(reg core.RegistryID, repo string, content []byte, mediaType string) core.Descriptor {
	f.t.Helper()
	d := digest.FromBytes(content)
	got, err := f.r.PutBlob(AsRoot(reg), reg, repo, d, bytes.NewReader(content))
	if err != nil {
		f.t.Fatalf("coretest: PutBlob(%s, %s): %v", reg, repo, err)
	}
	if got.Digest != d || got.Size != int64(len(content)) {
		f.t.Fatalf("coretest: PutBlob(%s, %s) stored %s (%d bytes), want %s (%d bytes)", reg, repo, got.Digest, got.Size, d, len(content))
	}
	return core.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}
}

// Pushed is a manifest as pushed: the document, and the registry's record
// of it right after the push (tags, parents, PushedAt, sizes…).
type Pushed struct {
	Manifest
	Image core.Image
}

// BuildImage pushes the blobs of an image into repo — a config and one
// gzipped tar layer holding seed.txt, both derived from seed only — and
// returns its manifest, not pushed. Equal seeds give equal digests, in any
// repository; different seeds give different ones.
func (f *Fixture) BuildImage(reg core.RegistryID, repo, seed string) Manifest {
	f.t.Helper()
	layer, diffID := layerOf(seed)
	cfg := f.PushBlob(reg, repo, imageConfig(seed, diffID), MediaTypeConfig)
	l := f.PushBlob(reg, repo, layer, MediaTypeLayer)
	return Document{MediaType: core.MediaTypeOCIManifest, Config: &cfg, Layers: []core.Descriptor{l}}.Build()
}

// PushImage pushes an image made from seed (see BuildImage) under tag, or by
// digest (untagged) when tag is "".
func (f *Fixture) PushImage(reg core.RegistryID, repo, tag, seed string) Pushed {
	f.t.Helper()
	return f.PushManifest(reg, repo, tag, f.BuildImage(reg, repo, seed))
}

// PushManifest pushes m under tag, or by digest when tag is "". What m
// names must be in the repository already (unless it is a subject).
func (f *Fixture) PushManifest(reg core.RegistryID, repo, tag string, m Manifest) Pushed {
	f.t.Helper()
	ref := tag
	if ref == "" {
		ref = m.Digest.String()
	}
	if _, err := f.r.PutManifest(AsRoot(reg), reg, repo, core.PutManifestInput{Reference: ref, ContentType: m.MediaType, Body: m.Body}); err != nil {
		f.t.Fatalf("coretest: PutManifest(%s, %s:%s): %v", reg, repo, ref, err)
	}
	return Pushed{Manifest: m, Image: f.Image(reg, repo, m.Digest)}
}

// PushIndex pushes an OCI index of the given manifests (pushed already, in
// the same repository) under tag, or by digest when tag is "".
func (f *Fixture) PushIndex(reg core.RegistryID, repo, tag string, children ...Pushed) Pushed {
	f.t.Helper()
	doc := Document{MediaType: core.MediaTypeOCIIndex, Manifests: []core.Descriptor{}}
	for _, c := range children {
		doc.Manifests = append(doc.Manifests, c.Descriptor())
	}
	return f.PushManifest(reg, repo, tag, doc.Build())
}

// PushReferrer pushes, by digest, an OCI artifact that refers to subject (a
// signature, an SBOM, an attestation…): artifactType, the empty config, and
// one payload blob derived from seed.
func (f *Fixture) PushReferrer(reg core.RegistryID, repo string, subject core.Descriptor, artifactType, seed string) Pushed {
	f.t.Helper()
	empty := f.PushBlob(reg, repo, []byte("{}"), core.MediaTypeOCIEmpty)
	payload := f.PushBlob(reg, repo, []byte("payload of "+seed), MediaTypePayload)
	subject = core.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	doc := Document{MediaType: core.MediaTypeOCIManifest, ArtifactType: artifactType, Config: &empty,
		Layers: []core.Descriptor{payload}, Subject: &subject}
	return f.PushManifest(reg, repo, "", doc.Build())
}

// Pull gets a manifest by tag or digest, as a client's pull does (an
// EventPull, a pull time recorded), and returns its record. The pull time is
// written once the clock has moved 100ms, or when images are next read.
func (f *Fixture) Pull(reg core.RegistryID, repo, ref string) core.Image {
	f.t.Helper()
	img, _, err := f.r.GetManifest(AsRoot(reg), reg, repo, ref, nil)
	if err != nil {
		f.t.Fatalf("coretest: GetManifest(%s, %s:%s): %v", reg, repo, ref, err)
	}
	return img
}

// Images lists the images of repo, in digest order, through Registry.Images.
func (f *Fixture) Images(reg core.RegistryID, repo string) []core.Image {
	f.t.Helper()
	var out []core.Image
	for img, err := range f.r.Images(AsRoot(reg), reg, repo, "") {
		if err != nil {
			f.t.Fatalf("coretest: Images(%s, %s): %v", reg, repo, err)
		}
		out = append(out, img)
	}
	return out
}

// Image returns the registry's current record of the image dg in repo.
func (f *Fixture) Image(reg core.RegistryID, repo string, dg digest.Digest) core.Image {
	f.t.Helper()
	img, err := f.r.ResolveImage(AsRoot(reg), reg, repo, dg, "")
	if err != nil {
		f.t.Fatalf("coretest: ResolveImage(%s, %s@%s): %v", reg, repo, dg, err)
	}
	return img
}

// Recorder collects the events a subscriber heard.
type Recorder struct {
	f   *Fixture
	mu  sync.Mutex
	evs []core.Event
}

// Record subscribes a Recorder (with Subscribe, so it keeps listening after
// Restart) to the given kinds, or to every kind.
func (f *Fixture) Record(kinds ...core.EventKind) *Recorder {
	rec := &Recorder{f: f}
	f.Subscribe(core.Subscriber{Name: "coretest-recorder", Kinds: slices.Clone(kinds), Handle: func(ctx context.Context, e core.Event) error {
		rec.mu.Lock()
		rec.evs = append(rec.evs, e)
		rec.mu.Unlock()
		return nil
	}})
	return rec
}

// Take waits for the subscribers (Wait), then returns the events recorded
// since the last Take, in publish order, and forgets them.
func (rec *Recorder) Take() []core.Event {
	rec.f.t.Helper()
	rec.f.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.evs
	rec.evs = nil
	return out
}
