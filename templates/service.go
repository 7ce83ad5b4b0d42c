package templates

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/berth-dev/berth/core"
)

// Core is what templates need of core.Registry: per-registry data to keep
// the templates in, and the clock that dates them.
type Core interface {
	RegistryData(ctx context.Context, reg core.RegistryID, name string) ([]byte, bool, error)
	UpdateRegistryData(ctx context.Context, reg core.RegistryID, name string, change func(old []byte) ([]byte, error)) error
	Clock() core.Clock
}

// Errors the ECR edge names by their own exceptions.
var (
	ErrExists   = errors.New("repository creation template already exists")
	ErrNotFound = errors.New("repository creation template not found")
	// ErrDetached: the Service was asked before Attach.
	ErrDetached = errors.New("templates: the service is not attached to a registry")
)

// MaxTemplates bounds the templates of one registry (LimitExceededException
// past it). AWS documents no figure; this is berth's.
const MaxTemplates = 100

// dataName is the per-registry data the templates are kept under.
const dataName = "repository-creation-templates"

// Options configure a Service.
type Options struct {
	// CreateOnPush is berth's --create-on-push: an implicit ROOT template
	// for CREATE_ON_PUSH with default settings, used only when no stored
	// template applies.
	CreateOnPush bool
}

// Service manages a registry process's creation templates and is its
// core.TemplateSource.
type Service struct {
	opts Options
	core atomic.Pointer[coreRef]
}

type coreRef struct{ Core }

// New returns a Service; Attach gives it the registry it serves.
func New(o Options) *Service { return &Service{opts: o} }

// Attach makes s serve c. A registry consults its TemplateSource, so the
// Service is built before the registry and attached once it is open (and
// again to the registry that replaces it, after a restart).
func (s *Service) Attach(c Core) { s.core.Store(&coreRef{c}) }

// NewAttached returns a Service over c at once.
func NewAttached(c Core, o Options) *Service {
	s := New(o)
	s.Attach(c)
	return s
}

func (s *Service) c() (Core, error) {
	ref := s.core.Load()
	if ref == nil {
		return nil, ErrDetached
	}
	return ref.Core, nil
}

// list reads a registry's templates, in prefix order.
func (s *Service) list(ctx context.Context, c Core, reg core.RegistryID) ([]Template, error) {
	b, ok, err := c.RegistryData(ctx, reg, dataName)
	if err != nil || !ok {
		return nil, err
	}
	var ts []Template
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// update changes a registry's templates in one transaction.
func (s *Service) update(ctx context.Context, reg core.RegistryID, change func([]Template) ([]Template, error)) error {
	c, err := s.c()
	if err != nil {
		return err
	}
	return c.UpdateRegistryData(ctx, reg, dataName, func(old []byte) ([]byte, error) {
		var ts []Template
		if old != nil {
			if err := json.Unmarshal(old, &ts); err != nil {
				return nil, err
			}
		}
		ts, err := change(ts)
		if err != nil {
			return nil, err
		}
		if len(ts) == 0 {
			return nil, nil
		}
		slices.SortFunc(ts, func(a, b Template) int { return strings.Compare(a.Prefix, b.Prefix) })
		return json.Marshal(ts)
	})
}

// find returns the index of the template for prefix's namespace, or -1.
func find(ts []Template, prefix string) int {
	ns := namespace(prefix)
	return slices.IndexFunc(ts, func(t Template) bool { return namespace(t.Prefix) == ns })
}

// Create validates t and stores it as a new template of reg.
func (s *Service) Create(ctx context.Context, reg core.RegistryID, t Template) (Template, error) {
	c, err := s.c()
	if err != nil {
		return Template{}, err
	}
	if err := t.Validate(reg); err != nil {
		return Template{}, err
	}
	now := c.Clock().Now()
	t.CreatedAt, t.UpdatedAt = now, now
	err = s.update(ctx, reg, func(ts []Template) ([]Template, error) {
		if find(ts, t.Prefix) >= 0 {
			return nil, ErrExists
		}
		if len(ts) >= MaxTemplates {
			return nil, core.Errorf(core.KindLimitExceeded, "A registry can have at most %d repository creation templates", MaxTemplates)
		}
		return append(ts, t), nil
	})
	return t, err
}

// Update changes the template for prefix: change edits a copy, which is
// validated and stored as a whole, or not at all.
func (s *Service) Update(ctx context.Context, reg core.RegistryID, prefix string, change func(*Template)) (Template, error) {
	c, err := s.c()
	if err != nil {
		return Template{}, err
	}
	var out Template
	err = s.update(ctx, reg, func(ts []Template) ([]Template, error) {
		i := find(ts, prefix)
		if i < 0 {
			return nil, ErrNotFound
		}
		t := ts[i]
		t.AppliedFor = slices.Clone(t.AppliedFor)
		t.ResourceTags = slices.Clone(t.ResourceTags)
		t.MutabilityExclusions = slices.Clone(t.MutabilityExclusions)
		change(&t)
		t.Prefix, t.CreatedAt = ts[i].Prefix, ts[i].CreatedAt
		if err := t.Validate(reg); err != nil {
			return nil, err
		}
		t.UpdatedAt = c.Clock().Now()
		ts[i], out = t, t
		return ts, nil
	})
	return out, err
}

// Delete removes the template for prefix and returns it.
func (s *Service) Delete(ctx context.Context, reg core.RegistryID, prefix string) (Template, error) {
	var out Template
	err := s.update(ctx, reg, func(ts []Template) ([]Template, error) {
		i := find(ts, prefix)
		if i < 0 {
			return nil, ErrNotFound
		}
		out = ts[i]
		return slices.Delete(ts, i, i+1), nil
	})
	return out, err
}

// List returns reg's templates in prefix order; with prefixes, only those
// (a prefix without a template is left out).
func (s *Service) List(ctx context.Context, reg core.RegistryID, prefixes ...string) ([]Template, error) {
	c, err := s.c()
	if err != nil {
		return nil, err
	}
	ts, err := s.list(ctx, c, reg)
	if err != nil || len(prefixes) == 0 {
		return ts, err
	}
	return slices.DeleteFunc(ts, func(t Template) bool {
		return !slices.ContainsFunc(prefixes, func(p string) bool { return namespace(p) == namespace(t.Prefix) })
	}), nil
}

// Lookup returns the template reg uses when it creates repository name for
// reason: of those whose appliedFor holds reason, the one with the longest
// matching prefix (ROOT last). ok is false when none applies.
func (s *Service) Lookup(ctx context.Context, reg core.RegistryID, name string, reason core.CreateReason) (t Template, ok bool, err error) {
	c, err := s.c()
	if err != nil {
		return Template{}, false, err
	}
	ts, err := s.list(ctx, c, reg)
	if err != nil {
		return Template{}, false, err
	}
	best := -1
	for i := range ts {
		if ts[i].AppliesTo(name, reason) && (best < 0 || specificity(ts[i].Prefix) > specificity(ts[best].Prefix)) {
			best = i
		}
	}
	if best < 0 {
		return Template{}, false, nil
	}
	return ts[best], true, nil
}

// RepositoryTemplate implements core.TemplateSource: the settings of the
// template Lookup finds; else, with CreateOnPush, defaults for a push.
func (s *Service) RepositoryTemplate(ctx context.Context, reg core.RegistryID, name string, reason core.CreateReason) (core.RepositorySettings, bool, error) {
	t, ok, err := s.Lookup(ctx, reg, name, reason)
	switch {
	case err != nil:
		return core.RepositorySettings{}, false, err
	case ok:
		return t.Settings(reg), true, nil
	}
	return core.RepositorySettings{}, s.opts.CreateOnPush && reason == core.CreateOnPush, nil
}
