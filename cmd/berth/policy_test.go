package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

const pullFromB = `{"Version":"2012-10-17","Statement":[
 {"Sid":"PullFromB","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]},
 {"Sid":"NoDeleteFromOutside","Effect":"Deny","Principal":"*","Action":"ecr:Delete*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111111111111"}}}]}`

const appARN = "arn:aws:ecr:us-east-1:111111111111:repository/app"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyEvalPrintsTheDecisionAndExitsWithIt(t *testing.T) {
	file := writeFile(t, "policy.json", pullFromB)
	for _, tc := range []struct {
		principal, action string
		want              string
		code              error
	}{
		{"arn:aws:iam::222222222222:root", "ecr:BatchGetImage", "Allow (PullFromB)\n", nil},
		{"arn:aws:iam::222222222222:root", "ecr:PutImage", "ImplicitDeny\nUser: arn:aws:iam::222222222222:root is not authorized to perform: ecr:PutImage on resource: " + appARN + " because no resource-based policy allows the ecr:PutImage action\n", exitImplicitDeny},
		{"arn:aws:iam::222222222222:root", "ecr:DeleteRepository", "ExplicitDeny (NoDeleteFromOutside)\nUser: arn:aws:iam::222222222222:root is not authorized to perform: ecr:DeleteRepository on resource: " + appARN + " with an explicit deny in a resource-based policy\n", exitExplicitDeny},
		// A user of the owning account with no identity policy: the
		// repository policy does not name it.
		{"arn:aws:iam::111111111111:user/alice", "ecr:BatchGetImage", "ImplicitDeny\nUser: arn:aws:iam::111111111111:user/alice is not authorized to perform: ecr:BatchGetImage on resource: " + appARN + " because no identity-based policy allows the ecr:BatchGetImage action\n", exitImplicitDeny},
	} {
		var out bytes.Buffer
		err := run([]string{"policy", "eval", "--policy", file, "--principal", tc.principal, "--action", tc.action, "--resource", appARN}, &out, &out)
		if !errors.Is(err, tc.code) || out.String() != tc.want {
			t.Errorf("%s %s: err %v, output\n%s\nwant %v\n%s", tc.principal, tc.action, err, out.String(), tc.code, tc.want)
		}
	}
}

func TestPolicyEvalUsesIdentityPoliciesTagsAndContext(t *testing.T) {
	identity := writeFile(t, "identity.json", `{"Version":"2012-10-17","Statement":[{"Sid":"TeamPull","Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*",
		"Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:ResourceTag/team}"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`)
	args := func(ip string) []string {
		return []string{"policy", "eval", "--identity-policy", identity, "--principal", "arn:aws:iam::111111111111:user/alice",
			"--principal-tag", "team=a", "--resource-tag", "team=a", "--context", "aws:SourceIp=" + ip,
			"--action", "ecr:BatchGetImage", "--resource", appARN}
	}
	var out bytes.Buffer
	if err := run(args("10.1.2.3"), &out, &out); err != nil || out.String() != "Allow (TeamPull)\n" {
		t.Fatalf("from 10.1.2.3: %v %q", err, out.String())
	}
	out.Reset()
	if err := run(args("192.0.2.1"), &out, &out); !errors.Is(err, exitImplicitDeny) {
		t.Fatalf("from 192.0.2.1: %v %q", err, out.String())
	}
}

func TestPolicyEvalRefusesAnInvalidPolicyAndMissingFlags(t *testing.T) {
	bad := writeFile(t, "bad.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}`) // a repository policy needs a Principal
	var out bytes.Buffer
	err := run([]string{"policy", "eval", "--policy", bad, "--principal", "arn:aws:iam::222222222222:root", "--action", "ecr:BatchGetImage", "--resource", appARN}, &out, &out)
	if err == nil || errors.As(err, new(exitCode)) || !strings.Contains(err.Error(), "Principal") {
		t.Fatalf("invalid policy: %v", err)
	}
	if err := run([]string{"policy", "eval", "--action", "ecr:BatchGetImage"}, &out, &out); err == nil {
		t.Fatal("missing --principal accepted")
	}
}

func TestPolicyCompilePrintsTheRegoModule(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"policy", "compile", writeFile(t, "p.json", pullFromB)}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"package berth.policies.p_", `input.action_lc == "ecr:batchgetimage"`, `input.principal.account == "222222222222"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("module lacks %q:\n%s", want, out.String())
		}
	}
}

// storeWithPolicies is a data dir holding repository app in 111111111111
// with pullFromB as its policy, written through a real server.
func storeWithPolicies(t *testing.T) (string, *server.Server) {
	t.Helper()
	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := core.WithCaller(context.Background(), core.Caller{Registry: core.RegistryID{Account: "111111111111", Region: "us-east-1"}, Principal: core.RootPrincipal("111111111111")})
	reg := core.RegistryID{Account: "111111111111", Region: "us-east-1"}
	if _, err := s.Registry().CreateRepository(ctx, reg, "app", func(r *core.Repository) { r.Policy = pullFromB }); err != nil {
		t.Fatal(err)
	}
	return cfg.DataDir, s
}

func TestPolicyExportFromADataDirOrARunningBerthPassesOpaTest(t *testing.T) {
	dataDir, s := storeWithPolicies(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	fromRunning := t.TempDir()
	var out bytes.Buffer
	if err := run([]string{"policy", "export", "--from", "http://" + ln.Addr().String(), "--out", fromRunning}, &out, &out); err != nil {
		t.Fatalf("export --from: %v\n%s", err, out.String())
	}
	// While it runs, the data dir is locked: export says what to do.
	if err := run([]string{"policy", "export", "--data-dir", dataDir, "--out", t.TempDir()}, &out, &out); err == nil || !strings.Contains(err.Error(), "--from") {
		t.Fatalf("export of a data dir in use: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	fromDir := t.TempDir()
	if err := run([]string{"policy", "export", "--data-dir", dataDir, "--out", fromDir}, &out, &out); err != nil {
		t.Fatalf("export --data-dir: %v\n%s", err, out.String())
	}
	a, _ := os.ReadFile(filepath.Join(fromRunning, "berth", "inventory", "data.json"))
	b, _ := os.ReadFile(filepath.Join(fromDir, "berth", "inventory", "data.json"))
	if !bytes.Equal(a, b) || !strings.Contains(string(a), appARN) {
		t.Fatalf("the two exports differ or lack the repository:\n%s\n%s", a, b)
	}
	test := `package app_test
import data.berth.authz
import data.berth.world
test_b_pulls if authz.allow with input as world.request("arn:aws:iam::222222222222:root", "ecr:BatchGetImage", "` + appARN + `")
test_b_does_not_push if not authz.allow with input as world.request("arn:aws:iam::222222222222:root", "ecr:PutImage", "` + appARN + `")
`
	if err := os.WriteFile(filepath.Join(fromDir, "app_test.rego"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	results, err := tester.Run(context.Background(), fromDir)
	if err != nil || len(results) != 2 {
		t.Fatalf("opa test: %d results, %v", len(results), err)
	}
	for _, r := range results {
		if !r.Pass() {
			t.Errorf("opa test %s: %v %v", r.Name, r.Fail, r.Error)
		}
	}
}
