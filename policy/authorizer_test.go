package policy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
)

// directory is a Principals of fixed identities.
type directory map[string]Principal

func (d directory) Principal(arn string) (Principal, bool) {
	p, ok := d[arn]
	return p, ok
}

var (
	regA     = core.RegistryID{Account: acctA, Region: "us-east-1"}
	clockNow = time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)
)

func newTestAuthorizer(p Principals, log *bytes.Buffer) *Authorizer {
	var logger *slog.Logger
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		logger = slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	}
	return NewAuthorizer(p, AuthorizerOptions{Log: logger, Now: func() time.Time { return clockNow }, Keep: 3})
}

func authRequest(principal, action string, res ...core.Resource) core.AuthRequest {
	return core.AuthRequest{Principal: principal, PrincipalAccount: core.AccountOfPrincipal(principal), Action: action, Resources: res}
}

func repo(policy string) core.Resource {
	r := core.RepositoryResource(regA, "app")
	r.Policy = policy
	return r
}

func wantDenied(t *testing.T, err error, message string) {
	t.Helper()
	if core.KindOf(err) != core.KindDenied {
		t.Fatalf("got %v, want a denial", err)
	}
	if err.Error() != message {
		t.Fatalf("message\n got %q\nwant %q", err.Error(), message)
	}
}

// Without an IAM configuration each account's root may do anything in its
// own account and nothing in another's.
func TestAuthorizerRootsOnlyKeepsTheAccountBoundary(t *testing.T) {
	a := newTestAuthorizer(nil, nil)
	ctx := context.Background()
	if err := a.Authorize(ctx, authRequest(rootA.ARN, "ecr:PutImage", repo(""))); err != nil {
		t.Fatalf("own account: %v", err)
	}
	err := a.Authorize(ctx, authRequest(rootB.ARN, "ecr:BatchGetImage", repo("")))
	wantDenied(t, err, "User: arn:aws:iam::222222222222:root is not authorized to perform: ecr:BatchGetImage on resource: "+repoARN+" because no resource-based policy allows the ecr:BatchGetImage action")
}

// The wording of each denial, as AWS's AccessDeniedException words it.
func TestAuthorizerDenialWording(t *testing.T) {
	denyAll := `{"Statement":[{"Sid":"NoPush","Effect":"Deny","Principal":"*","Action":"ecr:PutImage"}]}`
	identityDeny := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"},{"Effect":"Deny","Action":"ecr:BatchGetImage","Resource":"*"}]}`
	dir := directory{
		"arn:aws:iam::111111111111:user/alice": user(acctA, "alice"),
		"arn:aws:iam::111111111111:user/carol": user(acctA, "carol", identityDeny),
	}
	a := newTestAuthorizer(dir, nil)
	ctx := context.Background()
	alice, carol := "arn:aws:iam::111111111111:user/alice", "arn:aws:iam::111111111111:user/carol"
	wantDenied(t, a.Authorize(ctx, authRequest(alice, "ecr:BatchGetImage", repo(""))),
		"User: "+alice+" is not authorized to perform: ecr:BatchGetImage on resource: "+repoARN+" because no identity-based policy allows the ecr:BatchGetImage action")
	wantDenied(t, a.Authorize(ctx, authRequest(rootA.ARN, "ecr:PutImage", repo(denyAll))),
		"User: "+rootA.ARN+" is not authorized to perform: ecr:PutImage on resource: "+repoARN+" with an explicit deny in a resource-based policy")
	wantDenied(t, a.Authorize(ctx, authRequest(carol, "ecr:BatchGetImage", repo(""))),
		"User: "+carol+" is not authorized to perform: ecr:BatchGetImage on resource: "+repoARN+" with an explicit deny in an identity-based policy")
	if err := a.Authorize(ctx, authRequest(carol, "ecr:PutImage", repo(""))); err != nil {
		t.Fatalf("carol may push: %v", err)
	}
}

// Each resource is decided; the first denial is the answer.
func TestAuthorizerDecidesEveryResource(t *testing.T) {
	a := newTestAuthorizer(nil, nil)
	other := core.RepositoryResource(core.RegistryID{Account: acctB, Region: "us-east-1"}, "x")
	err := a.Authorize(context.Background(), authRequest(rootA.ARN, "ecr:BatchGetImage", repo(""), other))
	if core.KindOf(err) != core.KindDenied || !strings.Contains(err.Error(), other.ARN) {
		t.Fatalf("got %v, want a denial naming %s", err, other.ARN)
	}
	if n := len(a.Decisions()); n != 2 {
		t.Fatalf("%d decisions recorded, want 2", n)
	}
}

// An unknown user has no identity policies; an assumed-role session still
// matches a grant to its role.
func TestAuthorizerUnknownPrincipals(t *testing.T) {
	policy := `{"Statement":[{"Sid":"CI","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/ci"},"Action":"ecr:BatchGetImage"}]}`
	a := newTestAuthorizer(directory{}, nil)
	ctx := context.Background()
	session := "arn:aws:sts::111111111111:assumed-role/ci/build-42"
	if err := a.Authorize(ctx, authRequest(session, "ecr:BatchGetImage", repo(policy))); err != nil {
		t.Fatalf("role session: %v", err)
	}
	if err := a.Authorize(ctx, authRequest("arn:aws:iam::111111111111:user/ghost", "ecr:BatchGetImage", repo(""))); core.KindOf(err) != core.KindDenied {
		t.Fatalf("unknown user: %v", err)
	}
}

// GetAuthorizationToken is decided by identity policies alone, whatever
// registry's "*" it is asked about.
func TestAuthorizerGetAuthorizationTokenByIdentityAlone(t *testing.T) {
	token := `{"Version":"2012-10-17","Statement":[{"Sid":"Token","Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}]}`
	dir := directory{"arn:aws:iam::222222222222:user/bob": user(acctB, "bob", token), "arn:aws:iam::222222222222:user/eve": user(acctB, "eve")}
	a := newTestAuthorizer(dir, nil)
	ctx := context.Background()
	star := core.AnyResource(regA)
	star.RegistryPolicy = `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:*","Resource":"*"}]}`
	if err := a.Authorize(ctx, authRequest("arn:aws:iam::222222222222:user/bob", "ecr:GetAuthorizationToken", star)); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if err := a.Authorize(ctx, authRequest(rootB.ARN, "ecr:GetAuthorizationToken", star)); err != nil {
		t.Fatalf("root: %v", err)
	}
	wantDenied(t, a.Authorize(ctx, authRequest("arn:aws:iam::222222222222:user/eve", "ecr:GetAuthorizationToken", star)),
		"User: arn:aws:iam::222222222222:user/eve is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action")
}

// The request's own keys reach conditions: source address, transport,
// the injected clock, request tags, tag keys and service keys.
func TestAuthorizerRequestContextKeys(t *testing.T) {
	a := newTestAuthorizer(nil, nil)
	ctx := context.Background()
	for name, c := range map[string]struct {
		condition string
		req       func(*core.AuthRequest)
		allowed   bool
	}{
		"source ip in range":      {`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, func(r *core.AuthRequest) { r.SourceIP = "10.1.2.3" }, true},
		"source ip out of range":  {`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, func(r *core.AuthRequest) { r.SourceIP = "192.0.2.1" }, false},
		"secure transport":        {`{"Bool":{"aws:SecureTransport":"true"}}`, func(r *core.AuthRequest) { r.SecureTransport = true }, true},
		"insecure transport":      {`{"Bool":{"aws:SecureTransport":"true"}}`, func(r *core.AuthRequest) {}, false},
		"current time before":     {`{"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}`, func(r *core.AuthRequest) {}, true},
		"current time after":      {`{"DateGreaterThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}`, func(r *core.AuthRequest) {}, false},
		"epoch time":              {`{"NumericEquals":{"aws:EpochTime":"1796144400"}}`, func(r *core.AuthRequest) {}, true},
		"request tag":             {`{"StringEquals":{"aws:RequestTag/Team":"blue"}}`, func(r *core.AuthRequest) { r.RequestTags = map[string]string{"team": "blue"} }, true},
		"request tag other value": {`{"StringEquals":{"aws:RequestTag/team":"blue"}}`, func(r *core.AuthRequest) { r.RequestTags = map[string]string{"team": "red"} }, false},
		"tag keys all allowed":    {`{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}`, func(r *core.AuthRequest) { r.TagKeys = []string{"team"} }, true},
		"tag keys one not":        {`{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}`, func(r *core.AuthRequest) { r.TagKeys = []string{"team", "owner"} }, false},
		"not a service":           {`{"Bool":{"aws:PrincipalIsAWSService":"false"}}`, func(r *core.AuthRequest) {}, true},
		"requested region":        {`{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}`, func(r *core.AuthRequest) {}, true},
		"other requested region":  {`{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}`, func(r *core.AuthRequest) {}, false},
		"service key": {`{"StringEquals":{"ecr:AccountSetting":"BASIC_SCAN_TYPE_VERSION"}}`, func(r *core.AuthRequest) {
			r.Context = map[string]string{"ecr:AccountSetting": "BASIC_SCAN_TYPE_VERSION"}
		}, true},
	} {
		policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage","Condition":` + c.condition + `}]}`
		req := authRequest(rootB.ARN, "ecr:BatchGetImage", repo(policy))
		c.req(&req)
		err := a.Authorize(ctx, req)
		if (err == nil) != c.allowed {
			t.Errorf("%s: got %v, want allowed=%t", name, err, c.allowed)
		}
	}
}

// Decisions keeps the last Keep decisions, oldest first, and each decision
// is logged with the deciding statements: denials at Info, allows at Debug.
func TestAuthorizerRecordsAndLogsDecisions(t *testing.T) {
	var log bytes.Buffer
	a := newTestAuthorizer(nil, &log)
	ctx := context.Background()
	policy := `{"Statement":[{"Sid":"BPull","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage"}]}`
	for _, action := range []string{"ecr:ListImages", "ecr:DescribeImages", "ecr:BatchGetImage", "ecr:PutImage"} {
		_ = a.Authorize(ctx, authRequest(rootB.ARN, action, repo(policy)))
	}
	got := a.Decisions()
	if len(got) != 3 || got[0].Action != "ecr:DescribeImages" || got[2].Action != "ecr:PutImage" {
		t.Fatalf("decisions %+v", got)
	}
	pull := got[1]
	if pull.Effect != Allow || len(pull.Sids) != 1 || pull.Sids[0] != "BPull" || !pull.Time.Equal(clockNow) || pull.Principal != rootB.ARN || pull.Resource != repoARN {
		t.Fatalf("pull decision %+v", pull)
	}
	if got[2].Effect != ImplicitDeny || got[2].Reason != "because no resource-based policy allows the ecr:PutImage action" {
		t.Fatalf("push decision %+v", got[2])
	}
	lines := strings.Split(log.String(), "\n")
	for i, want := range map[int][]string{
		2: {"level=DEBUG", "principal=" + rootB.ARN, "action=ecr:BatchGetImage", "resource=" + repoARN, "effect=Allow", "sids=[BPull]"},
		3: {"level=INFO", "action=ecr:PutImage", "effect=ImplicitDeny", `reason="because no resource-based policy allows the ecr:PutImage action"`},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("log line %q lacks %q", lines[i], w)
			}
		}
	}
}

func TestAuthorizerUsesResourcePolicies(t *testing.T) {
	if !newTestAuthorizer(nil, nil).UsesResourcePolicies() {
		t.Fatal("core must fill policies for this authorizer")
	}
}

// RootsOnly knows exactly the account roots.
func TestRootsOnlyKnowsAccountRootsOnly(t *testing.T) {
	p, ok := RootsOnly{}.Principal("arn:aws:iam::123456789012:root")
	if !ok || !p.Root() || p.Account != "123456789012" || p.UserID != "123456789012" {
		t.Fatalf("root: %+v %v", p, ok)
	}
	for _, arn := range []string{"arn:aws:iam::123456789012:user/alice", "arn:aws:iam::12345:root", "arn:aws:sts::123456789012:assumed-role/r/s", ""} {
		if p, ok := (RootsOnly{}).Principal(arn); ok || p.Root() {
			t.Errorf("%q resolved to %+v", arn, p)
		}
	}
}

// The request context shared between requests is always the request's own:
// a change of address, region, transport or second builds it again.
func TestRequestKeysAreEachRequestsOwn(t *testing.T) {
	a := NewAuthorizer(nil, AuthorizerOptions{})
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	req := core.AuthRequest{SourceIP: "10.0.0.1", Resources: []core.Resource{{Registry: core.RegistryID{Account: "111111111111", Region: "us-east-1"}}}}
	check := func(req core.AuthRequest, now time.Time) {
		t.Helper()
		got, want := a.requestKeys(req, now), requestContext(req, a.timeKeys(now))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("requestKeys = %v, want %v", got, want)
		}
	}
	check(req, t0)
	check(req, t0.Add(500*time.Millisecond))
	check(req, t0.Add(time.Second))
	req.SourceIP = "10.0.0.2"
	check(req, t0.Add(time.Second))
	req.SecureTransport = true
	check(req, t0.Add(time.Second))
	req.Resources[0].Registry.Region = "eu-west-1"
	check(req, t0.Add(time.Second))
	req.Context = map[string]string{"ecr:AccountSetting": "BASIC_SCAN_TYPE_VERSION"}
	check(req, t0.Add(time.Second))
}

// Each caller is resolved once and kept: requests of several callers,
// interleaved, are each decided as that caller, the same as a fresh
// Authorizer decides them one by one.
func TestAuthorizerKeepsEachCallersOwnIdentity(t *testing.T) {
	identityDeny := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"},{"Effect":"Deny","Action":"ecr:BatchGetImage","Resource":"*"}]}`
	alice, carol := "arn:aws:iam::111111111111:user/alice", "arn:aws:iam::111111111111:user/carol"
	dir := directory{alice: user(acctA, "alice"), carol: user(acctA, "carol", identityDeny)}
	kept := newTestAuthorizer(dir, nil)
	ctx := context.Background()
	callers := []string{rootA.ARN, alice, carol, rootB.ARN}
	actions := []string{"ecr:BatchGetImage", "ecr:PutImage"}
	for i := range 40 {
		caller, action := callers[(i*7)%len(callers)], actions[i%len(actions)]
		req := authRequest(caller, action, repo(""))
		got := kept.Authorize(ctx, req)
		want := newTestAuthorizer(dir, nil).Authorize(ctx, req)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("request %d (%s, %s): %v, want %v", i, caller, action, got, want)
		}
	}
}

// A question asked again with the same inputs is answered as before (and
// recorded each time); a change of any one input — the policy's text, the
// resource's tags, a request key, the principal, the action — is decided
// anew.
func TestAuthorizerDecidesAgainWhenAnyInputChanges(t *testing.T) {
	bob := "arn:aws:iam::111111111111:user/bob"
	a := newTestAuthorizer(directory{bob: user(acctA, "bob")}, nil)
	ctx := context.Background()
	allowBob := `{"Statement":[{"Sid":"Bob","Effect":"Allow","Principal":{"AWS":"` + bob + `"},"Action":"ecr:BatchGetImage",` +
		`"Condition":{"StringEquals":{"aws:ResourceTag/env":"prod"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`
	denyBob := strings.Replace(allowBob, `"Effect":"Allow"`, `"Effect":"Deny"`, 1)
	prod, dev := map[string]string{"env": "prod"}, map[string]string{"env": "dev"}
	ask := func(principal, action, policy string, tags map[string]string, ip string) error {
		res := repo(policy)
		res.Tags = tags
		req := authRequest(principal, action, res)
		req.SourceIP = ip
		return a.Authorize(ctx, req)
	}
	steps := []struct {
		what                      string
		principal, action, policy string
		tags                      map[string]string
		ip                        string
		allow                     bool
	}{
		{"first", bob, "ecr:BatchGetImage", allowBob, prod, "10.1.1.1", true},
		{"the same again", bob, "ecr:BatchGetImage", allowBob, prod, "10.1.1.1", true},
		{"the policy's text", bob, "ecr:BatchGetImage", denyBob, prod, "10.1.1.1", false},
		{"the text back", bob, "ecr:BatchGetImage", allowBob, prod, "10.1.1.1", true},
		{"the tags", bob, "ecr:BatchGetImage", allowBob, dev, "10.1.1.1", false},
		{"the tags back", bob, "ecr:BatchGetImage", allowBob, prod, "10.1.1.1", true},
		{"the source address", bob, "ecr:BatchGetImage", allowBob, prod, "192.168.1.1", false},
		{"the address back", bob, "ecr:BatchGetImage", allowBob, prod, "10.1.1.1", true},
		{"the principal", "arn:aws:iam::111111111111:user/eve", "ecr:BatchGetImage", allowBob, prod, "10.1.1.1", false},
		{"the action", bob, "ecr:PutImage", allowBob, prod, "10.1.1.1", false},
		{"all back", bob, "ecr:BatchGetImage", allowBob, prod, "10.1.1.1", true},
	}
	for i, s := range steps {
		err := ask(s.principal, s.action, s.policy, s.tags, s.ip)
		if s.allow != (err == nil) {
			t.Fatalf("step %d (%s): got %v, want allowed %v", i, s.what, err, s.allow)
		}
		if err != nil && core.KindOf(err) != core.KindDenied {
			t.Fatalf("step %d (%s): %v", i, s.what, err)
		}
	}
	// Each request's decision is recorded, answered again or not (Keep: 3).
	if d := a.Decisions(); len(d) != 3 || d[2].Effect != Allow || d[1].Action != "ecr:PutImage" {
		t.Fatalf("decisions recorded: %+v", d)
	}
}
