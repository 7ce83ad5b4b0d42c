// Package verify is berth's signature verification policy (berth's own; ECR has no API for
// it): per repository pattern, trusted keys and certificates and a mode. A before hook on tag
// moves (a push naming tags) and, where a rule asks, on pulls gathers the image's signatures
// from the registry (cosign's legacy .sig tag, sigstore bundle and Notation referrers) and asks
// the verifier plugin; enforce refuses the request before anything changes
// (core.KindSignatureRequired), audit records the decision and lets it through. Decisions are
// cached by (manifest digest, signature manifests, key fingerprints) and dropped when a
// signature is pushed or deleted. A policy Put sets is stored with the registry's data before
// it is in force, and Restore chooses at start between it and the --verify-config file's.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/sdk"
	"github.com/berth-dev/berth/plugins/verifiers/schema"
)

// Registry is what verification reads from core: records, manifests and signature blobs,
// none of which counts as a pull.
type Registry interface {
	ResolveImage(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, tag string) (core.Image, error)
	ManifestBytes(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest) ([]byte, error)
	OpenBlob(ctx context.Context, reg core.RegistryID, repo string, d digest.Digest) (blob.Reader, error)
	Referrers(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, artifactType string) ([]core.Image, error)
}

// Plugin is a loaded verifier plugin (*plugins.Plugin).
type Plugin interface {
	Call(ctx context.Context, input any, mounts ...plugins.Mount) (sdk.Response, error)
}

// Options configure a Service.
type Options struct {
	Registry Registry
	// Verifiers are the verifier plugins by name; the policy's verifier (default
	// DefaultVerifier) must be among them when a rule applies.
	Verifiers map[string]Plugin
	// Store keeps the policy Put sets across restarts; nil keeps it in memory only.
	Store Store
	Clock core.Clock
	Log   *slog.Logger
	// Keep is how many decisions Decisions returns (default 200).
	Keep int
	// CacheSize bounds the cached decisions (default 4096); past it the cache starts over.
	CacheSize int
	// CacheTTL is how long a decision is reused (default 10m): certificates expire and
	// signatures too, so a decision is not kept forever even when nothing is pushed.
	CacheTTL time.Duration
}

// Service is the verification policy in force, its hook and its cache.
type Service struct {
	reg       Registry
	vmu       sync.RWMutex
	verifiers map[string]Plugin
	clock     core.Clock
	log       *slog.Logger
	cacheSize int
	cacheTTL  time.Duration

	policy atomic.Pointer[policy]
	// pmu orders Put, Restore and Reset: the store and the policy in force change together.
	// file is the --verify-config policy Restore was given, fileDigest its configDigest.
	pmu        sync.Mutex
	store      Store
	file       *Config
	fileDigest string

	cmu   sync.Mutex
	cache map[digest.Digest]map[cacheKey]cached

	dmu       sync.Mutex
	decisions []Decision
	next      int
	full      bool
}

type cacheKey struct {
	signatures string // the signature manifests' digests
	keys       string // the rule's key fingerprint
	verifier   string // the plugin that decided
}

type cached struct {
	res     Result
	expires time.Time
}

// Result is one verification of one image.
type Result struct {
	Verified bool
	// Signature and Key name what verified (the first candidate that did).
	Signature string
	Key       string
	// Candidates are the plugin's verdicts, one per signature found.
	Candidates []schema.Candidate
	// Problems are signatures berth found but could not read.
	Problems []string
	Cached   bool
}

// New returns a service with an empty policy: nothing is verified until Restore, Put or
// SetConfig.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = core.SystemClock
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Keep <= 0 {
		o.Keep = 200
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 4096
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 10 * time.Minute
	}
	s := &Service{reg: o.Registry, store: o.Store, verifiers: o.Verifiers, clock: o.Clock, log: o.Log, cacheSize: o.CacheSize, cacheTTL: o.CacheTTL,
		cache: map[digest.Digest]map[cacheKey]cached{}, decisions: make([]Decision, o.Keep)}
	s.policy.Store(&policy{verifier: DefaultVerifier})
	return s
}

// AddVerifier makes a verifier plugin available to policies under name, replacing one of the
// same name (the built-in, for a user's plugin of its name).
func (s *Service) AddVerifier(name string, p Plugin) {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	m := maps.Clone(s.verifiers)
	if m == nil {
		m = map[string]Plugin{}
	}
	m[name] = p
	s.verifiers = m
}

func (s *Service) verifier(name string) Plugin {
	s.vmu.RLock()
	defer s.vmu.RUnlock()
	return s.verifiers[name]
}

// SetConfig validates c and puts it in force, in memory only (Put also stores it); an
// invalid c changes nothing.
func (s *Service) SetConfig(c Config) error {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	p, err := s.prepare(c)
	if err != nil {
		return err
	}
	s.policy.Store(p)
	return nil
}

// Config returns the policy in force.
func (s *Service) Config() Config {
	c := s.policy.Load().config
	if c.Rules == nil {
		c.Rules = []Rule{}
	}
	return c
}

// Attach registers the hook and the cache's invalidation on the registry's bus.
func (s *Service) Attach(bus *core.Bus) {
	bus.Before(s.Before)
	bus.Subscribe(core.Subscriber{Name: "verification-cache", Kinds: []core.EventKind{core.EventPush, core.EventDelete, core.EventTag},
		// An empty cache has nothing to drop.
		Wants:  func(context.Context, core.Event) bool { return s.cached() },
		Handle: func(_ context.Context, e core.Event) error { s.Invalidate(e); return nil }})
}

// Operations a rule verifies.
const (
	OpTag  = "tag"
	OpPull = "pull"
)

// Before is the hook: a user's tag move, and a user's pull where the rule says so, must be of
// a signed image. Features' own writes (replication, the pull-through cache, signing) move no
// tag a user asked for and are not checked here.
func (s *Service) Before(ctx context.Context, e core.Event) error {
	if e.Cause != core.CauseUser {
		return nil
	}
	// Without rules nothing is verified: every pull and push would
	// otherwise pay for the signature-tag patterns below.
	p := s.policy.Load()
	if p == nil || len(p.rules) == 0 {
		return nil
	}
	var op, tag string
	switch e.Kind {
	case core.EventPush:
		// A push by digest moves no tag, and cosign's signature tags store signatures.
		if e.Subject != "" {
			return nil
		}
		for _, t := range e.Tags {
			if !signatureTag.MatchString(t) {
				tag = t
				break
			}
		}
		if tag == "" {
			return nil
		}
		op = OpTag
	case core.EventPull:
		if e.Subject != "" || signatureTag.MatchString(e.Tag) {
			return nil // reading signatures is how a client verifies
		}
		op, tag = OpPull, e.Tag
	default:
		return nil
	}
	r := p.match(e.Repository)
	if r == nil || (op == OpPull && !r.Pull) {
		return nil
	}
	res, err := s.decide(ctx, p, r, e.Registry, e.Repository, e.Digest, op == OpPull)
	d := Decision{Kind: "verification", Time: s.clock.Now(), Principal: e.Actor, Action: "berth:VerifyImageSignature",
		Resource: core.RepositoryARN(e.Registry, e.Repository), Operation: op, Rule: r.Name, Mode: r.Mode,
		Digest: e.Digest.String(), Tag: tag, Verified: res.Verified, Signature: res.Signature, Key: res.Key,
		Cached: res.Cached, Candidates: res.Candidates, Problems: res.Problems}
	if err != nil {
		// A verifier that cannot answer proves nothing: enforce fails closed.
		d.Error = err.Error()
	}
	reason := d.reason()
	d.Reason = reason
	allowed := res.Verified || r.Mode == Audit
	if allowed {
		d.Effect = "Allow"
	} else {
		d.Effect = "Deny"
	}
	s.record(d)
	attrs := []any{"rule", r.Name, "mode", r.Mode, "operation", op, "registry", e.Registry.String(), "repository", e.Repository,
		"digest", e.Digest, "tag", tag, "verified", res.Verified, "cached", res.Cached}
	switch {
	case res.Verified:
		s.log.Debug("signature verified", append(attrs, "signature", res.Signature, "key", res.Key)...)
		return nil
	case r.Mode == Audit:
		s.log.Warn("verification failed; audit mode lets it through", append(attrs, "reason", reason)...)
		return nil
	}
	s.log.Info("verification refused a request", append(attrs, "reason", reason)...)
	what := "pointing tag '" + tag + "' at"
	if op == OpPull {
		what = "pulling"
	}
	return core.Errorf(core.KindSignatureRequired, "signature verification rule '%s' (enforce) refuses %s image '%s' in repository '%s': %s",
		r.Name, what, e.Digest, e.Repository, reason)
}

// decide verifies dg, from the cache when its signatures and the rule's keys are unchanged.
// For a pull, an image an index of the repository lists is also accepted when that index
// verifies: cosign signs the index a multi-platform tag names, and clients pull the
// platform's manifest by digest.
func (s *Service) decide(ctx context.Context, p *policy, r *rule, reg core.RegistryID, repo string, dg digest.Digest, pull bool) (Result, error) {
	res, err := s.verifyImage(ctx, p, r, reg, repo, dg)
	if err != nil || res.Verified || !pull {
		return res, err
	}
	img, ierr := s.reg.ResolveImage(ctx, reg, repo, dg, "")
	if ierr != nil {
		return res, nil
	}
	for _, parent := range img.Parents {
		if pres, perr := s.verifyImage(ctx, p, r, reg, repo, parent); perr == nil && pres.Verified {
			pres.Signature = pres.Signature + " (of index " + parent.String() + ")"
			return pres, nil
		}
	}
	return res, nil
}

// Check verifies dg in repo against the rule that matches repo, as a tag move would, without
// recording a decision; ok is false when no rule matches.
func (s *Service) Check(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest) (res Result, ok bool, err error) {
	p := s.policy.Load()
	r := p.match(repo)
	if r == nil {
		return Result{}, false, nil
	}
	res, err = s.verifyImage(ctx, p, r, reg, repo, dg)
	return res, true, err
}

// verifyImage decides whether dg in repo carries a signature r trusts.
func (s *Service) verifyImage(ctx context.Context, p *policy, r *rule, reg core.RegistryID, repo string, dg digest.Digest) (Result, error) {
	f, err := locate(ctx, s.reg, reg, repo, dg)
	if err != nil {
		return Result{}, err
	}
	key := cacheKey{signatures: f.setKey(), keys: r.fingerprint, verifier: p.verifier}
	now := s.clock.Now()
	s.cmu.Lock()
	c, ok := s.cache[dg][key]
	s.cmu.Unlock()
	if ok && now.Before(c.expires) {
		c.res.Cached = true
		return c.res, nil
	}
	sigs, problems := candidates(ctx, s.reg, reg, repo, f)
	var res Result
	if len(sigs) == 0 {
		// Nothing to ask the plugin about.
		res = Result{Candidates: []schema.Candidate{}, Problems: problems}
	} else {
		res, err = s.call(ctx, p, r, repo, dg, sigs)
		if err != nil {
			return Result{Problems: problems}, err
		}
		res.Problems = problems
	}
	s.cmu.Lock()
	if s.countLocked() >= s.cacheSize {
		s.cache = map[digest.Digest]map[cacheKey]cached{}
	}
	if s.cache[dg] == nil {
		s.cache[dg] = map[cacheKey]cached{}
	}
	s.cache[dg][key] = cached{res: res, expires: now.Add(s.cacheTTL)}
	s.cmu.Unlock()
	return res, nil
}

func (s *Service) countLocked() int {
	n := 0
	for _, m := range s.cache {
		n += len(m)
	}
	return n
}

func (s *Service) call(ctx context.Context, p *policy, r *rule, repo string, dg digest.Digest, sigs []schema.Signature) (Result, error) {
	plugin := s.verifier(p.verifier)
	if plugin == nil {
		return Result{}, fmt.Errorf("verifier plugin %q is not loaded", p.verifier)
	}
	in := schema.Input{Digest: dg.String(), Repository: repo, Signatures: sigs, Time: s.clock.Now().UTC().Format(time.RFC3339Nano)}
	for _, k := range r.keys {
		in.Keys = append(in.Keys, schema.Key{ID: k.name, PEM: k.pem})
	}
	resp, err := plugin.Call(ctx, in)
	if err != nil {
		return Result{}, fmt.Errorf("verifier plugin %s: %w", p.verifier, err)
	}
	var out schema.Output
	if err := resp.Decode(&out); err != nil {
		return Result{}, fmt.Errorf("verifier plugin %s: %w", p.verifier, err)
	}
	if out.Verified && out.Signature == "" {
		return Result{}, errors.New("verifier plugin " + p.verifier + " said verified without naming a signature")
	}
	return Result{Verified: out.Verified, Signature: out.Signature, Key: out.Key, Candidates: out.Candidates}, nil
}

// cached says whether any decision is cached (none: an event has nothing to drop).
func (s *Service) cached() bool {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return len(s.cache) > 0
}

// Invalidate drops the cached decisions a signature's arrival or removal may change: the
// subject of a referrer, the image a legacy .sig tag names, and a deleted manifest's own.
func (s *Service) Invalidate(e core.Event) {
	var drop []digest.Digest
	if e.Subject != "" {
		drop = append(drop, e.Subject)
	}
	for _, t := range append([]string{e.Tag}, e.Tags...) {
		if signatureTag.MatchString(t) && strings.HasSuffix(t, ".sig") {
			drop = append(drop, digest.Digest("sha256:"+strings.TrimSuffix(strings.TrimPrefix(t, "sha256-"), ".sig")))
		}
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for _, d := range drop {
		delete(s.cache, d)
	}
	if e.Kind == core.EventDelete && e.Digest != "" {
		// A deleted signature manifest's subject is not in the event; drop every decision that
		// counted it.
		delete(s.cache, e.Digest)
		for dg, m := range s.cache {
			for k := range m {
				if strings.Contains(k.signatures, string(e.Digest)+",") {
					delete(m, k)
				}
			}
			if len(m) == 0 {
				delete(s.cache, dg)
			}
		}
	}
}

// Decision is one verification as GET /_berth/decisions reports it, beside the authorizer's
// decisions and in their shape (time, principal, action, resource, effect, reason), with the
// verification's own details.
type Decision struct {
	Kind       string             `json:"kind"` // "verification"
	Time       time.Time          `json:"time"`
	Principal  string             `json:"principal"`
	Action     string             `json:"action"`
	Resource   string             `json:"resource"`
	Effect     string             `json:"effect"` // Allow | Deny
	Reason     string             `json:"reason,omitempty"`
	Operation  string             `json:"operation"` // tag | pull
	Rule       string             `json:"rule"`
	Mode       Mode               `json:"mode"`
	Digest     string             `json:"digest"`
	Tag        string             `json:"tag,omitempty"`
	Verified   bool               `json:"verified"`
	Signature  string             `json:"signature,omitempty"`
	Key        string             `json:"key,omitempty"`
	Cached     bool               `json:"cached"`
	Candidates []schema.Candidate `json:"candidates"`
	Problems   []string           `json:"problems,omitempty"`
	Error      string             `json:"error,omitempty"`
}

// reason says in one line why the decision is what it is.
func (d *Decision) reason() string {
	switch {
	case d.Error != "":
		return "the verifier failed: " + d.Error
	case d.Verified:
		return fmt.Sprintf("signature %s verified with key %s", d.Signature, d.Key)
	case len(d.Candidates) == 0 && len(d.Problems) == 0:
		return "no signature found (cosign .sig tag, sigstore bundle or Notation referrer)"
	}
	var parts []string
	for _, c := range d.Candidates {
		parts = append(parts, fmt.Sprintf("%s signature %s: %s", c.Format, c.ID, strings.Join(c.Reasons, "; ")))
	}
	parts = append(parts, d.Problems...)
	return "no signature verified by a trusted key (" + strings.Join(parts, " | ") + ")"
}

func (s *Service) record(d Decision) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.decisions[s.next] = d
	s.next = (s.next + 1) % len(s.decisions)
	if s.next == 0 {
		s.full = true
	}
}

// Decisions returns the decisions kept, oldest first.
func (s *Service) Decisions() []Decision {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	var out []Decision
	if s.full {
		out = append(out, s.decisions[s.next:]...)
	}
	return append(out, s.decisions[:s.next]...)
}
