package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/benchcpu"
	"github.com/open-policy-agent/opa/v1/rego"
)

// repositoryPolicy returns a policy of n statements, each granting a
// different account a pull or push with a condition on the organisation,
// and the account of the statement in the middle.
func repositoryPolicy(n int) (string, string) {
	var stmts []string
	actions := []string{`["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"]`, `["ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload"]`, `"ecr:Describe*"`}
	for i := range n {
		acct := fmt.Sprintf("%012d", 300000000000+i)
		stmts = append(stmts, fmt.Sprintf(`{"Sid":"S%d","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::%s:root"]},"Action":%s,"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-%d"}}}`, i, acct, actions[i%len(actions)], i))
	}
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`, fmt.Sprintf("%012d", 300000000000+n/2/3*3)
}

// benchmarkDecision measures OPA evaluating one decision (evaluate) or a
// question asked before, answered from the memo (remembered).
func benchmarkDecision(b *testing.B, statements int, remembered bool) {
	policy, acct := repositoryPolicy(statements)
	e := NewEngine()
	p := Principal{ARN: "arn:aws:iam::" + acct + ":root", Account: acct, Type: "Account", OrgID: fmt.Sprintf("o-%d", statements/2/3*3)}
	r := pull(p, policy)
	r.Context = map[string][]string{"aws:sourceip": {"10.0.0.1"}, "aws:securetransport": {"false"}}
	ctx := context.Background()
	d, err := e.Decide(ctx, r)
	if err != nil || d.Effect != Allow {
		b.Fatalf("%+v %v", d, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := benchcpu.Now()
	decide := e.Decide
	if !remembered {
		decide = e.decide
	}
	for range b.N {
		if _, err := decide(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	// The machine is shared: CPU time per decision (the process's, GC
	// included) says what a decision costs when wall time says how busy
	// the machine was.
	b.ReportMetric(float64(benchcpu.Now()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkDecisionRepositoryPolicy(b *testing.B) {
	for _, n := range []int{20, 200} {
		b.Run(fmt.Sprintf("statements=%d/evaluate", n), func(b *testing.B) { benchmarkDecision(b, n, false) })
		b.Run(fmt.Sprintf("statements=%d/remembered", n), func(b *testing.B) { benchmarkDecision(b, n, true) })
	}
}

// BenchmarkEmptyQuery is OPA's floor on this machine: a prepared query
// comparing one input field, for reading the decision figures against.
func BenchmarkEmptyQuery(b *testing.B) {
	e := NewEngine()
	in, _, err := e.input(pull(rootA, ""))
	if err != nil {
		b.Fatal(err)
	}
	q, err := rego.New(rego.Query(`input.action_lc == "ecr:putimage"`)).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := benchcpu.Now()
	for range b.N {
		if _, err := q.Eval(context.Background(), rego.EvalParsedInput(in)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchcpu.Now()-start)/float64(b.N), "cpu-ns/op")
}
