package policy

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

const (
	acctA = "111111111111" // owns the registry
	acctB = "222222222222" // another account
)

var (
	repoARN = "arn:aws:ecr:us-east-1:" + acctA + ":repository/app"
	rootA   = Principal{ARN: "arn:aws:iam::" + acctA + ":root", Account: acctA, Type: "Account"}
	rootB   = Principal{ARN: "arn:aws:iam::" + acctB + ":root", Account: acctB, Type: "Account"}
)

func user(account, name string, policies ...string) Principal {
	return Principal{ARN: "arn:aws:iam::" + account + ":user/" + name, Account: account, Type: "User",
		UserID: "AIDA" + name, Username: name, Policies: policies}
}

func pull(p Principal, repoPolicy string) Request {
	return Request{Principal: p, Action: "ecr:BatchGetImage", Resource: repoARN, ResourceAccount: acctA,
		ResourceRegion: "us-east-1", ResourcePolicy: repoPolicy}
}

func decide(t *testing.T, e *Engine, r Request) Decision {
	t.Helper()
	d, err := e.Decide(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEngineRootAllowedInOwnAccountWithoutPolicies(t *testing.T) {
	d := decide(t, NewEngine(), pull(rootA, ""))
	if d.Effect != Allow || d.Reason != "" {
		t.Fatalf("got %+v", d)
	}
}

func TestEngineCrossAccountDeniedWithoutRepositoryPolicy(t *testing.T) {
	d := decide(t, NewEngine(), pull(rootB, ""))
	want := Decision{Effect: ImplicitDeny, Reason: "because no resource-based policy allows the ecr:BatchGetImage action"}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("got %+v, want %+v", d, want)
	}
}

func TestEngineCrossAccountAllowedByRepositoryPolicyNamingTheAccount(t *testing.T) {
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"B pulls","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctB + `:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	e := NewEngine()
	d := decide(t, e, pull(rootB, policy))
	if d.Effect != Allow || !reflect.DeepEqual(d.Sids, []string{"B pulls"}) {
		t.Fatalf("pull: got %+v", d)
	}
	push := pull(rootB, policy)
	push.Action = "ecr:PutImage"
	if d := decide(t, e, push); d.Effect != ImplicitDeny {
		t.Fatalf("push: got %+v", d)
	}
}

func TestEngineExplicitDenyInRepositoryPolicyBeatsRoot(t *testing.T) {
	policy := `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:*"}]}`
	d := decide(t, NewEngine(), pull(rootA, policy))
	want := Decision{Effect: ExplicitDeny, Sids: []string{"statement 1"}, Reason: "with an explicit deny in a resource-based policy"}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("got %+v, want %+v", d, want)
	}
}

func TestEngineUserNeedsIdentityPolicyInOwnAccount(t *testing.T) {
	e := NewEngine()
	if d := decide(t, e, pull(user(acctA, "alice"), "")); d.Effect != ImplicitDeny || d.Reason != "because no identity-based policy allows the ecr:BatchGetImage action" {
		t.Fatalf("no policy: got %+v", d)
	}
	identity := `{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Action":"ecr:BatchGet*","Resource":"arn:aws:ecr:*:` + acctA + `:repository/*"}]}`
	if d := decide(t, e, pull(user(acctA, "alice", identity), "")); d.Effect != Allow || !reflect.DeepEqual(d.Sids, []string{"Pull"}) {
		t.Fatalf("with policy: got %+v", d)
	}
}

// The input document has the shape rego/README.md documents: identity
// and resource policies by id, keys lower-cased.
func TestEngineInputShape(t *testing.T) {
	e := NewEngine()
	p := user(acctB, "bob", pullAll)
	p.Tags = map[string]string{"team": "a"}
	p.OrgID, p.OrgPaths = "o-1", []string{"o-1/r-1/"}
	in, err := e.Input(Request{Principal: p, Action: "ecr:BatchGetImage", Resource: repoARN, ResourceAccount: acctA, ResourceRegion: "us-east-1",
		ResourceTags: map[string]string{"env": "prod"}, ResourcePolicy: allowB, Context: map[string][]string{"AWS:SourceIp": {"10.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"action": "ecr:BatchGetImage", "action_lc": "ecr:batchgetimage",
		"principal": map[string]any{"arn": p.ARN, "account": acctB, "type": "User", "role_arn": "", "userid": "AIDAbob", "username": "bob",
			"tags": map[string]any{"team": "a"}, "org_id": "o-1", "org_paths": []any{"o-1/r-1/"}, "policies": []any{ID(pullAll, Identity)}},
		"resource": map[string]any{"arn": repoARN, "account": acctA, "region": "us-east-1", "tags": map[string]any{"env": "prod"},
			"policy": ID(allowB, Repository), "registry_policy": "", "registry_policy_scope": "V2"},
		"context": map[string]any{"aws:sourceip": []any{"10.0.0.1"}},
	}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("input\n got %#v\nwant %#v", in, want)
	}
}

func TestEngineInvalidPolicyIsAnError(t *testing.T) {
	_, err := NewEngine().Decide(context.Background(), pull(rootB, `{"Statement":[{"Effect":"Allow"}]}`))
	if err == nil {
		t.Fatal("decided with an invalid repository policy")
	}
}

// The engine keeps at most its bound of policy texts: the ones not used
// recently are dropped, and one dropped and seen again decides as before.
func TestEngineBoundsPolicyTexts(t *testing.T) {
	e := newEngine(8)
	ctx := context.Background()
	policy := func(i int) string {
		return `{"Statement":[{"Sid":"S` + strconv.Itoa(i) + `","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage"}]}`
	}
	for i := range 20 {
		d, err := e.Decide(ctx, pull(rootB, policy(i)))
		if err != nil || d.Effect != Allow || d.Sids[0] != "S"+strconv.Itoa(i) {
			t.Fatalf("policy %d: %+v %v", i, d, err)
		}
		e.mu.RLock()
		n := len(e.policies)
		e.mu.RUnlock()
		if n > 9 {
			t.Fatalf("after %d policies the engine holds %d", i+1, n)
		}
	}
	// Invalid texts are remembered with their error, within the same bound.
	for i := range 20 {
		if _, err := e.Decide(ctx, pull(rootB, `{"Statement":[{"Sid":"`+strconv.Itoa(i)+`"}]}`)); err == nil {
			t.Fatal("decided with an invalid policy")
		}
	}
	e.mu.RLock()
	n := len(e.policies)
	e.mu.RUnlock()
	if n > 8 {
		t.Fatalf("after invalid policies the engine holds %d", n)
	}
	if w := e.world.Load(); len(w.ids) > 9 {
		t.Fatalf("world holds %d modules", len(w.ids))
	}
	d, err := e.Decide(ctx, pull(rootB, policy(0)))
	if err != nil || d.Effect != Allow || d.Sids[0] != "S0" {
		t.Fatalf("evicted policy seen again: %+v %v", d, err)
	}
}

// Decisions run concurrently with new policies arriving.
func TestEngineConcurrentDecisions(t *testing.T) {
	e := NewEngine()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				sid := "G" + strconv.Itoa(g) + "P" + strconv.Itoa(i)
				text := `{"Statement":[{"Sid":"` + sid + `","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage"}]}`
				d, err := e.Decide(context.Background(), pull(rootB, text))
				if err == nil && (d.Effect != Allow || d.Sids[0] != sid) {
					err = fmt.Errorf("%s: %+v", sid, d)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A policy module OPA refuses fails the decisions that need it, and only
// those.
func TestEngineRejectedModuleFailsOnlyItsDecisions(t *testing.T) {
	e := NewEngine()
	broken := `{"Statement":[{"Sid":"Broken","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`
	id := ID(broken, Repository)
	m, err := ast.ParseModuleWithOpts(id, "package berth.policies."+id+"\nimport data.berth.iam\nmatch contains 1 if iam.no_such_function(1)\n", ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	e.policies[policyKey{Repository, broken}] = &compiled{id: id, module: m}
	if _, err := e.Decide(context.Background(), pull(rootB, broken)); err == nil || !strings.Contains(err.Error(), id) {
		t.Fatalf("decision with the broken module: %v", err)
	}
	if d, err := e.Decide(context.Background(), pull(rootB, allowB)); err != nil || d.Effect != Allow {
		t.Fatalf("other policy: %+v %v", d, err)
	}
	if _, err := e.Decide(context.Background(), pull(rootB, broken)); err == nil {
		t.Fatal("the broken module decided the second time")
	}
}
