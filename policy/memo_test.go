package policy

import (
	"context"
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
	if !ok1 || !ok2 || string(k1) != string(k2) {
		t.Fatal("a key no policy reads separated two questions")
	}
	r.Context["aws:securetransport"] = []string{"false"}
	if k3, _ := e.memoKey(r); string(k3) == string(k1) {
		t.Fatal("aws:SecureTransport, which the policy reads, did not separate two questions")
	}
	r.ResourceTags = map[string]string{"env": "prod"}
	if k4, _ := e.memoKey(r); string(k4) == string(k1) {
		t.Fatal("the resource's tags did not separate two questions")
	}
}
