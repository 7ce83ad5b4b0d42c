package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Shared fixtures for the core tests. Every behavioural test runs against both
// store configurations through eachStore.

var (
	regA  = RegistryID{Account: "111111111111", Region: "us-east-1"}
	regA2 = RegistryID{Account: "111111111111", Region: "eu-west-1"} // same account, other region
	regB  = RegistryID{Account: "222222222222", Region: "us-east-1"}
	bg    = context.Background()
)

func newFakeClock() *ManualClock {
	return NewManualClock(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
}

// seqIDs hands out deterministic, distinct upload ids.
type seqIDs struct{ n atomic.Int64 }

func (s *seqIDs) next() string { return fmt.Sprintf("upload-%04d", s.n.Add(1)) }

// seededRand is a fixture's randomness (Options.Rand): a fixed stream, so
// that upload session ids are the same on every run.
type seededRand struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func newSeededRand() *seededRand {
	var seed [32]byte
	copy(seed[:], "berth core tests: fixed ids")
	return &seededRand{r: rand.NewChaCha8(seed)}
}

func (s *seededRand) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

// storeConfig opens a pair of stores, and reopens the same ones after a restart.
type storeConfig struct {
	name string
	// open returns fresh stores and a function that reopens them after the
	// first pair was closed (or, for memory, returns the very same stores).
	open func(t *testing.T) (kv.Store, blob.Store, func() (kv.Store, blob.Store))
	disk bool
	// ephemeral: the registry is told its stores die with it
	// (Options.Ephemeral, as berth --memory serves); it cannot restart.
	ephemeral bool
}

var storeConfigs = []storeConfig{
	{name: "mem", open: func(t *testing.T) (kv.Store, blob.Store, func() (kv.Store, blob.Store)) {
		m, b := kv.NewMem(), blob.NewMem()
		return m, b, func() (kv.Store, blob.Store) { return m, b }
	}},
	{name: "bolt+fs", disk: true, open: func(t *testing.T) (kv.Store, blob.Store, func() (kv.Store, blob.Store)) {
		dir := t.TempDir()
		open := func() (kv.Store, blob.Store) {
			m, err := kv.OpenBolt(filepath.Join(dir, "meta.db"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := blob.NewFS(filepath.Join(dir, "data"))
			if err != nil {
				t.Fatal(err)
			}
			return m, b
		}
		m, b := open()
		return m, b, open
	}},
	{name: "ephemeral", ephemeral: true, open: func(t *testing.T) (kv.Store, blob.Store, func() (kv.Store, blob.Store)) {
		return kv.NewMem(), blob.NewMem(), nil
	}},
}

// fixture is one Registry under test with its stores, clock and ids.
type fixture struct {
	t            *testing.T
	cfg          storeConfig
	r            *Registry
	kv           kv.Store
	blobs        blob.Store
	clock        *ManualClock
	ids          *seqIDs
	rand         *seededRand
	createOnPush bool
	maxUploads   int // Options.MaxUploads of the next build
	reopen       func() (kv.Store, blob.Store)
}

// eachStore runs fn once per store configuration.
func eachStore(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, c := range storeConfigs {
		t.Run(c.name, func(t *testing.T) { fn(t, newFixture(t, c, false)) })
	}
}

// eachStoreCreateOnPush is eachStore with create-on-push enabled.
func eachStoreCreateOnPush(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, c := range storeConfigs {
		t.Run(c.name, func(t *testing.T) { fn(t, newFixture(t, c, true)) })
	}
}

func newFixture(t *testing.T, c storeConfig, createOnPush bool) *fixture {
	m, b, reopen := c.open(t)
	f := &fixture{t: t, cfg: c, kv: m, blobs: b, clock: newFakeClock(), ids: &seqIDs{}, rand: newSeededRand(), createOnPush: createOnPush, reopen: reopen}
	f.r = f.build()
	t.Cleanup(func() { f.r.Close() })
	return f
}

func (f *fixture) build() *Registry {
	if f.rand == nil {
		f.rand = newSeededRand()
	}
	o := Options{KV: f.kv, Blobs: f.blobs, Clock: f.clock, NewID: f.ids.next, Rand: f.rand, CreateOnPush: f.createOnPush, MaxUploads: f.maxUploads,
		Ephemeral: f.cfg.ephemeral}
	if f.cfg.disk {
		o.InlineBlobs = DefaultInlineBlobs // as berth serve runs on disk
	}
	return New(o)
}

// restart simulates a process restart: the old Registry goes away and a new
// one is built over the same stores (reopened from disk for bolt+fs).
func (f *fixture) restart() {
	f.t.Helper()
	f.restartWith(nil)
}

// restartWith is restart with the reopened blob store passed through wrap
// (nil: as it is), e.g. to make one of its operations slow.
func (f *fixture) restartWith(wrap func(blob.Store) blob.Store) {
	f.t.Helper()
	if f.cfg.ephemeral {
		f.t.Skip("an ephemeral registry's state ends with its process: there is no restart")
	}
	if f.cfg.disk {
		if err := f.r.Close(); err != nil {
			f.t.Fatal(err)
		}
	} else {
		// Closing would close the shared memory store; drop the old registry's bus only.
		f.r.Bus().Close()
	}
	f.kv, f.blobs = f.reopen()
	if wrap != nil {
		f.blobs = wrap(f.blobs)
	}
	f.r = f.build()
}

// skipIfEphemeral skips a test of what an upload session leaves in the
// store for a later process (sealed ids, ended runs, tombstones): an
// ephemeral registry leaves none (Options.Ephemeral).
func (f *fixture) skipIfEphemeral() {
	f.t.Helper()
	if f.cfg.ephemeral {
		f.t.Skip("an ephemeral registry writes no upload session bookkeeping for a later process")
	}
}

func (f *fixture) createRepo(reg RegistryID, name string) {
	f.t.Helper()
	if _, err := f.r.CreateRepository(bg, reg, name); err != nil {
		f.t.Fatalf("CreateRepository(%s, %s): %v", reg, name, err)
	}
}

// putBlob stores content in repo and returns its descriptor.
func (f *fixture) putBlob(reg RegistryID, repo string, content []byte, mediaType string) Descriptor {
	f.t.Helper()
	d := digest.FromBytes(content)
	got, err := f.r.PutBlob(bg, reg, repo, d, bytes.NewReader(content))
	if err != nil {
		f.t.Fatalf("PutBlob(%s): %v", repo, err)
	}
	if got.Digest != d || got.Size != int64(len(content)) {
		f.t.Fatalf("PutBlob returned %+v", got)
	}
	return Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}
}

// blobBytesStored reports whether the blob store holds d at all.
func (f *fixture) blobBytesStored(d digest.Digest) bool {
	f.t.Helper()
	_, err := f.r.blobs.Stat(d)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		f.t.Fatal(err)
	}
	return err == nil
}

// manifestDoc builds manifest and index documents.
type manifestDoc struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        *Descriptor       `json:"config,omitempty"`
	Layers        []Descriptor      `json:"layers,omitempty"`
	Manifests     []Descriptor      `json:"manifests,omitempty"`
	Subject       *Descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

func (m manifestDoc) bytes(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	mtConfig = "application/vnd.oci.image.config.v1+json"
	mtLayer  = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// image is a pushed-blobs-ready image manifest.
type image struct {
	config Descriptor
	layers []Descriptor
	body   []byte
	digest digest.Digest
}

// newImage pushes a config and one layer (distinct per seed) into repo and
// returns a manifest body naming them; the manifest itself is not pushed.
func (f *fixture) newImage(reg RegistryID, repo, seed string) image {
	f.t.Helper()
	cfg := f.putBlob(reg, repo, []byte(`{"seed":"`+seed+`"}`), mtConfig)
	layer := f.putBlob(reg, repo, []byte("layer bytes of "+seed), mtLayer)
	body := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &cfg, Layers: []Descriptor{layer}}.bytes(f.t)
	return image{config: cfg, layers: []Descriptor{layer}, body: body, digest: digest.FromBytes(body)}
}

// pushImage pushes a fresh image's blobs and manifest under ref.
func (f *fixture) pushImage(reg RegistryID, repo, ref, seed string) (image, Image) {
	f.t.Helper()
	img := f.newImage(reg, repo, seed)
	m, err := f.r.PutManifest(bg, reg, repo, PutManifestInput{Reference: ref, ContentType: MediaTypeOCIManifest, Body: img.body})
	if err != nil {
		f.t.Fatalf("PutManifest(%s:%s): %v", repo, ref, err)
	}
	return img, m
}

// asRoot is a request context whose caller is the root of reg's account.
func asRoot(reg RegistryID) context.Context {
	return WithCaller(bg, Caller{Registry: reg, Principal: RootPrincipal(reg.Account)})
}

// wantKind fails unless err is a domain error of kind k.
func wantKind(t *testing.T, err error, k Kind, what string) {
	t.Helper()
	if !IsKind(err, k) {
		t.Fatalf("%s: got error %v (kind %q), want kind %q", what, err, KindOf(err), k)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// recorder collects what a subscriber hears.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (f *fixture) record() *recorder {
	rec := &recorder{}
	f.r.Bus().Subscribe(Subscriber{Name: "recorder", Handle: func(ctx context.Context, e Event) error {
		rec.mu.Lock()
		rec.evs = append(rec.evs, e)
		rec.mu.Unlock()
		return nil
	}})
	return rec
}

// take waits until every event published so far was delivered and returns
// (and forgets) them.
func (rec *recorder) take(f *fixture) []Event {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if err := f.r.Bus().Wait(ctx); err != nil {
		f.t.Fatal("subscribers did not catch up:", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.evs
	rec.evs = nil
	return out
}
