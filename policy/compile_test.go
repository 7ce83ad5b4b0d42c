package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

func parseModule(t *testing.T, src string) *ast.Module {
	t.Helper()
	m, err := ast.ParseModuleWithOpts("test.rego", src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return m
}

func TestCompileIDIsContentAndKind(t *testing.T) {
	id, _, err := Compile(allowB, Repository)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^p_[0-9a-f]{20}$`).MatchString(id) {
		t.Fatalf("id %q", id)
	}
	if id != ID(allowB, Repository) || id == ID(allowB, Registry) || id == ID(allowB+" ", Repository) {
		t.Fatal("id must depend on exactly the text and the kind")
	}
}

// Every rule starts with equality on the lower-cased action and, in
// resource policies, on the principal's account: what OPA's rule index
// needs to pick the few rules that can match.
func TestCompileRulesBeginWithActionThenAccount(t *testing.T) {
	id, src, err := Compile(stmt(`{"Sid":"S","Effect":"Allow","Principal":{"AWS":["222222222222","arn:aws:iam::333333333333:user/u"]},"Action":["ecr:BatchGet*","ECR:PutImage"],"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}`), Repository)
	if err != nil {
		t.Fatal(err)
	}
	m := parseModule(t, src)
	if got := m.Package.Path.String(); got != "data.berth.policies."+id {
		t.Fatalf("package %s", got)
	}
	// 3 actions (BatchGetImage, BatchGetRepositoryScanningConfiguration, PutImage) × 2 principals.
	if len(m.Rules) != 6 {
		t.Fatalf("%d rules, want 6:\n%s", len(m.Rules), src)
	}
	action := regexp.MustCompile(`^equal\(input\.action_lc, "ecr:[a-z]+"\)$`)
	account := regexp.MustCompile(`^equal\(input\.principal\.account, "(222222222222|333333333333)"\)$`)
	for _, r := range m.Rules {
		if r.Head.Name.String() != "match" && r.Head.Ref().String() != "match" {
			t.Fatalf("rule %s", r.Head)
		}
		if !action.MatchString(r.Body[0].String()) || !account.MatchString(r.Body[1].String()) {
			t.Fatalf("rule body starts %s; %s", r.Body[0], r.Body[1])
		}
	}
}

func TestCompileExpandsActionsCaseInsensitivelyAgainstECR(t *testing.T) {
	for pattern, want := range map[string][]string{
		"ecr:BatchGetImage":   {"ecr:batchgetimage"},
		"ECR:batchgetimage":   {"ecr:batchgetimage"},
		"ecr:*LayerUpload":    {"ecr:completelayerupload", "ecr:initiatelayerupload"},
		"ecr:Get?uthor*":      {"ecr:getauthorizationtoken"},
		"ecr:Replicate*":      {"ecr:replicateimage"},
		"s3:*":                nil,
		"ecr:NoSuchOperation": nil,
	} {
		got := expandActions([]string{pattern})
		if fmt.Sprint(got) != fmt.Sprint(want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: %q, want %q", pattern, got, want)
		}
	}
	if n := len(expandActions([]string{"*"})); n != len(ecrActions) || n != 60 {
		t.Errorf("* expands to %d actions, want all %d (58 operations + 2 permission-only)", n, len(ecrActions))
	}
}

// A policy's strings reach the module only as string literals: a hostile
// Sid, principal, action, resource, condition key or value adds no Rego.
func TestCompileEscapesEveryPolicyString(t *testing.T) {
	hostile := []string{
		`x"} if { true } match contains {"sid": "pwn`,
		"x\"\nallow := true\n#",
		`\" + input.action + \"`,
		"\u2028\u2029\x00\x1f",
		"` raw `",
		`${aws:username} }`,
	}
	for _, h := range hostile {
		q := strings.TrimSuffix(strings.TrimPrefix(mustJSON(h), `"`), `"`)
		text := stmt(`{"Sid":"` + q + `","Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"arn:aws:ecr:*:*:repository/` + q + `","Condition":{"StringEquals":{"aws:RequestTag/` + q + `":["` + q + `"]},"StringLike":{"ecr:x":"` + q + `*"},"NumericEquals":{"ecr:n":"` + q + `"}}}`)
		_, src, err := Compile(text, Identity)
		if err != nil {
			t.Fatalf("%q: %v", h, err)
		}
		m := parseModule(t, src)
		if len(m.Rules) != 1 {
			t.Fatalf("%q: %d rules:\n%s", h, len(m.Rules), src)
		}
		sid := m.Rules[0].Head.Key.Value.(ast.Object).Get(ast.StringTerm("sid"))
		if sid == nil || sid.Value.Compare(ast.String(h)) != 0 {
			t.Fatalf("%q: sid became %v", h, sid)
		}
		// The world compiles and evaluates with the hostile policy in it.
		p := user(acctA, "alice", text)
		d, err := NewEngine().Decide(context.Background(), Request{Principal: p, Action: "ecr:BatchGetImage", Resource: "arn:aws:ecr:us-east-1:111111111111:repository/" + h, ResourceAccount: acctA,
			Context: map[string][]string{"aws:requesttag/" + strings.ToLower(h): {h}, "ecr:x": {h + "tail"}, "ecr:n": {"1"}}})
		if err != nil {
			t.Fatalf("%q: %v", h, err)
		}
		if d.Effect != ImplicitDeny {
			t.Fatalf("%q: %+v", h, d)
		}
	}
	// Hostile principals are refused by the grammar before compiling.
	if _, _, err := Compile(stmt(`{"Effect":"Allow","Principal":{"AWS":"x\"} allow"},"Action":"ecr:*"}`), Repository); err == nil {
		t.Fatal("accepted a malformed principal")
	}
}

func mustJSON(s string) string {
	return quote(s)
}

func TestCompileRejectsUnknownConditionOperators(t *testing.T) {
	for _, op := range []string{"StringEqualz", "ForSomeValues:StringEquals", "NullIfExists", "ForAnyValue:Null"} {
		text := stmt(`{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"` + op + `":{"aws:username":"x"}}}`)
		if _, _, err := Compile(text, Repository); err == nil {
			t.Errorf("%s accepted", op)
		}
		if _, err := Parse(text, Repository); err == nil {
			t.Errorf("Parse accepted %s", op)
		}
	}
	for _, op := range []string{"StringEquals", "ForAnyValue:StringLike", "ForAllValues:ArnNotLikeIfExists", "stringequals", "Null", "DateLessThanEqualsIfExists"} {
		text := stmt(`{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"` + op + `":{"aws:username":"x"}}}`)
		if _, _, err := Compile(text, Repository); err != nil {
			t.Errorf("%s: %v", op, err)
		}
	}
}

// The specialised forms the compiler picks for common conditions and
// resources decide as the library's generic operator does, on random
// policies and requests.
func TestCompiledSpecialisedFormsAgreeWithGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	ops := []string{"StringEquals", "StringLike", "ArnLike", "ArnEquals", "ForAnyValue:StringEquals", "ForAnyValue:StringLike", "StringNotEquals", "StringEqualsIfExists"}
	vals := []string{"", "bob", "a", "a*", "b", "arn:aws:iam::222222222222:user/*", "arn:aws:iam::*:user/bob", "*", "o-1", "[x]", "{a,b}"}
	keys := []string{"aws:PrincipalArn", "aws:PrincipalOrgID", "ecr:k", "aws:PrincipalTag/team", "aws:username"}
	resources := []string{"*", repoARN, "arn:aws:ecr:*:111111111111:repository/a*", "arn:aws:ecr:us-east-1:111111111111:repository/x", "arn:aws:ecr:*:*:repository/ap?"}
	type testCase struct {
		text string
		r    Request
	}
	var cases []testCase
	for range 60 {
		text := stmt(fmt.Sprintf(`{"Effect":"Allow","Action":"ecr:*","Resource":["%s","%s"],"Condition":{"%s":{"%s":["%s","%s"]}}}`,
			pick(resources...), pick(resources...), pick(ops...), pick(keys...), pick(vals...), pick(vals...)))
		p := bobB
		p.Account = acctA
		p.OrgID = pick("", "o-1", "a")
		p.Tags = map[string]string{"team": pick("a", "b", "[x]")}
		p.Policies = []string{text}
		cases = append(cases, testCase{text, Request{Principal: p, Action: "ecr:BatchGetImage", Resource: pick(repoARN, "arn:aws:ecr:us-east-1:111111111111:repository/x"), ResourceAccount: acctA,
			Context: map[string][]string{"ecr:k": {pick("a", "b", "{a,b}", "a*")}}}})
	}
	// One world each: every policy compiled before the first decision.
	specialised, generic := NewEngine(), NewEngine()
	var used []*compiled
	for _, c := range cases {
		_, u, err := specialised.input(c.r)
		if err != nil {
			t.Fatal(err)
		}
		used = append(used, u...)
		_, src, err := compile(c.text, Identity, true)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ast.ParseModuleWithOpts("generic", src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		generic.policies[policyKey{Identity, c.text}] = &compiled{id: ID(c.text, Identity), module: m}
	}
	if _, err := specialised.worldWith(context.Background(), used); err != nil {
		t.Fatal(err)
	}
	if _, err := generic.worldWith(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// Each policy against several requests: the worlds are the costly part.
	compared := 0
	for i, c := range cases {
		for range 4 {
			r := c.r
			r.Principal.OrgID = pick("", "o-1", "a")
			r.Principal.Tags = map[string]string{"team": pick("a", "b", "[x]")}
			r.Resource = pick(repoARN, "arn:aws:ecr:us-east-1:111111111111:repository/x")
			r.Context = map[string][]string{"ecr:k": {pick("a", "b", "{a,b}", "a*")}}
			d1, err := specialised.Decide(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			d2, err := generic.Decide(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if d1.Effect != d2.Effect {
				t.Fatalf("case %d: specialised %s, generic %s\npolicy %s\nrequest %+v", i, d1.Effect, d2.Effect, c.text, r)
			}
			if d1.Effect == Allow {
				compared++
			}
		}
	}
	// Both outcomes occur, or the comparison says little.
	if compared == 0 || compared == 4*len(cases) {
		t.Fatalf("%d of %d requests allowed", compared, 4*len(cases))
	}
}

// A hand-written input needs only action, action_lc, principal and
// resource (rego/README.md): a missing context is a request without keys.
func TestMinimalHandWrittenInputDecides(t *testing.T) {
	e := NewEngine()
	text := stmt(`{"Sid":"NotFromOffice","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},{"Sid":"B","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage"}`)
	in, used, err := e.input(pull(rootB, text))
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.worldWith(context.Background(), used)
	if err != nil {
		t.Fatal(err)
	}
	policyID := in.(ast.Object).Get(ast.StringTerm("resource")).Value.(ast.Object).Get(ast.StringTerm("policy")).Value.(ast.String)
	minimal := map[string]any{
		"action": "ecr:BatchGetImage", "action_lc": "ecr:batchgetimage",
		"principal": map[string]any{"arn": rootB.ARN, "account": acctB},
		"resource":  map[string]any{"arn": repoARN, "account": acctA, "policy": string(policyID)},
	}
	rs, err := w.query.Eval(context.Background(), rego.EvalInput(minimal))
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	d, err := decisionOf(rs[0].Expressions[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if d.Effect != ExplicitDeny || d.Sids[0] != "NotFromOffice" {
		t.Fatalf("got %+v, want the deny on a missing source address", d)
	}
}
