package replication

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

// Core is what replication needs of core.Registry: per-registry data for
// the configuration, per-image data for the statuses, the image a push
// stored, the trusted copy, and the authorizer for other accounts.
type Core interface {
	RegistryData(ctx context.Context, reg core.RegistryID, name string) ([]byte, bool, error)
	UpdateRegistryData(ctx context.Context, reg core.RegistryID, name string, change func(old []byte) ([]byte, error)) error
	ImageData(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, name string) ([]byte, bool, error)
	UpdateImageData(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, name string, change func(old []byte) ([]byte, error)) error
	ResolveImage(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, tag string) (core.Image, error)
	HasRepository(ctx context.Context, reg core.RegistryID, name string) error
	CopyImage(ctx context.Context, in core.CopyImageInput) (core.Image, error)
	Authorize(ctx context.Context, req core.AuthRequest) error
}

// Names of the data replication keeps in core.
const (
	configName = "replication-configuration" // per registry
	statusName = "replication"               // per source image
)

// Replication statuses (the model's ReplicationStatus).
const (
	InProgress = "IN_PROGRESS"
	Complete   = "COMPLETE"
	Failed     = "FAILED"
)

// Failure codes of a FAILED status. AWS documents no values for
// ImageReplicationStatus.failureCode; these are berth's.
const (
	// FailureAccessDenied: the destination's registry policy does not allow
	// the source account ecr:ReplicateImage (or ecr:CreateRepository for a
	// repository that does not exist), or a before hook refused the copy.
	FailureAccessDenied = "ACCESS_DENIED"
	// FailureTagImmutable: a tag would move in a destination repository
	// where it is immutable.
	FailureTagImmutable = "IMAGE_TAG_IMMUTABLE"
	// FailureLimitExceeded: the destination registry refused a limit.
	FailureLimitExceeded = "LIMIT_EXCEEDED"
	// FailureInternal: anything else (logged); the push is replicated again.
	FailureInternal = "INTERNAL_ERROR"
)

// Status is an image's replication to one destination.
type Status struct {
	RegistryID  string `json:"registryId"`
	Region      string `json:"region"`
	Status      string `json:"status"`
	FailureCode string `json:"failureCode,omitempty"`
}

// Service holds a registry process's replication configurations and
// replicates pushes once Start wires it to the bus.
type Service struct {
	core Core
	log  *slog.Logger
}

// New returns a Service over c.
func New(c Core, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{core: c, log: log}
}

// Put validates cfg and makes it reg's replication configuration; no rules
// removes it.
func (s *Service) Put(ctx context.Context, reg core.RegistryID, cfg Configuration) (Configuration, error) {
	if err := cfg.Validate(reg); err != nil {
		return Configuration{}, err
	}
	if cfg.Rules == nil {
		cfg.Rules = []Rule{}
	}
	err := s.core.UpdateRegistryData(ctx, reg, configName, func([]byte) ([]byte, error) {
		if len(cfg.Rules) == 0 {
			return nil, nil
		}
		return json.Marshal(cfg)
	})
	return cfg, err
}

// Get returns reg's replication configuration (no rules if none).
func (s *Service) Get(ctx context.Context, reg core.RegistryID) (Configuration, error) {
	cfg := Configuration{Rules: []Rule{}}
	b, ok, err := s.core.RegistryData(ctx, reg, configName)
	if err != nil || !ok {
		return cfg, err
	}
	err = json.Unmarshal(b, &cfg)
	return cfg, err
}

// Statuses returns an image's replication status per destination, in
// registry and region order, with the image (found by digest and/or tag);
// none if it was never replicated. An image that is not there is core's
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

// Start subscribes replication to bus: one worker, so that pushes into a
// repository are replicated in the order they were made (a tag moved twice
// ends where it ended in the source); each push's destinations are copied
// at once. The subscription ends when the bus closes.
func (s *Service) Start(bus *core.Bus) {
	bus.Subscribe(core.Subscriber{Name: "replication", Kinds: []core.EventKind{core.EventPush}, Wants: s.wants, Handle: s.Replicate})
}

// wants says whether a push may be replicated: a user's push into a
// repository some rule replicates (or the configuration cannot be read:
// Replicate decides).
func (s *Service) wants(ctx context.Context, e core.Event) bool {
	if e.Kind != core.EventPush || e.Cause != core.CauseUser {
		return false
	}
	// Most registries have no configuration: that is known without
	// building one (Get's empty configuration was an allocation per push).
	if _, ok, err := s.core.RegistryData(ctx, e.Registry, configName); err == nil && !ok {
		return false
	}
	cfg, err := s.Get(ctx, e.Registry)
	return err != nil || len(cfg.DestinationsFor(e.Repository)) > 0
}

// Start builds a Service over reg and subscribes it to reg's bus.
func Start(reg *core.Registry, log *slog.Logger) *Service {
	s := New(reg, log)
	s.Start(reg.Bus())
	return s
}

// Replicate copies the image a user pushed to every destination that
// replicates its repository, recording each destination's status. It
// returns an error only when a copy failed for an unforeseen reason, so
// that the bus tries the push again.
func (s *Service) Replicate(ctx context.Context, e core.Event) error {
	if e.Kind != core.EventPush || e.Cause != core.CauseUser {
		return nil // a replica, a cached upstream image, lifecycle's work: never replicated
	}
	cfg, err := s.Get(ctx, e.Registry)
	if err != nil {
		return err
	}
	dests := cfg.DestinationsFor(e.Repository)
	if len(dests) == 0 {
		return nil
	}
	img, err := s.core.ResolveImage(ctx, e.Registry, e.Repository, e.Digest, "")
	if gone(err) {
		return nil // deleted since: deletions are not replicated, nor is what is gone
	}
	if err != nil {
		return err
	}
	// The push's tags that still point at it: a tag moved by a later push
	// is that push's to replicate.
	tags := []string{}
	for _, t := range e.Tags {
		if slices.Contains(img.Tags, t) {
			tags = append(tags, t)
		}
	}

	statuses := make([]Status, len(dests))
	for i, d := range dests {
		statuses[i] = Status{RegistryID: d.RegistryID, Region: d.Region, Status: InProgress}
	}
	if err := s.record(ctx, e, statuses); gone(err) {
		return nil
	} else if err != nil {
		return err
	}
	var (
		wg       sync.WaitGroup
		internal = make([]error, len(dests))
	)
	for i, d := range dests {
		wg.Go(func() {
			statuses[i], internal[i] = s.replicateTo(ctx, e, tags, d)
		})
	}
	wg.Wait()
	if err := s.record(ctx, e, statuses); err != nil && !gone(err) {
		return err
	}
	return errors.Join(internal...)
}

// replicateTo copies the pushed image to one destination and says how it
// went; err is set only for an unforeseen failure.
func (s *Service) replicateTo(ctx context.Context, e core.Event, tags []string, d Destination) (Status, error) {
	dest := d.Registry()
	st := Status{RegistryID: d.RegistryID, Region: d.Region, Status: Complete}
	fail := func(code string, err error) (Status, error) {
		st.Status, st.FailureCode = Failed, code
		s.log.Warn("replication failed", "registry", e.Registry.String(), "repository", e.Repository, "digest", e.Digest,
			"destination", dest.String(), "code", code, "err", err)
		if code == FailureInternal {
			return st, err
		}
		return st, nil
	}
	if dest.Account != e.Registry.Account {
		if err := s.allowed(ctx, e, dest); err != nil {
			return fail(failureCode(err), err)
		}
	}
	_, err := s.core.CopyImage(core.WithCause(ctx, core.CauseReplication), core.CopyImageInput{
		From: e.Registry, FromRepository: e.Repository, Reference: e.Digest.String(),
		To: dest, ToRepository: e.Repository, Tags: tags, Create: core.CreateForReplication})
	if err != nil {
		return fail(failureCode(err), err)
	}
	return st, nil
}

// allowed asks the authorizer, as the source account's root, for what the
// destination's registry policy must grant another account: ecr:ReplicateImage
// on the repository, and ecr:CreateRepository if it is not there yet.
func (s *Service) allowed(ctx context.Context, e core.Event, dest core.RegistryID) error {
	ctx = core.WithCaller(ctx, core.Caller{Registry: e.Registry, Principal: core.RootPrincipal(e.Registry.Account)})
	res := []core.Resource{core.RepositoryResource(dest, e.Repository)}
	if err := s.core.Authorize(ctx, core.AuthRequest{Action: "ecr:ReplicateImage", Resources: res}); err != nil {
		return err
	}
	err := s.core.HasRepository(ctx, dest, e.Repository)
	if core.IsKind(err, core.KindRepositoryNotFound) {
		return s.core.Authorize(ctx, core.AuthRequest{Action: "ecr:CreateRepository", Resources: res})
	}
	return err
}

// failureCode classifies a failed copy.
func failureCode(err error) string {
	switch core.KindOf(err) {
	case core.KindDenied, core.KindUnauthorized:
		return FailureAccessDenied
	case core.KindImageTagImmutable:
		return FailureTagImmutable
	case core.KindLimitExceeded:
		return FailureLimitExceeded
	}
	return FailureInternal
}

// record sets the statuses of the pushed image's destinations, keeping
// those of other destinations (an earlier configuration's).
func (s *Service) record(ctx context.Context, e core.Event, statuses []Status) error {
	return s.core.UpdateImageData(ctx, e.Registry, e.Repository, e.Digest, statusName, func(old []byte) ([]byte, error) {
		var all []Status
		if old != nil {
			if err := json.Unmarshal(old, &all); err != nil {
				all = nil // unreadable: what this push says replaces it
			}
		}
		for _, st := range statuses {
			i := slices.IndexFunc(all, func(o Status) bool { return o.RegistryID == st.RegistryID && o.Region == st.Region })
			if i >= 0 {
				all[i] = st
			} else {
				all = append(all, st)
			}
		}
		slices.SortFunc(all, func(a, b Status) int {
			return cmp.Or(cmp.Compare(a.RegistryID, b.RegistryID), cmp.Compare(a.Region, b.Region))
		})
		return json.Marshal(all)
	})
}

// gone reports an error that means the source image or repository is no
// longer there.
func gone(err error) bool {
	return core.IsKind(err, core.KindManifestNotFound) || core.IsKind(err, core.KindRepositoryNotFound)
}
