package templates

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/opencontainers/go-digest"
)

var bg = context.Background()

// fixture is a registry whose TemplateSource is a Service, attached again
// after each restart.
func fixture(t *testing.T, s coretest.Stores, o Options) (*coretest.Fixture, *Service) {
	t.Helper()
	svc := New(o)
	f := coretest.New(t, s, coretest.Options{Templates: svc})
	f.Wire(func(r *core.Registry) func() { svc.Attach(r); return nil })
	return f, svc
}

func each(t *testing.T, o Options, fn func(t *testing.T, f *coretest.Fixture, s *Service)) {
	for _, st := range coretest.AllStores {
		t.Run(string(st), func(t *testing.T) {
			f, s := fixture(t, st, o)
			fn(t, f, s)
		})
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func create(t *testing.T, s *Service, reg core.RegistryID, tmpl Template) Template {
	t.Helper()
	return must[Template](t)(s.Create(bg, reg, tmpl))
}

func list(t *testing.T, s *Service, reg core.RegistryID, prefixes ...string) []Template {
	t.Helper()
	return must[[]Template](t)(s.List(bg, reg, prefixes...))
}

func onPush(prefix string) Template {
	return Template{Prefix: prefix, AppliedFor: []core.CreateReason{core.CreateOnPush}}
}

// Templates are created once per namespace ("team" and "team/" are one),
// listed in prefix order and by prefix, updated as a whole or not at all,
// deleted, and kept across a restart.
func TestTemplatesAreCreatedListedUpdatedAndDeleted(t *testing.T) {
	each(t, Options{}, func(t *testing.T, f *coretest.Fixture, s *Service) {
		reg := coretest.RegA
		created := create(t, s, reg, Template{Prefix: "team", Description: "team repos", AppliedFor: []core.CreateReason{core.CreateOnPush}})
		if !created.CreatedAt.Equal(coretest.Start) || !created.UpdatedAt.Equal(coretest.Start) || created.ImageTagMutability != "MUTABLE" {
			t.Fatalf("created %+v", created)
		}
		for _, p := range []string{"team", "team/"} {
			if _, err := s.Create(bg, reg, onPush(p)); !errors.Is(err, ErrExists) {
				t.Fatalf("second template for %q: %v", p, err)
			}
		}
		create(t, s, reg, onPush("ROOT"))
		create(t, s, reg, onPush("apps/web"))
		create(t, s, coretest.RegB, onPush("team")) // another registry's own
		if _, err := s.Create(bg, reg, Template{Prefix: "bad", AppliedFor: []core.CreateReason{core.CreateOnPush}, ImageTagMutability: "IMMUTABLE_WITH_EXCLUSION"}); !core.IsKind(err, core.KindInvalidParameter) {
			t.Fatalf("an invalid template: %v", err)
		}

		all := list(t, s, reg)
		if got := prefixes(all); !reflect.DeepEqual(got, []string{"ROOT", "apps/web", "team"}) {
			t.Fatalf("listed %v", got)
		}
		if got := prefixes(list(t, s, reg, "team/", "nothing", "ROOT")); !reflect.DeepEqual(got, []string{"ROOT", "team"}) {
			t.Fatalf("listed by prefix: %v", got)
		}

		f.Clock.Advance(time.Hour)
		up := must[Template](t)(s.Update(bg, reg, "team/", func(t *Template) {
			t.ImageTagMutability = "IMMUTABLE"
			t.AppliedFor = append(t.AppliedFor, core.CreateForReplication)
		}))
		if up.Prefix != "team" || up.Description != "team repos" || up.ImageTagMutability != "IMMUTABLE" ||
			!reflect.DeepEqual(up.AppliedFor, []core.CreateReason{core.CreateForReplication, core.CreateOnPush}) ||
			!up.CreatedAt.Equal(coretest.Start) || !up.UpdatedAt.Equal(coretest.Start.Add(time.Hour)) {
			t.Fatalf("updated %+v", up)
		}
		_, err := s.Update(bg, reg, "team", func(t *Template) { t.AppliedFor = nil })
		if !core.IsKind(err, core.KindInvalidParameter) {
			t.Fatalf("an update that breaks the template: %v", err)
		}
		if _, err := s.Update(bg, reg, "nope", func(*Template) {}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update of a missing template: %v", err)
		}

		f.Restart()
		kept := list(t, s, reg, "team")
		if len(kept) != 1 || !reflect.DeepEqual(kept[0], up) {
			t.Fatalf("after a failed update and a restart: %+v, want %+v", kept, up)
		}
		gone := must[Template](t)(s.Delete(bg, reg, "team"))
		if !reflect.DeepEqual(gone, up) {
			t.Fatalf("deleted %+v", gone)
		}
		if _, err := s.Delete(bg, reg, "team"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if got := prefixes(list(t, s, coretest.RegB)); !reflect.DeepEqual(got, []string{"team"}) {
			t.Fatalf("the other registry's templates: %v", got)
		}
	})
}

func prefixes(ts []Template) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, t.Prefix)
	}
	return out
}

// A registry holds at most MaxTemplates templates.
func TestTemplatesAreLimitedPerRegistry(t *testing.T) {
	f, s := fixture(t, coretest.Memory, Options{})
	_ = f
	for i := range MaxTemplates {
		create(t, s, coretest.RegA, onPush(fmt.Sprintf("ns%d", i)))
	}
	if _, err := s.Create(bg, coretest.RegA, onPush("one-more")); !core.IsKind(err, core.KindLimitExceeded) {
		t.Fatalf("template %d: %v", MaxTemplates+1, err)
	}
}

// Of the templates applied for the reason, the longest matching prefix wins
// and ROOT catches the rest; a template not applied for the reason is
// skipped, even when its prefix is longer.
func TestTheLongestMatchingPrefixAppliedForTheReasonWins(t *testing.T) {
	_, s := fixture(t, coretest.Memory, Options{})
	reg := coretest.RegA
	create(t, s, reg, Template{Prefix: "ROOT", AppliedFor: Reasons, Description: "root"})
	create(t, s, reg, Template{Prefix: "team", AppliedFor: Reasons, Description: "team"})
	create(t, s, reg, Template{Prefix: "team/a", AppliedFor: []core.CreateReason{core.CreateOnPush}, Description: "team/a"})
	create(t, s, reg, Template{Prefix: "team/a/b", AppliedFor: []core.CreateReason{core.CreateForReplication}, Description: "team/a/b"})
	for _, c := range []struct {
		name   string
		reason core.CreateReason
		want   string
	}{
		{"other/app", core.CreateOnPush, "root"},
		{"team/app", core.CreateOnPush, "team"},
		{"team/a/app", core.CreateOnPush, "team/a"},
		{"team/a/b/app", core.CreateOnPush, "team/a"},
		{"team/a/b/app", core.CreateForReplication, "team/a/b"},
		{"team/a/app", core.CreateForReplication, "team"},
		{"team/a/app", core.CreateForPullThrough, "team"},
		{"team", core.CreateOnPush, "root"}, // "team" covers team/…, not team itself
	} {
		tmpl, ok, err := s.Lookup(bg, reg, c.name, c.reason)
		if err != nil || !ok || tmpl.Description != c.want {
			t.Errorf("Lookup(%s, %s) = %q %v %v, want %q", c.name, c.reason, tmpl.Description, ok, err, c.want)
		}
	}
	if _, ok, _ := s.Lookup(bg, coretest.RegB, "team/app", core.CreateOnPush); ok {
		t.Error("another registry's templates applied")
	}
}

// A push to a missing repository, and a replicated image's destination, are
// created with the template's settings in the write that needs them: the
// repository's policy, lifecycle policy, tags, mutability and encryption
// are there as soon as the push returns.
func TestTemplatesShapeTheRepositoriesTheRegistryCreates(t *testing.T) {
	each(t, Options{}, func(t *testing.T, f *coretest.Fixture, s *Service) {
		reg := coretest.RegA
		tmpl := Template{Prefix: "team", AppliedFor: []core.CreateReason{core.CreateOnPush, core.CreateForReplication},
			ImageTagMutability: "IMMUTABLE", EncryptionType: "KMS", ResourceTags: []core.ResourceTag{{Key: "team", Value: "a"}},
			RepositoryPolicy: validPolicy, LifecyclePolicy: validLifecycle}
		create(t, s, reg, tmpl)
		create(t, s, coretest.RegA2, tmpl)

		// Outside every template, a push fails and creates nothing.
		_, err := f.Registry().PutBlob(coretest.AsRoot(reg), reg, "other/app", digest.FromString("x"), strings.NewReader("x"))
		if !core.IsKind(err, core.KindRepositoryNotFound) {
			t.Fatalf("push outside every template: %v", err)
		}

		rec := f.Record(core.EventRepositoryCreated, core.EventPolicyChanged)
		f.PushImage(reg, "team/app", "v1", "one")
		repo, err := f.Registry().GetRepository(bg, reg, "team/app")
		if err != nil {
			t.Fatal(err)
		}
		want := core.RepositorySettings{ImageTagMutability: "IMMUTABLE", EncryptionType: "KMS", KMSKey: core.AWSManagedKeyARN(reg),
			Tags: []core.ResourceTag{{Key: "team", Value: "a"}}, Policy: validPolicy, LifecyclePolicy: validLifecycle}
		if !reflect.DeepEqual(repo.RepositorySettings, want) {
			t.Fatalf("created with\n %+v\nwant\n %+v", repo.RepositorySettings, want)
		}
		evs := rec.Take()
		if len(evs) != 3 || evs[0].Kind != core.EventRepositoryCreated || evs[1].Cause != core.CauseTemplate || evs[2].Cause != core.CauseTemplate {
			t.Fatalf("events %+v", evs)
		}

		// Replication creates its destination from the destination
		// registry's REPLICATION template, or with defaults.
		ctx := core.WithCause(bg, core.CauseReplication)
		if _, err := f.Registry().CopyImage(ctx, core.CopyImageInput{From: reg, FromRepository: "team/app", Reference: "v1",
			To: coretest.RegA2, ToRepository: "team/app", Create: core.CreateForReplication}); err != nil {
			t.Fatal(err)
		}
		replica, _ := f.Registry().GetRepository(bg, coretest.RegA2, "team/app")
		if replica.ImageTagMutability != "IMMUTABLE" || replica.KMSKey != core.AWSManagedKeyARN(coretest.RegA2) {
			t.Fatalf("replica created with %+v", replica.RepositorySettings)
		}
		if _, err := f.Registry().CopyImage(ctx, core.CopyImageInput{From: reg, FromRepository: "team/app", Reference: "v1",
			To: coretest.RegA2, ToRepository: "plain", Create: core.CreateForReplication}); err != nil {
			t.Fatal(err)
		}
		plain, _ := f.Registry().GetRepository(bg, coretest.RegA2, "plain")
		if !reflect.DeepEqual(plain.RepositorySettings, core.RepositorySettings{}) {
			t.Fatalf("without a template: %+v", plain.RepositorySettings)
		}
	})
}

// --create-on-push is an implicit ROOT template with default settings that
// applies only where no stored template does.
func TestCreateOnPushYieldsToStoredTemplates(t *testing.T) {
	for _, flag := range []bool{false, true} {
		t.Run(fmt.Sprint("create-on-push=", flag), func(t *testing.T) {
			f, s := fixture(t, coretest.Memory, Options{CreateOnPush: flag})
			reg := coretest.RegA
			create(t, s, reg, Template{Prefix: "team", AppliedFor: []core.CreateReason{core.CreateOnPush}, ImageTagMutability: "IMMUTABLE"})
			f.PushImage(reg, "team/app", "v1", "one")
			if repo, _ := f.Registry().GetRepository(bg, reg, "team/app"); repo.ImageTagMutability != "IMMUTABLE" {
				t.Fatalf("the stored template lost to the implicit one: %+v", repo.RepositorySettings)
			}
			_, err := f.Registry().PutBlob(coretest.AsRoot(reg), reg, "other/app", digest.FromString("x"), strings.NewReader("x"))
			if flag != (err == nil) {
				t.Fatalf("push outside the templates: %v", err)
			}
			if flag {
				if repo, _ := f.Registry().GetRepository(bg, reg, "other/app"); !reflect.DeepEqual(repo.RepositorySettings, core.RepositorySettings{}) {
					t.Fatalf("the implicit template gave %+v", repo.RepositorySettings)
				}
			}
			// The implicit template is for pushes only.
			if _, ok, _ := s.RepositoryTemplate(bg, reg, "other/x", core.CreateForPullThrough); ok {
				t.Fatal("the implicit template applied to the pull-through cache")
			}
		})
	}
}

// A Service asked before it is attached says so rather than answering.
func TestADetachedServiceFails(t *testing.T) {
	s := New(Options{})
	if _, _, err := s.RepositoryTemplate(bg, coretest.RegA, "x", core.CreateOnPush); !errors.Is(err, ErrDetached) {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.Create(bg, coretest.RegA, onPush("x")); !errors.Is(err, ErrDetached) {
		t.Fatalf("err = %v", err)
	}
}
