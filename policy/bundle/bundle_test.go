package bundle

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/berth-dev/berth/policy"
)

const (
	repoApp  = "arn:aws:ecr:us-east-1:111111111111:repository/app"
	rootA    = "arn:aws:iam::111111111111:root"
	rootB    = "arn:aws:iam::222222222222:root"
	aliceARN = "arn:aws:iam::111111111111:user/alice"
)

// crossAccount is the README's example: account B may pull app, not push;
// alice, in A, is limited to pulling by her identity policy.
var crossAccount = Inventory{
	Principals: []policy.Principal{{
		ARN: aliceARN, Account: "111111111111", Type: "User", UserID: "AIDAALICE", Username: "alice",
		Tags:     map[string]string{"team": "a"},
		Policies: []string{`{"Version":"2012-10-17","Statement":[{"Sid":"PullOnly","Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"}]}`},
	}},
	Repositories: []Repository{{
		ARN:    repoApp,
		Tags:   map[string]string{"env": "prod"},
		Policy: `{"Version":"2012-10-17","Statement":[{"Sid":"PullFromB","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`,
	}},
	Registries: []Registry{{Account: "111111111111", Region: "us-east-1", Scope: "V2"}},
}

// crossAccountTests are `opa test` cases as a user writes them against the
// exported bundle.
const crossAccountTests = `package cross_account_test

import data.berth.authz
import data.berth.world

app := "arn:aws:ecr:us-east-1:111111111111:repository/app"

test_account_b_can_pull_from_a if {
	authz.allow with input as world.request("arn:aws:iam::222222222222:root", "ecr:BatchGetImage", app)
}

test_account_b_cannot_push_to_a if {
	d := authz.decision with input as world.request("arn:aws:iam::222222222222:root", "ecr:PutImage", app)
	d.effect == "ImplicitDeny"
	d.reason == "because no resource-based policy allows the ecr:PutImage action"
}

test_alice_can_pull_but_not_push if {
	authz.allow with input as world.request("arn:aws:iam::111111111111:user/alice", "ecr:BatchGetImage", app)
	not authz.allow with input as world.request("arn:aws:iam::111111111111:user/alice", "ecr:PutImage", app)
}
`

func writeWithTests(t *testing.T, inv Inventory, tests string) string {
	t.Helper()
	dir := t.TempDir()
	if err := Write(dir, inv); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cross_account_test.rego"), []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAnExportedBundlePassesUsersOpaTests(t *testing.T) {
	dir := writeWithTests(t, crossAccount, crossAccountTests)
	passed := runOPATests(t, dir)
	if passed != 3 {
		t.Fatalf("%d tests passed, want 3", passed)
	}
}

func TestAUserTestThatContradictsThePoliciesFails(t *testing.T) {
	wrong := strings.Replace(crossAccountTests, `d.effect == "ImplicitDeny"`, `d.effect == "Allow"`, 1)
	dir := writeWithTests(t, crossAccount, wrong)
	results := runTester(t, dir)
	failed := 0
	for _, r := range results {
		if r.Fail {
			failed++
			if !strings.Contains(r.Name, "cannot_push") {
				t.Errorf("unexpected failure: %s", r.Name)
			}
		}
	}
	if failed != 1 {
		t.Fatalf("%d tests failed, want 1", failed)
	}
}

// TestTheBundlesRequestIsTheInputBerthDecidesWith checks that
// data.berth.world.request builds, from the inventory, the input the engine
// builds from the same facts — so a user's opa test asks berth's question.
func TestTheBundlesRequestIsTheInputBerthDecidesWith(t *testing.T) {
	files, err := Files(crossAccount)
	if err != nil {
		t.Fatal(err)
	}
	engine := policy.NewEngine()
	for _, tc := range []struct {
		principal policy.Principal
		resource  string
	}{
		{crossAccount.Principals[0], repoApp},
		{rootPrincipal(t, rootB), repoApp},
		{rootPrincipal(t, rootA), "arn:aws:ecr:us-east-1:111111111111:repository/unknown"},
	} {
		req := policy.Request{
			Principal: tc.principal, Action: "ecr:BatchGetImage", Resource: tc.resource,
			ResourceAccount: "111111111111", ResourceRegion: "us-east-1", RegistryPolicyScope: "V2",
			Context: map[string][]string{},
		}
		if tc.resource == repoApp {
			req.ResourcePolicy, req.ResourceTags = crossAccount.Repositories[0].Policy, crossAccount.Repositories[0].Tags
		}
		want, err := engine.Input(req)
		if err != nil {
			t.Fatal(err)
		}
		got := evalInBundle(t, files, `data.berth.world.request(input.p, "ecr:BatchGetImage", input.r)`, map[string]any{"p": tc.principal.ARN, "r": tc.resource})
		if !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
			t.Errorf("%s on %s:\n bundle %v\n engine %v", tc.principal.ARN, tc.resource, got, want)
		}
	}
}

func rootPrincipal(t *testing.T, arn string) policy.Principal {
	p, ok := policy.RootsOnly{}.Principal(arn)
	if !ok {
		t.Fatalf("no root %s", arn)
	}
	return p
}

// normalize makes maps of absent and empty collections compare equal.
func normalize(t *testing.T, v any) any {
	val, err := ast.InterfaceToValue(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := ast.As(val, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func evalInBundle(t *testing.T, files map[string][]byte, query string, input map[string]any) any {
	t.Helper()
	var inventory map[string]any
	if err := util.UnmarshalJSON(files["berth/inventory/data.json"], &inventory); err != nil {
		t.Fatal(err)
	}
	opts := []func(*rego.Rego){
		rego.Query("x := " + query),
		rego.Input(input),
		rego.Store(inmem.NewFromObject(map[string]any{"berth": map[string]any{"inventory": inventory}})),
	}
	for name, content := range files {
		if strings.HasSuffix(name, ".rego") {
			opts = append(opts, rego.Module(name, string(content)))
		}
	}
	rs, err := rego.New(opts...).Eval(context.Background())
	if err != nil || len(rs) != 1 {
		t.Fatalf("eval %s: %v %v", query, rs, err)
	}
	return rs[0].Bindings["x"]
}

func runTester(t *testing.T, dir string) []*tester.Result {
	t.Helper()
	results, err := tester.Run(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Error != nil {
			t.Fatalf("%s: %v", r.Name, r.Error)
		}
	}
	return results
}

// runOPATests runs `opa test` — the real OPA command, built from the OPA
// module go.mod pins as a tool — on dir and returns how many tests passed.
func runOPATests(t *testing.T, dir string) int {
	t.Helper()
	cmd := exec.Command("go", "tool", "opa", "test", "--format", "json", dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("opa test: %v\n%s\n%s", err, out, stderr.String())
	}
	var results []struct {
		Name  string `json:"name"`
		Fail  bool   `json:"fail"`
		Error any    `json:"error"`
	}
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("opa test output: %v\n%s", err, out)
	}
	passed := 0
	for _, r := range results {
		if r.Fail || r.Error != nil {
			t.Errorf("opa test: %s failed", r.Name)
			continue
		}
		passed++
	}
	return passed
}

// TestTheREADMEsPolicyAsCodeExamplePassesOpaTest runs the README's example
// as a user would: the repository policy its cross-account example stores,
// exported, and its opa test file, through the real opa command.
func TestTheREADMEsPolicyAsCodeExamplePassesOpaTest(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	_, after, ok := strings.Cut(text, "set-repository-policy")
	if !ok {
		t.Fatal("README: no set-repository-policy example")
	}
	_, after, _ = strings.Cut(after, "--policy-text '")
	policyText, _, ok := strings.Cut(after, "'")
	if !ok {
		t.Fatal("README: the set-repository-policy example has no --policy-text '...'")
	}
	_, after, ok = strings.Cut(text, "### Policy as code")
	if !ok {
		t.Fatal("README: no Policy as code section")
	}
	_, after, _ = strings.Cut(after, "```rego\n")
	test, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatal("README: the Policy as code section has no rego block")
	}
	inv := Inventory{Repositories: []Repository{{ARN: repoApp, Policy: policyText}}}
	dir := writeWithTests(t, inv, test)
	if passed := runOPATests(t, dir); passed != strings.Count(test, "\ntest_") {
		t.Fatalf("%d of the README's %d tests passed", passed, strings.Count(test, "\ntest_"))
	}
}
