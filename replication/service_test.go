package replication

import (
	"context"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/templates"
	"github.com/opencontainers/go-digest"
)

var (
	bg   = context.Background()
	regA = coretest.RegA  // the source
	west = coretest.RegA2 // the source's account, another region
	regB = coretest.RegB  // another account
	// regA3 is a third region of the source's account.
	regA3 = core.RegistryID{Account: coretest.RegA.Account, Region: "ap-south-1"}
)

func to(reg core.RegistryID) Destination {
	return Destination{RegistryID: reg.Account, Region: reg.Region}
}

// allowReplicationFrom is a destination registry policy in the user
// guide's form: the source account may replicate and create repositories.
func allowReplicationFrom(account string, actions ...string) string {
	if len(actions) == 0 {
		actions = []string{"ecr:CreateRepository", "ecr:ReplicateImage"}
	}
	return `{"Version":"2012-10-17","Statement":[{"Sid":"ReplicationAccessCrossAccount","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":["` + strings.Join(actions, `","`) + `"],"Resource":"*"}]}`
}

// env is a registry under test with IAM policies deciding, the creation
// templates, and replication subscribed.
type env struct {
	*coretest.Fixture
	t    testing.TB
	svc  *Service
	tmpl *templates.Service
}

func newEnv(t testing.TB, s coretest.Stores) *env {
	t.Helper()
	tmpl := templates.New(templates.Options{})
	authz := policy.NewAuthorizer(policy.RootsOnly{}, policy.AuthorizerOptions{Log: slog.New(slog.DiscardHandler)})
	f := coretest.New(t, s, coretest.Options{Templates: tmpl, Authorizer: authz})
	e := &env{Fixture: f, t: t, tmpl: tmpl}
	f.Wire(func(r *core.Registry) func() {
		tmpl.Attach(r)
		e.svc = Start(r, slog.New(slog.DiscardHandler))
		return nil
	})
	return e
}

func eachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, s := range coretest.AllStores {
		t.Run(string(s), func(t *testing.T) { fn(t, newEnv(t, s)) })
	}
}

func (e *env) configure(reg core.RegistryID, rules ...Rule) {
	e.t.Helper()
	if _, err := e.svc.Put(bg, reg, Configuration{Rules: rules}); err != nil {
		e.t.Fatalf("Put: %v", err)
	}
}

func (e *env) registryPolicy(reg core.RegistryID, text string) {
	e.t.Helper()
	if _, err := e.Registry().UpdateSettings(bg, reg, func(s *core.RegistrySettings) error { s.Policy = text; return nil }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) statuses(reg core.RegistryID, repo string, dg digest.Digest) []Status {
	e.t.Helper()
	_, st, err := e.svc.Statuses(bg, reg, repo, dg, "")
	if err != nil {
		e.t.Fatalf("Statuses: %v", err)
	}
	return st
}

func (e *env) want(reg core.RegistryID, repo string, dg digest.Digest, want ...Status) {
	e.t.Helper()
	if got := e.statuses(reg, repo, dg); !reflect.DeepEqual(got, want) {
		e.t.Fatalf("statuses of %s@%s\n got  %+v\n want %+v", repo, dg, got, want)
	}
}

func complete(reg core.RegistryID) Status {
	return Status{RegistryID: reg.Account, Region: reg.Region, Status: Complete}
}

func failed(reg core.RegistryID, code string) Status {
	return Status{RegistryID: reg.Account, Region: reg.Region, Status: Failed, FailureCode: code}
}

// image returns the destination's record of dg in repo, or fails.
func (e *env) image(reg core.RegistryID, repo string, dg digest.Digest) core.Image {
	e.t.Helper()
	img, err := e.Registry().ResolveImage(bg, reg, repo, dg, "")
	if err != nil {
		e.t.Fatalf("%s %s@%s: %v", reg, repo, dg, err)
	}
	return img
}

func (e *env) blobCount() int {
	e.t.Helper()
	n := 0
	if err := e.Blobs().Walk(func(digest.Digest, int64) error { n++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// A user's push is copied to another region of its account and to another
// account that allows it, with its tag, into repositories created there,
// without copying a byte; each destination is COMPLETE, and the replicas are
// never replicated again.
func TestAPushIsReplicatedAcrossRegionsAndAccounts(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.registryPolicy(regB, allowReplicationFrom(regA.Account))
		e.configure(regA, Rule{Destinations: []Destination{to(west), to(regB)}})
		// Were a replica replicated, west's own configuration would copy it on.
		e.configure(west, Rule{Destinations: []Destination{to(regA3)}})
		e.CreateRepository(regA, "app")
		pushed := e.PushImage(regA, "app", "v1", "one")
		blobs := e.blobCount()
		e.Wait()

		for _, reg := range []core.RegistryID{west, regB} {
			img := e.image(reg, "app", pushed.Digest)
			if !slices.Equal(img.Tags, []string{"v1"}) {
				t.Fatalf("%s: tags %v", reg, img.Tags)
			}
			body, err := e.Registry().ManifestBytes(bg, reg, "app", pushed.Digest)
			if err != nil || string(body) != string(pushed.Body) {
				t.Fatalf("%s: manifest bytes differ: %v", reg, err)
			}
		}
		if n := e.blobCount(); n != blobs {
			t.Fatalf("replication stored %d blobs more", n-blobs)
		}
		e.want(regA, "app", pushed.Digest, complete(west), complete(regB)) // sorted by account, then region
		if err := e.Registry().HasRepository(bg, regA3, "app"); !core.IsKind(err, core.KindRepositoryNotFound) {
			t.Fatalf("a replica was replicated again: %v", err)
		}
		if st := e.statuses(west, "app", pushed.Digest); len(st) != 0 {
			t.Fatalf("the replica has statuses %+v", st)
		}

		// A later push moving the tag moves it in the destinations too.
		second := e.PushImage(regA, "app", "v1", "two")
		e.Wait()
		for _, reg := range []core.RegistryID{west, regB} {
			if img := e.image(reg, "app", second.Digest); !slices.Equal(img.Tags, []string{"v1"}) {
				t.Fatalf("%s: the moved tag: %v", reg, img.Tags)
			}
			if img := e.image(reg, "app", pushed.Digest); len(img.Tags) != 0 {
				t.Fatalf("%s: the first image kept %v", reg, img.Tags)
			}
		}
	})
}

// A multi-architecture index is replicated with every image it lists.
func TestAnIndexIsReplicatedWithItsChildren(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.configure(regA, Rule{Destinations: []Destination{to(west)}})
		e.CreateRepository(regA, "multi")
		amd := e.PushImage(regA, "multi", "", "amd64")
		arm := e.PushImage(regA, "multi", "", "arm64")
		idx := e.PushIndex(regA, "multi", "latest", amd, arm)
		e.Wait()
		if img := e.image(west, "multi", idx.Digest); !img.IsIndex() || !slices.Equal(img.Tags, []string{"latest"}) {
			t.Fatalf("the index replica: %+v", img)
		}
		for _, c := range []coretest.Pushed{amd, arm} {
			if img := e.image(west, "multi", c.Digest); !slices.Contains(img.Parents, idx.Digest) {
				t.Fatalf("child %s is not listed by the replica index: %v", c.Digest, img.Parents)
			}
		}
		e.want(regA, "multi", idx.Digest, complete(west))
	})
}

// Without a registry policy in the destination account, cross-account
// replication fails there (ACCESS_DENIED) and writes nothing; allowing
// ecr:ReplicateImage alone is not enough to create the repository, and is
// enough once it exists.
func TestCrossAccountReplicationNeedsTheDestinationsRegistryPolicy(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.configure(regA, Rule{Destinations: []Destination{to(regB), to(west)}})
		e.CreateRepository(regA, "app")
		one := e.PushImage(regA, "app", "v1", "one")
		e.Wait()
		e.want(regA, "app", one.Digest, complete(west), failed(regB, FailureAccessDenied))
		if err := e.Registry().HasRepository(bg, regB, "app"); !core.IsKind(err, core.KindRepositoryNotFound) {
			t.Fatalf("a denied replication created the repository: %v", err)
		}

		e.registryPolicy(regB, allowReplicationFrom(regA.Account, "ecr:ReplicateImage"))
		two := e.PushImage(regA, "app", "v2", "two")
		e.Wait()
		e.want(regA, "app", two.Digest, complete(west), failed(regB, FailureAccessDenied))

		e.CreateRepository(regB, "app")
		three := e.PushImage(regA, "app", "v3", "three")
		e.Wait()
		e.want(regA, "app", three.Digest, complete(west), complete(regB))
		e.image(regB, "app", three.Digest)

		// Another account named in the policy allows nobody else.
		e.registryPolicy(regB, allowReplicationFrom("333333333333"))
		four := e.PushImage(regA, "app", "v4", "four")
		e.Wait()
		e.want(regA, "app", four.Digest, complete(west), failed(regB, FailureAccessDenied))
	})
}

// Each destination is IN_PROGRESS while its copy runs, then COMPLETE; a
// copy refused in the destination (a before hook's veto, an immutable tag)
// is FAILED with its code, and the other destinations are not held back.
func TestStatusMovesFromInProgressToCompleteOrFailed(t *testing.T) {
	e := newEnv(t, coretest.Memory)
	e.configure(regA, Rule{Destinations: []Destination{to(west), to(regA3)}})
	e.CreateRepository(regA, "app")
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var once sync.Once
	e.Registry().Bus().Before(func(ctx context.Context, ev core.Event) error {
		if ev.Kind != core.EventPush || ev.Cause != core.CauseReplication {
			return nil
		}
		switch ev.Registry {
		case west:
			once.Do(func() { entered <- struct{}{} })
			<-release
		case regA3:
			if ev.Tag == "refused" {
				return core.Denied("replicas of 'refused' are not welcome here")
			}
		}
		return nil
	})
	one := e.PushImage(regA, "app", "v1", "one")
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the copy to west never started")
	}
	e.want(regA, "app", one.Digest, Status{RegistryID: west.Account, Region: regA3.Region, Status: InProgress},
		Status{RegistryID: west.Account, Region: west.Region, Status: InProgress})
	close(release)
	e.Wait()
	e.want(regA, "app", one.Digest, complete(regA3), complete(west))

	refused := e.PushImage(regA, "app", "refused", "two")
	e.Wait()
	e.want(regA, "app", refused.Digest, failed(regA3, FailureAccessDenied), complete(west))

	// A tag that is immutable in the destination cannot move there.
	if _, err := e.Registry().UpdateRepository(bg, west, "app", func(r *core.Repository) error { r.ImageTagMutability = "IMMUTABLE"; return nil }); err != nil {
		t.Fatal(err)
	}
	moved := e.PushImage(regA, "app", "v1", "three")
	e.Wait()
	e.want(regA, "app", moved.Digest, complete(regA3), failed(west, FailureTagImmutable))
}

// Only repositories a rule's filters match are replicated; an image deleted
// in the source stays in the destinations (deletes are not replicated), and
// its statuses go with it.
func TestFiltersSelectAndDeletionsStay(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.configure(regA, Rule{Destinations: []Destination{to(west)}, RepositoryFilters: []Filter{{Filter: "prod", FilterType: PrefixMatch}}})
		e.CreateRepository(regA, "prod/api")
		e.CreateRepository(regA, "dev/api")
		kept := e.PushImage(regA, "prod/api", "v1", "prod")
		skipped := e.PushImage(regA, "dev/api", "v1", "dev")
		e.Wait()
		e.image(west, "prod/api", kept.Digest)
		if err := e.Registry().HasRepository(bg, west, "dev/api"); !core.IsKind(err, core.KindRepositoryNotFound) {
			t.Fatalf("a repository outside the filter was replicated: %v", err)
		}
		if st := e.statuses(regA, "dev/api", skipped.Digest); len(st) != 0 {
			t.Fatalf("statuses for an image no rule replicates: %+v", st)
		}

		if err := e.Registry().DeleteManifest(coretest.AsRoot(regA), regA, "prod/api", kept.Digest.String()); err != nil {
			t.Fatal(err)
		}
		e.Wait()
		e.image(west, "prod/api", kept.Digest)
		if _, _, err := e.svc.Statuses(bg, regA, "prod/api", kept.Digest, ""); !core.IsKind(err, core.KindManifestNotFound) {
			t.Fatalf("statuses of a deleted image: %v", err)
		}
	})
}

// The destination repository is created from the destination registry's
// REPLICATION template.
func TestReplicaRepositoriesComeFromTheDestinationsTemplates(t *testing.T) {
	e := newEnv(t, coretest.Disk)
	if _, err := e.tmpl.Create(bg, west, templates.Template{Prefix: "team", AppliedFor: []core.CreateReason{core.CreateForReplication},
		ImageTagMutability: "IMMUTABLE", ResourceTags: []core.ResourceTag{{Key: "replica", Value: "yes"}}}); err != nil {
		t.Fatal(err)
	}
	e.configure(regA, Rule{Destinations: []Destination{to(west)}})
	e.CreateRepository(regA, "team/app")
	e.PushImage(regA, "team/app", "v1", "one")
	e.Wait()
	repo, err := e.Registry().GetRepository(bg, west, "team/app")
	if err != nil || repo.ImageTagMutability != "IMMUTABLE" || !reflect.DeepEqual(repo.Tags, []core.ResourceTag{{Key: "replica", Value: "yes"}}) {
		t.Fatalf("replica repository %+v, %v", repo.RepositorySettings, err)
	}
}

// The configuration is stored per registry; no rules removes it.
func TestConfigurationIsStoredPerRegistry(t *testing.T) {
	e := newEnv(t, coretest.Disk)
	if cfg, err := e.svc.Get(bg, regA); err != nil || cfg.Rules == nil || len(cfg.Rules) != 0 {
		t.Fatalf("before any: %+v %v", cfg, err)
	}
	if _, err := e.svc.Put(bg, regA, Configuration{Rules: []Rule{{Destinations: []Destination{to(regA)}}}}); !core.IsKind(err, core.KindInvalidParameter) {
		t.Fatalf("replicating to itself: %v", err)
	}
	want := Configuration{Rules: []Rule{{Destinations: []Destination{to(west)}, RepositoryFilters: []Filter{{Filter: "prod", FilterType: PrefixMatch}}}}}
	e.configure(regA, want.Rules...)
	e.Restart()
	if got, _ := e.svc.Get(bg, regA); !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart: %+v", got)
	}
	if got, _ := e.svc.Get(bg, west); len(got.Rules) != 0 {
		t.Fatalf("another registry: %+v", got)
	}
	e.configure(regA)
	if got, _ := e.svc.Get(bg, regA); len(got.Rules) != 0 {
		t.Fatalf("after clearing: %+v", got)
	}
}
