package signing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

// Core is what signing needs of core.Registry: per-registry data for the
// configuration, per-image data for the statuses, the image a push stored,
// the writes that store a signature, and the authorizer that decides
// whether the pusher may sign with a profile.
type Core interface {
	RegistryData(ctx context.Context, reg core.RegistryID, name string) ([]byte, bool, error)
	UpdateRegistryData(ctx context.Context, reg core.RegistryID, name string, change func(old []byte) ([]byte, error)) error
	ImageData(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, name string) ([]byte, bool, error)
	UpdateImageData(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, name string, change func(old []byte) ([]byte, error)) error
	ResolveImage(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, tag string) (core.Image, error)
	PutBlob(ctx context.Context, reg core.RegistryID, repo string, expected digest.Digest, body io.Reader) (core.Descriptor, error)
	PutManifest(ctx context.Context, reg core.RegistryID, repo string, in core.PutManifestInput) (core.Image, error)
	Authorize(ctx context.Context, req core.AuthRequest) error
}

// Names of the data signing keeps in core.
const (
	configName = "signing-configuration" // per registry
	statusName = "signing"               // per image
)

// Signing statuses (the model's SigningStatus).
const (
	InProgress = "IN_PROGRESS"
	Complete   = "COMPLETE"
	Failed     = "FAILED"
)

// Failure codes of a FAILED status. AWS documents no values for
// ImageSigningStatus.failureCode; these are berth's.
const (
	// FailureAccessDenied: the principal that pushed the image may not
	// signer:SignPayload with the profile ("the IAM principal pushing images
	// must have permission to sign payloads with the AWS Signer signing
	// profile": PutSigningConfiguration's documentation).
	FailureAccessDenied = "ACCESS_DENIED"
	// FailureInternal: anything else (logged); the push is signed again.
	FailureInternal = "INTERNAL_ERROR"
)

// ErrConfigurationNotFound: the registry has no signing configuration.
var ErrConfigurationNotFound = errors.New("signing configuration not found")

// Status is an image's signing with one profile.
type Status struct {
	SigningProfileArn string `json:"signingProfileArn"`
	Status            string `json:"status"`
	FailureCode       string `json:"failureCode,omitempty"`
	FailureReason     string `json:"failureReason,omitempty"`
}

// Service holds the registries' signing configurations and signs pushes
// once Start wires it to the bus.
type Service struct {
	core  Core
	keys  *Keys
	clock core.Clock
	log   *slog.Logger
}

// New returns a Service over c signing with keys at clock's time.
func New(c Core, keys *Keys, clock core.Clock, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	if clock == nil {
		clock = core.SystemClock
	}
	return &Service{core: c, keys: keys, clock: clock, log: log}
}

// Keys are the CA and profile keys the service signs with.
func (s *Service) Keys() *Keys { return s.keys }

// Put validates cfg and makes it reg's signing configuration. The keys of
// its profiles are made now, so that their certificates can be fetched
// before anything is signed.
func (s *Service) Put(ctx context.Context, reg core.RegistryID, cfg Configuration) (Configuration, error) {
	if err := cfg.Validate(); err != nil {
		return Configuration{}, err
	}
	if cfg.Rules == nil {
		cfg.Rules = []Rule{}
	}
	for _, r := range cfg.Rules {
		if _, err := s.keys.Profile(r.SigningProfileArn); err != nil {
			return Configuration{}, err
		}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return Configuration{}, err
	}
	err = s.core.UpdateRegistryData(ctx, reg, configName, func([]byte) ([]byte, error) { return b, nil })
	return cfg, err
}

// Get returns reg's signing configuration, or ErrConfigurationNotFound.
func (s *Service) Get(ctx context.Context, reg core.RegistryID) (Configuration, error) {
	b, ok, err := s.core.RegistryData(ctx, reg, configName)
	if err != nil {
		return Configuration{}, err
	}
	if !ok {
		return Configuration{}, ErrConfigurationNotFound
	}
	cfg := Configuration{Rules: []Rule{}}
	err = json.Unmarshal(b, &cfg)
	return cfg, err
}

// Delete removes reg's signing configuration and returns it, or
// ErrConfigurationNotFound. Signatures made already stay ("Deleting the
// signing configuration does not affect existing image signatures": the
// API reference).
func (s *Service) Delete(ctx context.Context, reg core.RegistryID) (Configuration, error) {
	var cfg Configuration
	err := s.core.UpdateRegistryData(ctx, reg, configName, func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, ErrConfigurationNotFound
		}
		cfg = Configuration{Rules: []Rule{}}
		if err := json.Unmarshal(old, &cfg); err != nil {
			return nil, err
		}
		return nil, nil
	})
	return cfg, err
}

// Statuses returns an image's signing status per profile, in the order the
// profiles were first used, with the image (found by digest and/or tag);
// none if it was never signed. An image that is not there is core's
// KindManifestNotFound, a repository KindRepositoryNotFound.
func (s *Service) Statuses(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, tag string) (core.Image, []Status, error) {
	img, err := s.core.ResolveImage(ctx, reg, repo, dg, tag)
	if err != nil {
		return core.Image{}, nil, err
	}
	b, ok, err := s.core.ImageData(ctx, reg, repo, img.Digest, statusName)
	if err != nil || !ok {
		return img, []Status{}, err
	}
	var st []Status
	err = json.Unmarshal(b, &st)
	return img, st, err
}

// Start subscribes signing to bus. Two workers: pushes are independent of
// each other, and a status is merged per profile, so order does not matter.
func (s *Service) Start(bus *core.Bus) {
	bus.Subscribe(core.Subscriber{Name: "signing", Kinds: []core.EventKind{core.EventPush}, Wants: s.wants, Handle: s.Sign, Workers: 2})
}

// wants says whether a push may be signed: a user's push of an image into a
// repository some rule signs (or the configuration cannot be read: Sign
// decides).
func (s *Service) wants(ctx context.Context, e core.Event) bool {
	if e.Kind != core.EventPush || e.Cause != core.CauseUser {
		return false
	}
	// The configuration first: most registries have none, and reading it
	// (cached by core) costs less than matching every tag against cosignTag.
	cfg, err := s.Get(ctx, e.Registry)
	if errors.Is(err, ErrConfigurationNotFound) || (err == nil && len(cfg.ProfilesFor(e.Repository)) == 0) {
		return false
	}
	return signable(e)
}

// Start builds a Service over reg, with keys, and subscribes it to reg's bus.
func Start(reg *core.Registry, keys *Keys, log *slog.Logger) *Service {
	s := New(reg, keys, reg.Clock(), log)
	s.Start(reg.Bus())
	return s
}

// cosignTag is the tag cosign stores a signature, attestation or SBOM under
// (sha256-<hex>.sig and the like): a signature about another image, never
// an image to sign.
var cosignTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}\.(sig|att|sbom)$`)

// signable reports whether a push is an image managed signing signs: one a
// user pushed (a signature berth stored, a replica, a cached image are not
// — signing never signs a signature), and an image or index rather than an
// artifact about another image (a referrer: a signature, SBOM or
// attestation, which has a subject; or cosign's tagged signatures). AWS
// does not document which pushes it signs beyond "images as they are
// pushed"; an index is signed as the image its tag names, and its children,
// pushed by digest before it, are signed as the images they are.
func signable(e core.Event) bool {
	if e.Kind != core.EventPush || e.Cause != core.CauseUser {
		return false
	}
	if e.Subject != "" || e.ArtifactType == ArtifactType {
		return false
	}
	return !cosignTag.MatchString(e.Tag) && !slices.ContainsFunc(e.Tags, cosignTag.MatchString)
}

// Sign signs the image a user pushed with the profile of every rule that
// matches its repository, storing each Notation signature as a referrer of
// the image and recording each profile's status. It returns an error only
// for an unforeseen failure, so that the bus tries the push again.
func (s *Service) Sign(ctx context.Context, e core.Event) error {
	if !signable(e) {
		return nil
	}
	cfg, err := s.Get(ctx, e.Registry)
	if errors.Is(err, ErrConfigurationNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	profiles := cfg.ProfilesFor(e.Repository)
	if len(profiles) == 0 {
		return nil
	}
	img, err := s.core.ResolveImage(ctx, e.Registry, e.Repository, e.Digest, "")
	if gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// A profile that signed the image already (the same image pushed
	// again, with another tag) does not sign it twice.
	_, done, err := s.Statuses(ctx, e.Registry, e.Repository, img.Digest, "")
	if gone(err) {
		return nil
	} else if err != nil {
		return err
	}
	var todo []Status
	for _, p := range profiles {
		if !slices.ContainsFunc(done, func(st Status) bool { return st.SigningProfileArn == p && st.Status == Complete }) {
			todo = append(todo, Status{SigningProfileArn: p, Status: InProgress})
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if err := s.record(ctx, e, todo); gone(err) {
		return nil
	} else if err != nil {
		return err
	}
	target := descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size}
	var internal []error
	for i := range todo {
		var err error
		todo[i], err = s.signWith(ctx, e, target, todo[i].SigningProfileArn)
		internal = append(internal, err)
	}
	if err := s.record(ctx, e, todo); err != nil && !gone(err) {
		return err
	}
	return errors.Join(internal...)
}

// signWith signs target with one profile and stores the signature; err is
// set only for an unforeseen failure.
func (s *Service) signWith(ctx context.Context, e core.Event, target descriptor, arn string) (Status, error) {
	st := Status{SigningProfileArn: arn, Status: Complete}
	fail := func(code string, err error) (Status, error) {
		st.Status, st.FailureCode, st.FailureReason = Failed, code, err.Error()
		s.log.Warn("signing failed", "registry", e.Registry.String(), "repository", e.Repository, "digest", e.Digest,
			"profile", arn, "code", code, "err", err)
		if code == FailureInternal {
			return st, err
		}
		return st, nil
	}
	if err := s.allowed(ctx, e, arn); err != nil {
		if core.IsKind(err, core.KindDenied) || core.IsKind(err, core.KindUnauthorized) {
			return fail(FailureAccessDenied, err)
		}
		return fail(FailureInternal, err)
	}
	if err := s.store(ctx, e, target, arn); err != nil {
		if gone(err) {
			return st, nil // the image went while it was signed: its status goes with it
		}
		return fail(FailureInternal, err)
	}
	return st, nil
}

// allowed asks the authorizer whether the principal that pushed may sign
// with the profile. Work the registry did itself names no principal.
func (s *Service) allowed(ctx context.Context, e core.Event, arn string) error {
	if e.Actor == "" {
		return nil
	}
	region, account, _, _ := ProfileOf(arn)
	ctx = core.WithCaller(ctx, core.Caller{Registry: e.Registry, Principal: e.Actor})
	return s.core.Authorize(ctx, core.AuthRequest{Action: "signer:SignPayload",
		Resources: []core.Resource{{ARN: arn, Registry: core.RegistryID{Account: account, Region: region}}}})
}

// store makes the Notation signature of target and pushes it, with cause
// signing, as a referrer of the image: the envelope, the empty config, then
// the manifest by digest.
func (s *Service) store(ctx context.Context, e core.Event, target descriptor, arn string) error {
	p, err := s.keys.Profile(arn)
	if err != nil {
		return err
	}
	at := s.clock.Now()
	env, err := envelope(p, target, at)
	if err != nil {
		return fmt.Errorf("signing %s: %w", target.Digest, err)
	}
	body, err := manifestFor(p, target, env, at)
	if err != nil {
		return err
	}
	ctx = core.WithCause(ctx, core.CauseSigning)
	for _, blob := range [][]byte{env, []byte(emptyConfig)} {
		if _, err := s.core.PutBlob(ctx, e.Registry, e.Repository, digest.FromBytes(blob), bytes.NewReader(blob)); err != nil {
			return err
		}
	}
	_, err = s.core.PutManifest(ctx, e.Registry, e.Repository, core.PutManifestInput{
		Reference: digest.FromBytes(body).String(), ContentType: core.MediaTypeOCIManifest, Body: body})
	return err
}

// record sets the statuses of the given profiles for the pushed image,
// keeping those of other profiles.
func (s *Service) record(ctx context.Context, e core.Event, statuses []Status) error {
	return s.core.UpdateImageData(ctx, e.Registry, e.Repository, e.Digest, statusName, func(old []byte) ([]byte, error) {
		var all []Status
		if old != nil {
			if err := json.Unmarshal(old, &all); err != nil {
				all = nil // unreadable: what this push says replaces it
			}
		}
		for _, st := range statuses {
			i := slices.IndexFunc(all, func(o Status) bool { return o.SigningProfileArn == st.SigningProfileArn })
			if i >= 0 {
				all[i] = st
			} else {
				all = append(all, st)
			}
		}
		return json.Marshal(all)
	})
}

// gone reports an error that means the image or its repository is no
// longer there.
func gone(err error) bool {
	return core.IsKind(err, core.KindManifestNotFound) || core.IsKind(err, core.KindRepositoryNotFound)
}
