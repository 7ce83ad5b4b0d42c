// Package difftest compares berth's IAM decisions with an independent
// evaluator, @cloud-copilot/iam-simulate, on a generated corpus of policies
// and requests. The corpus is drawn from a small vocabulary of accounts,
// principals, actions, resources and condition keys, so that random
// statements often match a request, and half-matches are as common as
// matches: the interesting cases are at the edges.
package difftest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/berth-dev/berth/policy"
)

// Case is one question, asked of both evaluators.
type Case struct {
	N        int
	Group    int      // cases of a group share their policies
	Identity []string // identity policies, as given to both
	Request  policy.Request
	// Simulation is the same question in iam-simulate's shape.
	Simulation map[string]any
}

const (
	accountA = "111111111111"
	accountB = "222222222222"
	orgID    = "o-a1b2c3d4e5"
	orgPath  = "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"
	region   = "us-east-1"
)

// principals are the callers of the corpus: both accounts' roots, a user in
// each account, and a role session in B.
var principals = []policy.Principal{
	{ARN: "arn:aws:iam::" + accountA + ":root", Account: accountA, Type: "Account", UserID: accountA},
	{ARN: "arn:aws:iam::" + accountB + ":root", Account: accountB, Type: "Account", UserID: accountB},
	{ARN: "arn:aws:iam::" + accountA + ":user/alice", Account: accountA, Type: "User", UserID: "AIDAALICEEXAMPLE0001", Username: "alice",
		Tags: map[string]string{"team": "a"}, OrgID: orgID, OrgPaths: []string{orgPath}},
	{ARN: "arn:aws:iam::" + accountB + ":user/bob", Account: accountB, Type: "User", UserID: "AIDABOBEXAMPLE000002", Username: "bob",
		Tags: map[string]string{"team": "b"}, OrgID: orgID, OrgPaths: []string{orgPath}},
	{ARN: "arn:aws:sts::" + accountB + ":assumed-role/ci/build-1", Account: accountB, Type: "AssumedRole",
		RoleARN: "arn:aws:iam::" + accountB + ":role/ci", UserID: "AROACIEXAMPLE0000003:build-1", Tags: map[string]string{"team": "ci"}},
}

var actions = []string{"ecr:BatchGetImage", "ecr:PutImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer", "ecr:ListImages", "ecr:TagResource", "ecr:DeleteRepository"}

var repositories = []string{"app", "alice/tool", "team-a/svc", "b/img"}

// GroupSize is how many requests share one draw of policies: each group
// asks eight questions of one set of policies.
const GroupSize = 8

// Generate draws n cases from r.
func Generate(r *rand.Rand, n int) []Case {
	out := make([]Case, 0, n)
	var identity []string
	var resource string
	for i := range n {
		if i%GroupSize == 0 {
			g := gen{r: r}
			identity = nil
			for range r.IntN(3) {
				identity = append(identity, g.document(policy.Identity))
			}
			resource = ""
			if r.IntN(5) > 0 {
				resource = g.document(policy.Repository)
			}
		}
		c := generateOne(r, i, identity, resource)
		c.Group = i / GroupSize
		out = append(out, c)
	}
	return out
}

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

func generateOne(r *rand.Rand, n int, identityPolicies []string, resourcePolicy string) Case {
	p := pick(r, principals)
	owner := accountA
	if r.IntN(4) == 0 {
		owner = accountB
	}
	repo := pick(r, repositories)
	action := pick(r, actions)
	req := policy.Request{
		Principal:       p,
		Action:          action,
		Resource:        "arn:aws:ecr:" + region + ":" + owner + ":repository/" + repo,
		ResourceAccount: owner,
		ResourceRegion:  region,
		Context:         map[string][]string{},
	}
	if r.IntN(3) > 0 {
		req.ResourceTags = map[string]string{"env": pick(r, []string{"prod", "dev"})}
	}
	req.Context["aws:sourceip"] = []string{pick(r, []string{"10.1.2.3", "192.0.2.9", "2001:db8::1", "203.0.113.5"})}
	req.Context["aws:securetransport"] = []string{pick(r, []string{"true", "false"})}
	req.Context["aws:currenttime"] = []string{"2026-12-01T12:00:00Z"}
	req.Context["aws:epochtime"] = []string{"1796126400"}
	if action == "ecr:TagResource" {
		keys := []string{}
		for _, k := range []string{"team", "env", "owner"} {
			if r.IntN(2) == 0 {
				keys = append(keys, k)
				req.Context["aws:requesttag/"+k] = []string{pick(r, []string{"a", "b", "prod"})}
			}
		}
		if len(keys) > 0 {
			req.Context["aws:tagkeys"] = keys
		}
	}
	var identity []string
	if p.Type != "Account" { // a root user has no identity policies: it may do anything in its account
		identity = identityPolicies
	}
	req.Principal.Policies = identity
	req.ResourcePolicy = resourcePolicy
	return Case{N: n, Request: req, Identity: identity, Simulation: simulation(req, identity)}
}

// simulation is req in iam-simulate's shape. Keys berth derives from the
// principal and the resource are given to it explicitly; a root user's
// implicit full access in its own account is an allow-everything identity
// policy.
func simulation(req policy.Request, identity []string) map[string]any {
	ctx := map[string]any{}
	for k, v := range req.Context {
		ctx[k] = multi(k, v)
	}
	p := req.Principal
	ctx["aws:PrincipalAccount"] = p.Account
	ctx["aws:PrincipalArn"] = p.ARN
	if p.RoleARN != "" {
		// A role session's aws:PrincipalArn is its role's ARN.
		ctx["aws:PrincipalArn"] = p.RoleARN
	}
	ctx["aws:PrincipalType"] = p.Type
	ctx["aws:userid"] = p.UserID
	if p.Username != "" {
		ctx["aws:username"] = p.Username
	}
	if p.OrgID != "" {
		ctx["aws:PrincipalOrgID"] = p.OrgID
		ctx["aws:PrincipalOrgPaths"] = p.OrgPaths
	}
	for k, v := range p.Tags {
		ctx["aws:PrincipalTag/"+k] = v
	}
	for k, v := range req.ResourceTags {
		ctx["aws:ResourceTag/"+k] = v
		ctx["ecr:ResourceTag/"+k] = v
	}
	var ids []map[string]any
	for i, d := range identity {
		ids = append(ids, map[string]any{"name": fmt.Sprintf("identity-%d", i+1), "policy": raw(d)})
	}
	if p.Type == "Account" {
		ids = append(ids, map[string]any{"name": "root", "policy": map[string]any{"Version": "2012-10-17",
			"Statement": []any{map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}}}})
	}
	sim := map[string]any{
		"request": map[string]any{
			"principal":        p.ARN,
			"action":           req.Action,
			"resource":         map[string]any{"resource": req.Resource, "accountId": req.ResourceAccount},
			"contextVariables": ctx,
		},
		"identityPolicies":        orEmpty(ids),
		"serviceControlPolicies":  []any{},
		"resourceControlPolicies": []any{},
	}
	if req.ResourcePolicy != "" {
		sim["resourcePolicy"] = raw(req.ResourcePolicy)
	}
	return sim
}

func multi(key string, v []string) any {
	if key == "aws:tagkeys" {
		return v
	}
	return v[0]
}

func orEmpty(list []map[string]any) []map[string]any {
	if list == nil {
		return []map[string]any{}
	}
	return list
}

func raw(doc string) any {
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		panic(err)
	}
	return v
}

// gen draws policy documents.
type gen struct{ r *rand.Rand }

func (g gen) document(kind policy.Kind) string {
	var stmts []any
	for i := range 1 + g.r.IntN(3) {
		stmts = append(stmts, g.statement(kind, i+1))
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
	if err != nil {
		panic(err)
	}
	return string(b)
}

var actionPatterns = []any{
	"ecr:BatchGetImage", "ecr:PutImage", "ecr:*", "ecr:Batch*", "ecr:*Image*", "ECR:batchgetimage",
	"ecr:?utImage", "ecr:Describe*", "ecr:TagResource", "s3:GetObject", "*",
	[]string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
	[]string{"ecr:ListImages", "ecr:DescribeImages", "ecr:DeleteRepository"},
}

var resourcePatterns = []any{
	"*",
	"arn:aws:ecr:us-east-1:111111111111:repository/app",
	"arn:aws:ecr:*:111111111111:repository/team-*",
	"arn:aws:ecr:us-east-1:*:repository/*",
	"arn:aws:ecr:us-east-1:222222222222:repository/*",
	"arn:aws:ecr:us-east-1:111111111111:repository/${aws:username}/*",
	"arn:aws:ecr:us-east-1:111111111111:repository/?lice/*",
	"arn:aws:ecr:us-east-1:${aws:PrincipalAccount}:repository/*",
	[]string{"arn:aws:ecr:us-east-1:111111111111:repository/b/*", "arn:aws:ecr:us-east-1:222222222222:repository/app"},
}

var principalValues = []any{
	"*",
	map[string]any{"AWS": "*"},
	map[string]any{"AWS": accountB},
	map[string]any{"AWS": "arn:aws:iam::" + accountA + ":root"},
	map[string]any{"AWS": "arn:aws:iam::" + accountB + ":user/bob"},
	map[string]any{"AWS": "arn:aws:iam::" + accountA + ":user/alice"},
	map[string]any{"AWS": "arn:aws:iam::" + accountB + ":role/ci"},
	map[string]any{"AWS": []string{accountA, "arn:aws:iam::" + accountB + ":user/bob"}},
	map[string]any{"Service": "ecr.amazonaws.com"},
}

func (g gen) statement(kind policy.Kind, n int) map[string]any {
	s := map[string]any{"Sid": fmt.Sprintf("S%d", n), "Effect": "Allow"}
	if g.r.IntN(4) == 0 {
		s["Effect"] = "Deny"
	}
	if g.r.IntN(6) == 0 {
		s["NotAction"] = pick(g.r, actionPatterns)
	} else {
		s["Action"] = pick(g.r, actionPatterns)
	}
	if kind == policy.Repository {
		// NotPrincipal only with Deny: AWS advises against it with Allow.
		if s["Effect"] == "Deny" && g.r.IntN(4) == 0 {
			s["NotPrincipal"] = pick(g.r, principalValues[2:])
		} else {
			s["Principal"] = pick(g.r, principalValues)
		}
	} else if g.r.IntN(6) == 0 {
		s["NotResource"] = pick(g.r, resourcePatterns[1:])
	} else {
		s["Resource"] = pick(g.r, resourcePatterns)
	}
	if g.r.IntN(2) == 0 {
		cond := map[string]map[string]any{}
		for range 1 + g.r.IntN(2) {
			op, key, value := g.condition()
			if cond[op] == nil {
				cond[op] = map[string]any{}
			}
			cond[op][key] = value
		}
		s["Condition"] = cond
	}
	return s
}

// condition draws one operator, key and value. Keys are written in mixed
// case: condition key names are case-insensitive.
func (g gen) condition() (string, string, any) {
	type choice struct {
		ops    []string
		key    string
		values []any
		multi  bool // a multivalued key: ForAnyValue / ForAllValues apply
	}
	choices := []choice{
		{[]string{"StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"},
			"aws:PrincipalTag/team", []any{"a", "B", "ci", "*a*", []string{"a", "b"}, "${aws:PrincipalTag/team}"}, false},
		{[]string{"StringEquals", "StringLike", "StringNotEquals"}, "aws:username", []any{"alice", "bob", "al*", "${aws:username}"}, false},
		{[]string{"StringEquals", "StringNotEquals"}, "aws:PrincipalAccount", []any{accountA, accountB, "${aws:PrincipalAccount}"}, false},
		{[]string{"ArnLike", "ArnNotLike", "ArnEquals", "StringLike"}, "aws:PrincipalArn", []any{"arn:aws:iam::222222222222:*", "arn:aws:iam::*:user/*", "arn:aws:sts::222222222222:assumed-role/ci/*", "arn:aws:iam::111111111111:user/alice"}, false},
		{[]string{"StringEquals", "StringNotEquals"}, "aws:PrincipalOrgID", []any{orgID, "o-other00000"}, false},
		{[]string{"StringEquals", "StringNotEquals", "StringLike"}, "aws:ResourceTag/env", []any{"prod", "dev", "p*"}, false},
		{[]string{"StringEquals", "StringNotEquals"}, "ecr:ResourceTag/env", []any{"prod", "dev"}, false},
		{[]string{"IpAddress", "NotIpAddress"}, "aws:SourceIp", []any{"10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32", []string{"203.0.113.0/24", "10.1.2.3/32"}}, false},
		{[]string{"Bool"}, "aws:SecureTransport", []any{"true", "false"}, false},
		{[]string{"DateGreaterThan", "DateLessThan", "DateEquals", "DateNotEquals", "DateLessThanEquals", "DateGreaterThanEquals"},
			"aws:CurrentTime", []any{"2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z", "2026-12-01T12:00:00Z"}, false},
		{[]string{"NumericLessThan", "NumericGreaterThan", "NumericEquals", "NumericNotEquals", "NumericLessThanEquals", "NumericGreaterThanEquals"},
			"aws:EpochTime", []any{"1700000000", "1796126400", "1900000000"}, false},
		{[]string{"StringEquals", "StringLike", "StringNotEquals"}, "aws:TagKeys", []any{"team", []string{"team", "env"}, "t*"}, true},
		{[]string{"StringEquals", "StringNotEquals"}, "aws:RequestTag/team", []any{"a", "b"}, false},
		{[]string{"StringLike"}, "aws:PrincipalOrgPaths", []any{"o-a1b2c3d4e5/r-ab12/ou-ab12-1*", "o-other*"}, true},
		{[]string{"Null"}, pick(g.r, []string{"aws:RequestTag/team", "aws:ResourceTag/env", "aws:username", "aws:PrincipalTag/team", "aws:TagKeys"}), []any{"true", "false"}, false},
	}
	c := pick(g.r, choices)
	op := pick(g.r, c.ops)
	if c.multi && op != "Null" {
		op = pick(g.r, []string{"ForAnyValue:", "ForAllValues:"}) + op
	}
	if op != "Null" && op != "Bool" && !c.multi && g.r.IntN(4) == 0 {
		op += "IfExists"
	}
	key := c.key
	if g.r.IntN(3) == 0 {
		key = strings.ToLower(key)
	}
	v := pick(g.r, c.values)
	if list, ok := v.([]string); ok {
		v = slices.Clone(list)
	}
	return op, key, v
}
