package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A remembered decision is only reused for a question the policies cannot
// tell apart from the first: every request key they read is part of it.
func TestARememberedDecisionIsNotReusedWhenAKeyThePoliciesReadDiffers(t *testing.T) {
	e := NewEngine()
	repoPolicy := `{"Version":"2012-10-17","Statement":[{"Sid":"FromTheOffice","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage",
		"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"},"Null":{"aws:RequestTag/team":"true"}}}]}`
	ask := func(ctx map[string][]string) Effect {
		t.Helper()
		d, err := e.Decide(context.Background(), Request{
			Principal: Principal{ARN: "arn:aws:iam::222222222222:root", Account: "222222222222", Type: "Account", UserID: "222222222222"},
			Action:    "ecr:BatchGetImage", Resource: "arn:aws:ecr:us-east-1:111111111111:repository/app",
			ResourceAccount: "111111111111", ResourceRegion: "us-east-1", ResourcePolicy: repoPolicy, Context: ctx,
		})
		if err != nil {
			t.Fatal(err)
		}
		return d.Effect
	}
	office := map[string][]string{"aws:sourceip": {"10.1.2.3"}, "aws:currenttime": {"2026-12-01T00:00:00Z"}}
	for i, c := range []struct {
		ctx  map[string][]string
		want Effect
	}{
		{office, Allow},
		{office, Allow},
		{map[string][]string{"aws:sourceip": {"192.0.2.1"}, "aws:currenttime": {"2026-12-01T00:00:00Z"}}, ImplicitDeny},
		{map[string][]string{"aws:sourceip": {"10.1.2.3"}, "aws:currenttime": {"2027-02-01T00:00:00Z"}}, ImplicitDeny},
		{map[string][]string{"aws:sourceip": {"10.1.2.3"}, "aws:currenttime": {"2026-12-01T00:00:00Z"}, "aws:requesttag/team": {""}}, ImplicitDeny},
		{map[string][]string{"aws:SourceIp": {"192.0.2.1"}, "aws:currenttime": {"2026-12-01T00:00:00Z"}}, ImplicitDeny},
		{office, Allow},
	} {
		if got := ask(c.ctx); got != c.want {
			t.Errorf("question %d: %s, want %s", i+1, got, c.want)
		}
	}
}

func TestKeysNoPolicyReadsDoNotSeparateQuestions(t *testing.T) {
	e := NewEngine()
	r := Request{
		Principal: Principal{ARN: "arn:aws:iam::222222222222:root", Account: "222222222222", Type: "Account"},
		Action:    "ecr:BatchGetImage", Resource: "arn:aws:ecr:us-east-1:111111111111:repository/app", ResourceAccount: "111111111111",
		ResourcePolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`,
		Context:        map[string][]string{"aws:securetransport": {"true"}, "aws:currenttime": {"2026-12-01T00:00:00Z"}},
	}
	k1, ok1 := e.memoKey(r)
	r.Context = map[string][]string{"aws:securetransport": {"true"}, "aws:currenttime": {"2030-01-01T00:00:00Z"}}
	k2, ok2 := e.memoKey(r)
	if !ok1 || !ok2 || k1 != k2 {
		t.Fatal("a key no policy reads separated two questions")
	}
	r.Context["aws:securetransport"] = []string{"false"}
	if k3, _ := e.memoKey(r); k3 == k1 {
		t.Fatal("aws:SecureTransport, which the policy reads, did not separate two questions")
	}
	r.ResourceTags = map[string]string{"env": "prod"}
	if k4, _ := e.memoKey(r); k4 == k1 {
		t.Fatal("the resource's tags did not separate two questions")
	}
}

// The memo key is built without closures now; it must be the same bytes as
// before, for every kind of request (lengths and counts of one digit and of
// several, maps, policies read or not, keys of any case, absent keys).
func TestMemoKeyIsTheSameAsWhenBuiltWithClosures(t *testing.T) {
	e := NewEngine()
	rnd := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		return strings.Repeat("x", rnd.IntN(3)*rnd.IntN(60)) + strconv.Itoa(rnd.IntN(1000))
	}
	list := func() []string {
		var l []string
		for range rnd.IntN(3) * rnd.IntN(7) {
			l = append(l, str())
		}
		return l
	}
	tags := func() map[string]string {
		if rnd.IntN(2) == 0 {
			return nil
		}
		m := map[string]string{}
		for range rnd.IntN(14) {
			m[str()] = str()
		}
		return m
	}
	policies := []string{"",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":"true"}}}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:PrincipalTag/team}"}}}]}`,
	}
	identity := []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"StringLike":{"aws:RequestTag/env":"prod*"}}}]}`}
	for i := range 2000 {
		r := Request{
			Principal: Principal{ARN: str(), Account: str(), Type: str(), RoleARN: str(), UserID: str(), Username: str(), OrgID: str(),
				OrgPaths: list(), Tags: tags()},
			Action: str(), Resource: str(), ResourceAccount: str(), ResourceRegion: str(), RegistryPolicyScope: str(),
			ResourceTags: tags(), ResourcePolicy: policies[rnd.IntN(len(policies))], RegistryPolicy: policies[rnd.IntN(len(policies))],
		}
		if rnd.IntN(3) == 0 {
			r.Principal.Policies = identity
		}
		r.Context = map[string][]string{}
		for _, k := range []string{"aws:sourceip", "AWS:SecureTransport", "aws:requesttag/env", "aws:principaltag/team"} {
			if rnd.IntN(3) > 0 {
				r.Context[k] = list()
			}
		}
		got, gotOK := e.appendMemoKey(nil, r)
		want, wantOK := e.appendMemoKeyByClosures(nil, r)
		if string(got) != string(want) || gotOK != wantOK {
			t.Fatalf("request %d: key %q (%v), want %q (%v)", i, got, gotOK, want, wantOK)
		}
		// The same key from the principal's part kept beforehand, as the
		// Authorizer keeps it per caller (decideFor).
		pk := e.principalKeyOf(&r.Principal)
		keysBefore := slices.Clone(pk.keys)
		if !pk.ok {
			if wantOK {
				t.Fatalf("request %d: principal's part not memoizable, the whole key is", i)
			}
			continue
		}
		kept, keptOK := e.appendRequestKey(slices.Clone(pk.key), &r, slices.Clone(pk.keys))
		if string(kept) != string(want) || keptOK != wantOK {
			t.Fatalf("request %d: key from the principal's part %q (%v), want %q (%v)", i, kept, keptOK, want, wantOK)
		}
		if !slices.Equal(pk.keys, keysBefore) {
			t.Fatalf("request %d: the principal's keys changed: %q, were %q", i, pk.keys, keysBefore)
		}
	}
	if got, want := fmt.Sprint(appendCount(nil, 12345)), fmt.Sprint([]byte("5:12345")); got != want {
		t.Fatalf("appendCount(12345) = %s, want %s", got, want)
	}
}

// appendMemoKeyByClosures is appendMemoKey as first written: the oracle
// for the faster one.
func (e *Engine) appendMemoKeyByClosures(b []byte, r Request) ([]byte, bool) {
	field := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	fields := func(list []string) {
		field(strconv.Itoa(len(list)))
		for _, s := range list {
			field(s)
		}
	}
	sortedMap := func(m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		field(strconv.Itoa(len(keys)))
		for _, k := range keys {
			field(k)
			field(m[k])
		}
	}
	var keys []string
	policy := func(text string, kind Kind) bool {
		if text == "" {
			field("")
			return true
		}
		c := e.compile(text, kind)
		if c.err != nil || c.allContext {
			return false
		}
		field(c.id)
		keys = append(keys, c.contextKeys...)
		return true
	}
	p := r.Principal
	fields([]string{p.ARN, p.Account, p.Type, p.RoleARN, p.UserID, p.Username, p.OrgID})
	fields(p.OrgPaths)
	sortedMap(p.Tags)
	field(strconv.Itoa(len(p.Policies)))
	for _, text := range p.Policies {
		if !policy(text, Identity) {
			return b, false
		}
	}
	fields([]string{r.Action, r.Resource, r.ResourceAccount, r.ResourceRegion, r.RegistryPolicyScope})
	sortedMap(r.ResourceTags)
	if !policy(r.ResourcePolicy, Repository) || !policy(r.RegistryPolicy, Registry) {
		return b, false
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range keys {
		field(k)
		v, ok := r.Context[k]
		if !ok {
			// Context names may come in any case.
			for name, vals := range r.Context {
				if strings.EqualFold(name, k) {
					v, ok = vals, true
					break
				}
			}
		}
		if !ok {
			field("-") // absent, which Null and ...IfExists tell from empty
			continue
		}
		field("+")
		fields(v)
	}
	return b, true
}
