package core

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
)

// recordingAuthorizer keeps what it was asked and answers with decide.
type recordingAuthorizer struct {
	tags   bool
	asked  []AuthRequest
	decide func(AuthRequest) error
}

func (a *recordingAuthorizer) Authorize(ctx context.Context, req AuthRequest) error {
	a.asked = append(a.asked, req)
	if a.decide != nil {
		return a.decide(req)
	}
	return nil
}

func (a *recordingAuthorizer) UsesResourceTags() bool { return a.tags }

func TestAccountBoundaryAllowsOwnAccountOnly(t *testing.T) {
	req := AuthRequest{Principal: RootPrincipal(regA.Account), PrincipalAccount: regA.Account, Action: "ecr:BatchGetImage"}
	for _, res := range []Resource{RepositoryResource(regA, "app"), RepositoryResource(regA2, "app"), AllRepositories(regA), AnyResource(regA)} {
		req.Resources = []Resource{res}
		if err := (AccountBoundary{}).Authorize(bg, req); err != nil {
			t.Errorf("%s in own account denied: %v", res.ARN, err)
		}
	}
	req.Resources = []Resource{RepositoryResource(regA, "app"), RepositoryResource(regB, "other")}
	err := (AccountBoundary{}).Authorize(bg, req)
	wantKind(t, err, KindDenied, "a resource in another account")
	want := "User: arn:aws:iam::111111111111:root is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:222222222222:repository/other because no resource-based policy allows the ecr:BatchGetImage action"
	if err.Error() != want {
		t.Fatalf("message\n got  %s\n want %s", err, want)
	}
}

func TestAuthorizeFillsTheCallerAndAsksTheAuthorizer(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		az := &recordingAuthorizer{}
		f.r.authz = az
		ctx := WithCaller(bg, Caller{Registry: regA, Principal: alice, SourceIP: "192.0.2.7", SecureTransport: true})
		req := AuthRequest{Action: "ecr:CreateRepository", Resources: []Resource{RepositoryResource(regA, "app")},
			RequestTags: map[string]string{"team": "a"}, TagKeys: []string{"team"}}
		must(t, f.r.Authorize(ctx, req), "Authorize")
		got := az.asked[0]
		if got.Principal != alice || got.PrincipalAccount != regA.Account || got.SourceIP != "192.0.2.7" || !got.SecureTransport ||
			got.Action != "ecr:CreateRepository" || got.RequestTags["team"] != "a" || got.Resources[0].ARN != "arn:aws:ecr:us-east-1:111111111111:repository/app" {
			t.Fatalf("authorizer saw %+v", got)
		}
		if got.Resources[0].Tags != nil {
			t.Fatal("resource tags were read for an authorizer that does not use them")
		}

		az.decide = func(AuthRequest) error { return Denied("no") }
		wantKind(t, f.r.Authorize(ctx, req), KindDenied, "a denying authorizer")
	})
}

func TestAuthorizeReadsResourceTagsOnlyForAuthorizersThatUseThem(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		az := &recordingAuthorizer{tags: true}
		f.r.authz = az
		_, err := f.r.CreateRepository(bg, regA, "tagged", func(r *Repository) { r.Tags = []ResourceTag{{Key: "env", Value: "prod"}} })
		must(t, err, "CreateRepository")
		req := AuthRequest{Action: "ecr:BatchGetImage", Resources: []Resource{RepositoryResource(regA, "tagged"), RepositoryResource(regA, "missing"), AnyResource(regA)}}
		must(t, f.r.Authorize(WithCaller(bg, Caller{Registry: regA, Principal: alice}), req), "Authorize")
		res := az.asked[0].Resources
		if res[0].Tags["env"] != "prod" || res[1].Tags != nil || res[2].Tags != nil {
			t.Fatalf("resource tags: %+v", res)
		}
		if req.Resources[0].Tags != nil {
			t.Fatal("Authorize changed the caller's request")
		}
	})
}

func TestAccountOfPrincipal(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::123456789012:root":                      "123456789012",
		"arn:aws:iam::123456789012:user/path/alice":           "123456789012",
		"arn:aws:sts::123456789012:assumed-role/ci/session-1": "123456789012",
		"arn:aws:iam::12345:root":                             "",
		"nobody":                                              "",
		"":                                                    "",
	} {
		if got := AccountOfPrincipal(arn); got != want {
			t.Errorf("AccountOfPrincipal(%q) = %q, want %q", arn, got, want)
		}
	}
	if !strings.HasPrefix(RepositoryARN(regA, "a/b"), "arn:aws:ecr:us-east-1:111111111111:repository/a/b") {
		t.Fatal(RepositoryARN(regA, "a/b"))
	}
}

// policyAuthorizer is a recordingAuthorizer that decides with policies.
type policyAuthorizer struct{ recordingAuthorizer }

func (*policyAuthorizer) UsesResourcePolicies() bool { return true }

func TestAuthorizeGivesAPolicyAuthorizerEachResourcesPoliciesAndScope(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		az := &policyAuthorizer{}
		f.r.authz = az
		const repoPolicy, regPolicy = `{"repo":1}`, `{"registry":1}`
		_, err := f.r.CreateRepository(bg, regA, "app", func(r *Repository) {
			r.Policy = repoPolicy
			r.Tags = []ResourceTag{{Key: "env", Value: "prod"}}
		})
		must(t, err, "CreateRepository")
		_, err = f.r.UpdateSettings(bg, regA, func(s *RegistrySettings) error {
			s.Policy = regPolicy
			s.Account = map[string]string{"REGISTRY_POLICY_SCOPE": "V1"}
			return nil
		})
		must(t, err, "UpdateSettings")
		req := AuthRequest{Action: "ecr:BatchGetImage", Resources: []Resource{RepositoryResource(regA, "app"), RepositoryResource(regA, "missing"), RepositoryResource(regB, "x")}}
		must(t, f.r.Authorize(WithCaller(bg, Caller{Registry: regA, Principal: alice}), req), "Authorize")
		res := az.asked[0].Resources
		if res[0].Policy != repoPolicy || res[0].Tags["env"] != "prod" || res[0].RegistryPolicy != regPolicy || res[0].RegistryPolicyScope != "V1" {
			t.Fatalf("existing repository: %+v", res[0])
		}
		// A missing repository has no policy and no tags, but its registry's
		// policy still applies; another registry has ECR's default scope.
		if res[1].Policy != "" || res[1].Tags != nil || res[1].RegistryPolicy != regPolicy {
			t.Fatalf("missing repository: %+v", res[1])
		}
		if res[2].RegistryPolicy != "" || res[2].RegistryPolicyScope != "V2" {
			t.Fatalf("another registry: %+v", res[2])
		}
		if req.Resources[0].Policy != "" {
			t.Fatal("Authorize changed the caller's request")
		}
	})
}

func TestAPolicyAuthorizerSeesAPolicyChangeAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		az := &policyAuthorizer{}
		f.r.authz = az
		_, err := f.r.CreateRepository(bg, regA, "app", func(r *Repository) { r.Policy = `{"v":1}` })
		must(t, err, "CreateRepository")
		ctx := WithCaller(bg, Caller{Registry: regA, Principal: alice})
		req := AuthRequest{Action: "ecr:BatchGetImage", Resources: []Resource{RepositoryResource(regA, "app")}}
		for i, want := range []string{`{"v":1}`, `{"v":1}`, `{"v":2}`, ``} {
			switch i {
			case 2:
				_, err = f.r.UpdateRepository(bg, regA, "app", func(r *Repository) error { r.Policy = `{"v":2}`; return nil })
				must(t, err, "UpdateRepository")
			case 3:
				_, err = f.r.DeleteRepository(bg, regA, "app", true)
				must(t, err, "DeleteRepository")
			}
			must(t, f.r.Authorize(ctx, req), "Authorize")
			if got := az.asked[len(az.asked)-1].Resources[0].Policy; got != want {
				t.Fatalf("decision %d saw policy %q, want %q", i+1, got, want)
			}
		}
		_, err = f.r.UpdateSettings(bg, regA, func(s *RegistrySettings) error { s.Policy = `{"registry":2}`; return nil })
		must(t, err, "UpdateSettings")
		must(t, f.r.Authorize(ctx, req), "Authorize")
		if got := az.asked[len(az.asked)-1].Resources[0].RegistryPolicy; got != `{"registry":2}` {
			t.Fatalf("registry policy %q after the change", got)
		}
	})
}

// pushBlobs is what a registry taking pushes writes between decisions: the
// links, references and session tombstones of small blobs.
func pushBlobs(t *testing.T, f *fixture, repo string, n int, tag string) {
	t.Helper()
	for i := range n {
		content := []byte(fmt.Sprintf("blob %s %d", tag, i))
		st, err := f.r.StartUpload(bg, regA, repo)
		must(t, err, "StartUpload")
		_, err = f.r.CompleteUpload(bg, regA, repo, st.ID, -1, bytes.NewReader(content), digest.FromBytes(content))
		must(t, err, "CompleteUpload")
	}
}

// What a decision's read remembers across writes to other buckets (the
// memory store's bucket versions) is never older than the last change of
// a policy or tag: decisions alternate with pushes and with changes, and
// run alongside both, and each must see the change committed before it
// began.
func TestAPolicyAuthorizerSeesChangesBetweenPushes(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		var mu sync.Mutex
		az := &policyAuthorizer{}
		f.r.authz = az
		_, err := f.r.CreateRepository(bg, regA, "app", func(r *Repository) { r.Policy = `{"v":0}` })
		must(t, err, "CreateRepository")
		ctx := WithCaller(bg, Caller{Registry: regA, Principal: alice})
		decide := func() (string, string, string) {
			t.Helper()
			mu.Lock()
			defer mu.Unlock()
			must(t, f.r.Authorize(ctx, AuthRequest{Action: "ecr:CompleteLayerUpload", Resources: []Resource{RepositoryResource(regA, "app")}}), "Authorize")
			res := az.asked[len(az.asked)-1].Resources[0]
			return res.Policy, res.RegistryPolicy, res.Tags["v"]
		}
		for i := 1; i <= 3; i++ {
			pushBlobs(t, f, "app", 2, fmt.Sprint(i))
			decide()
			pushBlobs(t, f, "app", 1, fmt.Sprint(i, "b"))
			v := fmt.Sprintf(`{"v":%d}`, i)
			_, err := f.r.UpdateRepository(bg, regA, "app", func(r *Repository) error {
				r.Policy, r.Tags = v, []ResourceTag{{Key: "v", Value: fmt.Sprint(i)}}
				return nil
			})
			must(t, err, "UpdateRepository")
			if p, _, tag := decide(); p != v || tag != fmt.Sprint(i) {
				t.Fatalf("after change %d and pushes, a decision saw policy %q and tag %q", i, p, tag)
			}
			rv := fmt.Sprintf(`{"registry":%d}`, i)
			_, err = f.r.UpdateSettings(bg, regA, func(s *RegistrySettings) error { s.Policy = rv; return nil })
			must(t, err, "UpdateSettings")
			if _, rp, _ := decide(); rp != rv {
				t.Fatalf("after registry change %d, a decision saw registry policy %q", i, rp)
			}
		}
		// Concurrently: a writer moves the policy forward and notes each
		// version once committed; pushers write elsewhere; deciders check
		// that a decision never sees a version older than the one noted
		// before it began.
		var committed atomic.Int64
		committed.Store(3)
		var wg sync.WaitGroup
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			for i := 4; i <= 40; i++ {
				if _, err := f.r.UpdateRepository(bg, regA, "app", func(r *Repository) error { r.Policy = fmt.Sprintf(`{"v":%d}`, i); return nil }); err != nil {
					t.Error(err)
					return
				}
				committed.Store(int64(i))
			}
		}()
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					default:
					}
					content := []byte(fmt.Sprintf("concurrent %d %d", g, i))
					st, err := f.r.StartUpload(bg, regA, "app")
					if err == nil {
						_, err = f.r.CompleteUpload(bg, regA, "app", st.ID, -1, bytes.NewReader(content), digest.FromBytes(content))
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					before := committed.Load()
					p, _, _ := decide()
					var got int64
					if _, err := fmt.Sscanf(p, `{"v":%d}`, &got); err != nil || got < before {
						t.Errorf("decider %d: a decision begun after version %d was committed saw policy %q", g, before, p)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}
