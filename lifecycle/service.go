package lifecycle

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

// Core is what lifecycle needs of core.Registry: repositories and their
// settings, the image iterator, the trusted batch delete and the
// storage-class change.
type Core interface {
	GetRepository(ctx context.Context, reg core.RegistryID, name string) (core.Repository, error)
	UpdateRepository(ctx context.Context, reg core.RegistryID, name string, change func(*core.Repository) error) (core.Repository, error)
	Registries(ctx context.Context) ([]core.RegistryID, error)
	ListRepositories(ctx context.Context, reg core.RegistryID, p core.Page) ([]core.Repository, bool, error)
	Images(ctx context.Context, reg core.RegistryID, repo string, after string) iter.Seq2[core.Image, error]
	DeleteImages(ctx context.Context, reg core.RegistryID, repo string, digests []digest.Digest) ([]core.Image, map[digest.Digest]error, error)
	SetStorageClass(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, archive bool) (core.Image, error)
}

// Errors the ECR edge names by their own exceptions.
var (
	ErrPolicyNotFound    = errors.New("lifecycle policy not found")
	ErrPreviewInProgress = errors.New("lifecycle policy preview in progress")
	ErrPreviewNotFound   = errors.New("lifecycle policy preview not found")
)

// Service holds the lifecycle policies' operations, previews and enforcement
// for one registry process.
type Service struct {
	core  Core
	clock core.Clock
	log   *slog.Logger

	enforcing sync.Mutex // one enforcement at a time, so two never race on a repository

	mu       sync.Mutex
	previews map[repoKey]*Preview
	running  sync.WaitGroup // preview goroutines
}

type repoKey struct {
	reg  core.RegistryID
	name string
}

// New returns a Service over c, with time from clock.
func New(c Core, clock core.Clock, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{core: c, clock: clock, log: log, previews: map[repoKey]*Preview{}}
}

// Put validates text and stores it as the repository's lifecycle policy. A
// changed policy is enforced after the call returns (core publishes the
// change and Start's subscriber hears it).
func (s *Service) Put(ctx context.Context, reg core.RegistryID, repo, text string) (core.Repository, error) {
	if _, err := Parse(text); err != nil {
		return core.Repository{}, err
	}
	return s.core.UpdateRepository(ctx, reg, repo, func(r *core.Repository) error {
		r.LifecyclePolicy = text
		return nil
	})
}

// Get returns the repository with its lifecycle policy, or ErrPolicyNotFound.
func (s *Service) Get(ctx context.Context, reg core.RegistryID, repo string) (core.Repository, error) {
	r, err := s.core.GetRepository(ctx, reg, repo)
	if err == nil && r.LifecyclePolicy == "" {
		err = ErrPolicyNotFound
	}
	return r, err
}

// Delete removes the repository's lifecycle policy and returns the
// repository as it was, or ErrPolicyNotFound.
func (s *Service) Delete(ctx context.Context, reg core.RegistryID, repo string) (core.Repository, error) {
	var before core.Repository
	_, err := s.core.UpdateRepository(ctx, reg, repo, func(r *core.Repository) error {
		if r.LifecyclePolicy == "" {
			return ErrPolicyNotFound
		}
		before = *r
		r.LifecyclePolicy = ""
		return nil
	})
	return before, err
}

// images reads every image of a repository.
func (s *Service) images(ctx context.Context, reg core.RegistryID, repo string) ([]core.Image, error) {
	var out []core.Image
	for img, err := range s.core.Images(ctx, reg, repo, "") {
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// Result is what one enforcement did to a repository.
type Result struct {
	Registry     core.RegistryID
	Repository   string
	EvaluatedAt  time.Time
	Expired      []digest.Digest
	Transitioned []digest.Digest
	// Failed says why an image the policy acts on could not be (an index
	// that stays lists it, a before hook vetoed the deletion…).
	Failed map[digest.Digest]error
}

// Enforce evaluates the repository's lifecycle policy now and applies it:
// expiry through core's batch delete and transition through the storage
// class change, both marked with core.CauseLifecycle, so that delete
// events, blob release and the audit trail work as for a user's delete. A
// repository without a policy is left alone (ok false).
func (s *Service) Enforce(ctx context.Context, reg core.RegistryID, repo string) (res Result, ok bool, err error) {
	s.enforcing.Lock()
	defer s.enforcing.Unlock()
	r, err := s.core.GetRepository(ctx, reg, repo)
	if err != nil || r.LifecyclePolicy == "" {
		return res, false, err
	}
	p, err := Parse(r.LifecyclePolicy)
	if err != nil {
		return res, false, err // stored text is validated; a failure here is a corrupt record
	}
	images, err := s.images(ctx, reg, repo)
	if err != nil {
		return res, false, err
	}
	now := s.clock.Now()
	res = Result{Registry: reg, Repository: repo, EvaluatedAt: now, Failed: map[digest.Digest]error{}}
	ctx = core.WithCause(ctx, core.CauseLifecycle)
	var expire []digest.Digest
	for _, d := range p.Evaluate(images, now) {
		switch d.Action {
		case ActionExpire:
			expire = append(expire, d.Image.Digest)
		case ActionTransition:
			if _, err := s.core.SetStorageClass(ctx, reg, repo, d.Image.Digest, true); err != nil {
				res.Failed[d.Image.Digest] = err
				continue
			}
			res.Transitioned = append(res.Transitioned, d.Image.Digest)
		}
	}
	if len(expire) > 0 {
		deleted, failed, err := s.core.DeleteImages(ctx, reg, repo, expire)
		if err != nil {
			return res, true, err
		}
		for _, img := range deleted {
			res.Expired = append(res.Expired, img.Digest)
		}
		for dg, err := range failed {
			res.Failed[dg] = err
		}
	}
	_, err = s.core.UpdateRepository(ctx, reg, repo, func(r *core.Repository) error {
		r.LifecycleEvaluatedAt = now
		return nil
	})
	return res, true, err
}

// Sweep enforces every repository's lifecycle policy, in every registry,
// and returns what it did to those that have one. A repository that fails
// is logged and the sweep goes on.
func (s *Service) Sweep(ctx context.Context) ([]Result, error) {
	regs, err := s.core.Registries(ctx)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, reg := range regs {
		page := core.Page{N: 100}
		for {
			repos, more, err := s.core.ListRepositories(ctx, reg, page)
			if err != nil {
				return out, err
			}
			for _, r := range repos {
				if r.LifecyclePolicy == "" {
					continue
				}
				res, ok, err := s.Enforce(ctx, reg, r.Name)
				if err != nil && !core.IsKind(err, core.KindRepositoryNotFound) {
					s.log.Error("enforcing a lifecycle policy", "registry", reg, "repository", r.Name, "err", err)
				}
				if ok {
					out = append(out, res)
				}
			}
			if !more || len(repos) == 0 {
				break
			}
			page.Last = repos[len(repos)-1].Name
		}
	}
	return out, nil
}

// Start wires enforcement into reg: a subscriber that enforces a
// repository's policy after each push into it and after its policy changes,
// and a sweep of every repository each interval on reg's clock (none when
// interval is 0). stop ends the sweep and waits for previews in progress.
func (s *Service) Start(bus *core.Bus, interval time.Duration) (stop func()) {
	bus.Subscribe(core.Subscriber{
		Name: "lifecycle",
		// Not deletions: a sweep deleting thousands of images must not wait on
		// this subscriber's queue while its worker waits for the sweep.
		Kinds: []core.EventKind{core.EventPush, core.EventPolicyChanged},
		// A burst of pushes into one repository enforces its policy once
		// after the burst, not once per push: a later trigger for the same
		// repository evaluates every image the earlier one would have.
		Supersedes: func(later, earlier core.Event) bool {
			return triggers(later) && later.Registry == earlier.Registry && later.Repository == earlier.Repository
		},
		// A push into a repository without a policy has nothing to enforce.
		Wants: func(ctx context.Context, e core.Event) bool {
			if !triggers(e) {
				return false
			}
			if e.Kind != core.EventPush {
				return true
			}
			if e.Repo != nil { // the repository as the push read it
				return e.Repo.LifecyclePolicy != ""
			}
			r, err := s.core.GetRepository(ctx, e.Registry, e.Repository)
			if core.IsKind(err, core.KindRepositoryNotFound) {
				return false
			}
			return err != nil || r.LifecyclePolicy != ""
		},
		Handle: func(ctx context.Context, e core.Event) error {
			if !triggers(e) {
				return nil
			}
			_, _, err := s.Enforce(ctx, e.Registry, e.Repository)
			if core.IsKind(err, core.KindRepositoryNotFound) {
				return nil // deleted since: nothing to enforce
			}
			return err
		},
	})
	stopSweep := func() {}
	if interval > 0 {
		stopSweep = core.Every(s.clock, interval, func() {
			if _, err := s.Sweep(context.Background()); err != nil {
				s.log.Error("lifecycle sweep", "err", err)
			}
		})
	}
	return func() {
		stopSweep()
		s.running.Wait()
	}
}

// triggers reports whether e calls for enforcing its repository's policy:
// a push into it, or a change of its lifecycle policy.
func triggers(e core.Event) bool {
	return e.Kind == core.EventPush || e.Kind == core.EventPolicyChanged && e.Target == core.TargetLifecyclePolicy
}

// Start builds a Service over reg, on reg's clock, and wires its
// enforcement into reg's bus (see Service.Start).
func Start(reg *core.Registry, interval time.Duration, log *slog.Logger) (*Service, func()) {
	s := New(reg, reg.Clock(), log)
	return s, s.Start(reg.Bus(), interval)
}
