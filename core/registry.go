package core

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"golang.org/x/sync/singleflight"
)

// Options configure a Registry. KV and Blobs are required.
type Options struct {
	KV           kv.Store
	Blobs        blob.Store
	Bus          *Bus           // nil: a private bus on Clock
	Clock        Clock          // nil: SystemClock
	NewID        func() string  // ids of one-request uploads in the blob store; nil: 128 random bits in hex
	Rand         io.Reader      // randomness of upload session ids (their secret, their nonces); nil: crypto/rand
	CreateOnPush bool           // shortcut for Templates: CreateOnPushTemplates{Enabled: true}
	Templates    TemplateSource // settings of repositories the registry creates; nil: CreateOnPushTemplates
	Upstream     Upstream       // fetch-on-miss for a pull-through cache; nil: none
	Authorizer   Authorizer     // nil: AccountBoundary
	MaxUploads   int            // open upload sessions per registry (account × region); 0: DefaultMaxUploads, < 0: no bound
	Log          *slog.Logger
	// InlineBlobs > 0 keeps blobs of at most that many bytes in KV, written
	// by the commit that links them (blob.Inline): for a durable KV, where a
	// file of its own costs a small blob two syncs more. 0: every blob in Blobs.
	InlineBlobs int64
	// Ephemeral says that the stores live and die with this process (berth
	// --memory): no later process opens them. Upload sessions are then known
	// by this process alone (uploadids.go: ephemeralIDs): their ids are not
	// sealed for a later process to check, and how each ended is not
	// written down for one.
	Ephemeral bool
}

// DefaultInlineBlobs is the InlineBlobs berth serves with on disk: image
// configs, signatures, attestations and tiny layers fit; bbolt keeps a value
// this size in a few pages.
const DefaultInlineBlobs = 64 << 10

// Registry is the domain service both edges call. It is safe for concurrent use.
type Registry struct {
	kv        kv.Store
	blobs     blob.Store
	bus       *Bus
	clock     Clock
	newID     func() string
	templates TemplateSource
	upstream  Upstream
	fetches   singleflight.Group // concurrent misses of one reference fetch once
	// blobFetches are the blobs being fetched from the Upstream, by
	// registry, repository and digest (guarded by mu).
	blobFetches map[string]*blobFetch
	authz       Authorizer
	// authzContext is what an authorizer is given of each resource, decoded
	// once per stored version.
	authzContext authzContext
	// registryData remembers RegistryData's reads (registrydata.go).
	registryData readCache[registryDataID, storedData]
	log          *slog.Logger
	// maxUploads bounds each registry's open upload sessions (0: none).
	maxUploads int
	// inlineMax: blobs up to this size are stored in kv (Options.InlineBlobs).
	inlineMax int64

	rand   io.Reader  // Options.Rand
	randMu sync.Mutex // rand need not be safe for concurrent use

	mu       sync.Mutex
	uploads  map[string]*openUpload // upload sessions this process has seen: their locks and activity
	inFlight map[string]bool        // uploads the janitor must not take for leftovers: one-request uploads being received
	// unrecorded counts, per registry, the sessions of uploads that have no
	// record in the store (uploadids.go): they count against MaxUploads too.
	unrecorded map[RegistryID]int
	idKey      []byte   // the secret of upload ids, once read (uploadKeyLocked)
	idMACer    *idMACer // MACs under idKey
	nonces     idNonces // the nonces this process may give upload ids (uploadids.go)
	// ephemeral: Options.Ephemeral; its sessions' ids come from ephemeralIDs
	// (under mu).
	ephemeral      bool
	ephemeralIDs   ephemeralIDs
	ephemeralStart ephemeralStart

	// gcMu orders blob removal against commits: a commit-and-link holds it
	// shared, removal of an unreferenced blob holds it exclusively and re-checks.
	gcMu sync.RWMutex

	pulls pullTimes

	// manifests remembers decoded manifest reads (manifestcache.go).
	manifests manifestCache

	// settings remembers Settings' reads (settings.go).
	settings readCache[RegistryID, RegistrySettings]
}

// New builds a Registry over the given stores.
func New(o Options) *Registry {
	r := &Registry{kv: o.KV, blobs: o.Blobs, bus: o.Bus, clock: o.Clock, newID: o.NewID,
		templates: o.Templates, upstream: o.Upstream, authz: o.Authorizer, log: o.Log, uploads: map[string]*openUpload{}, inFlight: map[string]bool{},
		unrecorded: map[RegistryID]int{}, rand: o.Rand}
	if o.InlineBlobs > 0 {
		r.blobs = blob.NewInline(o.Blobs, o.KV, bInlineBlobs, o.InlineBlobs)
		r.inlineMax = o.InlineBlobs
	}
	if r.templates == nil {
		r.templates = CreateOnPushTemplates{Enabled: o.CreateOnPush}
	}
	if r.authz == nil {
		r.authz = AccountBoundary{}
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.clock == nil {
		r.clock = SystemClock
	}
	if r.bus == nil {
		r.bus = NewBus(BusOptions{Log: r.log, Clock: r.clock})
	}
	if r.newID == nil {
		r.newID = NewUUID
	}
	if r.rand == nil {
		r.rand = rand.Reader
	}
	// A store's counter of nonces starts from a random one (uploadids.go).
	var seed [4]byte
	io.ReadFull(r.rand, seed[:])
	r.nonces.seed = binary.BigEndian.Uint32(seed[:])
	if o.Ephemeral {
		r.ephemeral = true
		r.ephemeralIDs.init(r.rand)
		r.ephemeralStart = ephemeralStart{r: r}
		r.ephemeralStart.fn = r.ephemeralStart.read
	}
	switch {
	case o.MaxUploads == 0:
		r.maxUploads = DefaultMaxUploads
	case o.MaxUploads > 0:
		r.maxUploads = o.MaxUploads
	}
	return r
}

// DefaultMaxUploads is how many upload sessions a registry may have open
// unless Options say otherwise: far more than any client pushes at once,
// few enough that a client opening sessions in a loop meets a clear refusal.
const DefaultMaxUploads = 1000

// NewUUID returns a random (version 4) UUID: the form of ECR's upload and
// request ids.
func NewUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	EncodeUUID(&s, &b)
	return string(s[:])
}

// EncodeUUID writes b in a UUID's text form, 8-4-4-4-12 hex digits, in
// place (every ECR answer carries one, as its request id).
func EncodeUUID(s *[36]byte, b *[16]byte) {
	hex.Encode(s[0:8], b[0:4])
	hex.Encode(s[9:13], b[4:6])
	hex.Encode(s[14:18], b[6:8])
	hex.Encode(s[19:23], b[8:10])
	hex.Encode(s[24:], b[10:])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
}

// Bus returns the event bus, for subscribers.
func (r *Registry) Bus() *Bus { return r.bus }

// Clock returns the registry's clock.
func (r *Registry) Clock() Clock { return r.clock }

// Close drains the event queues (subscribers may still write) and closes the
// stores. Upload sessions hold nothing open between requests: their bytes
// stay resumable.
func (r *Registry) Close() error {
	busErr := r.bus.Close()
	r.closePulls()
	return errors.Join(busErr, r.kv.Close())
}

// event fills in the fields every event carries.
func (r *Registry) event(ctx context.Context, k EventKind, reg RegistryID, repo string) Event {
	return Event{Kind: k, Cause: CauseFrom(ctx), Registry: reg, Repository: repo, Actor: CallerFrom(ctx).Principal, Time: r.clock.Now()}
}

func putJSON(tx kv.Tx, bucket string, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, key, b)
}

func getJSON(tx kv.Tx, bucket string, key []byte, into any) (bool, error) {
	b := tx.Get(bucket, key)
	if b == nil {
		return false, nil
	}
	return true, json.Unmarshal(b, into)
}
