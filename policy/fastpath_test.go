package policy

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
)

// The way around the engine (allowsWithoutPolicies) must answer exactly as
// the engine would, on every question it takes, and the Authorizer with it
// must answer every question as the engine does. The questions vary every
// input a Request has: principals of the resource's account and of another
// (roots resolved by RootsOnly and by a directory, one with identity
// policies, users, roles), actions (ECR's, another service's, odd case,
// GetAuthorizationToken), resources (a repository, repository/*, "*"),
// repository and registry policies (none, allowing, denying), scopes, tags
// and request keys.
func TestTheWayAroundThePolicyEngineDecidesAsTheEngine(t *testing.T) {
	rootA, rootB := "arn:aws:iam::"+acctA+":root", "arn:aws:iam::"+acctB+":root"
	rootWithPolicy := "arn:aws:iam::" + acctC + ":root"
	aliceArn, bobArn := "arn:aws:iam::"+acctA+":user/alice", "arn:aws:iam::"+acctB+":user/bob"
	denyAll := stmt(`{"Sid":"No","Effect":"Deny","Action":"*","Resource":"*"}`)
	dir := directory{
		aliceArn:       user(acctA, "alice", pullAll),
		bobArn:         bobB,
		role.ARN:       role,
		rootWithPolicy: {ARN: rootWithPolicy, Account: acctC, Type: "Account", UserID: acctC, Policies: []string{denyAll}},
	}
	principals := []string{rootA, rootB, rootWithPolicy, aliceArn, bobArn, role.ARN, "arn:aws:iam::" + acctA + ":user/nobody"}
	actions := []string{"ecr:BatchGetImage", "ecr:InitiateLayerUpload", "ECR:PutImage", "ecr:GetAuthorizationToken", "ecr:ReplicateImage", "s3:GetObject"}
	regC := core.RegistryID{Account: acctC, Region: "eu-west-1"}
	resources := []core.Resource{
		core.RepositoryResource(regA, "app"), core.AllRepositories(regA), core.AnyResource(regA),
		core.RepositoryResource(core.RegistryID{Account: acctB, Region: "us-east-1"}, "x"), core.RepositoryResource(regC, "app"),
	}
	repoPolicies := []string{"", allowB, stmt(`{"Sid":"Keep","Effect":"Deny","Principal":"*","Action":"ecr:*"}`)}
	registryPolicies := []string{"", stmt(`{"Sid":"Reg","Effect":"Deny","Principal":"*","Action":"ecr:*","Resource":"*"}`), allowB}
	scopes := []string{"", "V1", "V2"}
	tagSets := []map[string]string{nil, {"env": "prod"}}
	ips := []string{"10.1.2.3"}

	e := NewEngine()
	a := NewAuthorizer(dir, AuthorizerOptions{Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return clockNow }})
	ctx := context.Background()
	var taken, asked int
	for _, parn := range principals {
		p := a.resolve(parn)
		for _, action := range actions {
			for _, base := range resources {
				for _, rp := range repoPolicies {
					for _, gp := range registryPolicies {
						for _, scope := range scopes {
							for _, tags := range tagSets {
								for _, ip := range ips {
									res := base
									res.Policy, res.RegistryPolicy, res.RegistryPolicyScope, res.Tags = rp, gp, scope, tags
									req := core.AuthRequest{Principal: parn, PrincipalAccount: core.AccountOfPrincipal(parn), SourceIP: ip, Action: action, Resources: []core.Resource{res}}
									want, err := e.Decide(ctx, Request{Principal: p.p, Action: action, Resource: res.ARN, ResourceAccount: res.Registry.Account,
										ResourceRegion: res.Registry.Region, ResourceTags: tags, ResourcePolicy: rp, RegistryPolicy: gp,
										RegistryPolicyScope: scope, Context: requestContext(req, a.timeKeys(clockNow))})
									if err != nil {
										t.Fatal(err)
									}
									asked++
									if allowsWithoutPolicies(p, &res) {
										taken++
										if !reflect.DeepEqual(want, Decision{Effect: Allow}) {
											t.Fatalf("%s %s on %s (policy %q, registry %q %q): the way around allows, the engine decides %+v", parn, action, res.ARN, rp, gp, scope, want)
										}
									}
									if err := a.Authorize(ctx, req); (err == nil) != (want.Effect == Allow) {
										t.Fatalf("%s %s on %s (policy %q, registry %q %q): the Authorizer answers %v, the engine %+v", parn, action, res.ARN, rp, gp, scope, err, want)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	// Not vacuous: the way around takes a part of the questions, not all.
	if taken == 0 || taken == asked {
		t.Fatalf("the way around took %d of %d questions", taken, asked)
	}
	t.Logf("%d questions, %d decided without the engine", asked, taken)
}

// A policy written between two questions is seen by the next one, though
// the first went around the engine: the way around depends on the
// resource's policies, which core reads for every decision.
func TestAPolicyWrittenBetweenQuestionsIsNotMissed(t *testing.T) {
	m := kv.NewMem()
	a := NewAuthorizer(nil, AuthorizerOptions{Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return clockNow }, Keep: 100})
	r := core.New(core.Options{KV: m, Blobs: blob.NewMem(), Authorizer: a, Log: slog.New(slog.DiscardHandler)})
	defer r.Close()
	root := "arn:aws:iam::" + acctA + ":root"
	ctx := core.WithCaller(context.Background(), core.Caller{Registry: regA, Principal: root, SourceIP: "127.0.0.1"})
	if _, err := r.CreateRepository(ctx, regA, "app"); err != nil {
		t.Fatal(err)
	}
	ask := func() error {
		return r.Authorize(ctx, core.AuthRequest{Action: "ecr:InitiateLayerUpload", Resources: []core.Resource{core.RepositoryResource(regA, "app")}})
	}
	deny := stmt(`{"Sid":"NoPush","Effect":"Deny","Principal":"*","Action":"ecr:InitiateLayerUpload"}`)
	steps := []struct {
		what   string
		change func() error
		allow  bool
	}{
		{"no policy", func() error { return nil }, true},
		{"the same again", func() error { return nil }, true},
		{"a repository policy denying it", func() error {
			_, err := r.UpdateRepository(ctx, regA, "app", func(rp *core.Repository) error { rp.Policy = deny; return nil })
			return err
		}, false},
		{"the repository policy removed", func() error {
			_, err := r.UpdateRepository(ctx, regA, "app", func(rp *core.Repository) error { rp.Policy = ""; return nil })
			return err
		}, true},
		{"a registry policy denying it", func() error {
			_, err := r.UpdateSettings(ctx, regA, func(s *core.RegistrySettings) error { s.Policy = deny; return nil })
			return err
		}, false},
		{"the registry policy removed", func() error {
			_, err := r.UpdateSettings(ctx, regA, func(s *core.RegistrySettings) error { s.Policy = ""; return nil })
			return err
		}, true},
	}
	for i, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("step %d (%s): %v", i, s.what, err)
		}
		err := ask()
		if s.allow != (err == nil) {
			t.Fatalf("step %d (%s): got %v, want allowed %v", i, s.what, err, s.allow)
		}
	}
	// Every question is recorded, also those decided around the engine.
	d := a.Decisions()
	if len(d) != len(steps) {
		t.Fatalf("%d decisions recorded, want %d: %+v", len(d), len(steps), d)
	}
	for i, s := range steps {
		if want := map[bool]Effect{true: Allow, false: ExplicitDeny}[s.allow]; d[i].Effect != want || d[i].Principal != root || d[i].Action != "ecr:InitiateLayerUpload" || !d[i].Time.Equal(clockNow) {
			t.Fatalf("decision %d (%s): %+v", i, s.what, d[i])
		}
	}
}
