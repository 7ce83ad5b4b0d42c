package policy

import (
	"context"
	"reflect"
	"testing"
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
