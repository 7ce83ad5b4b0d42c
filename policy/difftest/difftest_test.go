package difftest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/policy"
)

// corpusSize is the number of random policy × request cases compared.
const corpusSize = 2400

// answer is iam-simulate's decision for one case.
type answer struct {
	Result  string   `json:"result"`
	Ignored []string `json:"ignored"`
	Error   string   `json:"error"`
}

// oracleEffect maps iam-simulate's results to berth's effects.
var oracleEffect = map[string]policy.Effect{
	"Allowed":          policy.Allow,
	"ExplicitlyDenied": policy.ExplicitDeny,
	"ImplicitlyDenied": policy.ImplicitDeny,
}

func TestDecisionsAgreeWithAnIndependentEvaluator(t *testing.T) {
	dir := installOracle(t)
	// DIFFTEST_SEED draws another corpus, for exploring; CI runs the fixed one.
	seed := uint64(2026)
	if v := os.Getenv("DIFFTEST_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("DIFFTEST_SEED: %v", err)
		}
		seed = n
	}
	cases := Generate(rand.New(rand.NewPCG(seed, 12)), corpusSize)
	answers := askOracle(t, dir, cases)

	counts := map[policy.Effect]int{}
	explained := 0
	var engine *policy.Engine
	group := -1
	var disagreements []string
	for i, c := range cases {
		a := answers[i]
		if a.Error != "" {
			t.Fatalf("case %d: the oracle failed: %s\n%s", c.N, a.Error, describe(c))
		}
		want, ok := oracleEffect[a.Result]
		if !ok {
			t.Fatalf("case %d: the oracle answered %q", c.N, a.Result)
		}
		req := c.Request
		// The oracle ignores context keys that do not apply to the action
		// (e.g. aws:RequestTag/* on BatchGetImage). berth never receives
		// them for such actions either: ask both the same question.
		req.Context = without(req.Context, a.Ignored)
		// An engine per group of cases sharing their policies: an engine
		// rebuilds its one OPA world for every new policy text.
		if c.Group != group {
			engine, group = policy.NewEngine(), c.Group
		}
		got, err := engine.Decide(context.Background(), req)
		if err != nil {
			t.Fatalf("case %d: Decide: %v\n%s", c.N, err, describe(c))
		}
		counts[got.Effect]++
		if got.Effect != want {
			if why := knownDisagreement(c, got.Effect, want); why != "" {
				t.Logf("case %d: berth %s, iam-simulate %s — %s", c.N, got.Effect, want, why)
				explained++
				continue
			}
			disagreements = append(disagreements, fmt.Sprintf("case %d: berth %s (%v), iam-simulate %s\n%s", c.N, got.Effect, got.Sids, want, describe(c)))
			// DIFFTEST_DUMP=FILE appends each disagreement as a JSON line, for
			// studying many at once.
			if f := os.Getenv("DIFFTEST_DUMP"); f != "" {
				b, _ := json.Marshal(map[string]any{"n": c.N, "berth": got.Effect, "sids": got.Sids, "oracle": want, "ignored": a.Ignored, "sim": c.Simulation})
				fh, _ := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
				fh.Write(append(b, '\n'))
				fh.Close()
			}
		}
	}
	t.Logf("%d cases: %d Allow, %d ExplicitDeny, %d ImplicitDeny (berth); %d disagreements explained by AWS's documentation",
		len(cases), counts[policy.Allow], counts[policy.ExplicitDeny], counts[policy.ImplicitDeny], explained)
	// A corpus that decides everything one way tests nothing.
	for _, e := range []policy.Effect{policy.Allow, policy.ExplicitDeny, policy.ImplicitDeny} {
		if counts[e] < len(cases)/20 {
			t.Errorf("only %d cases decided %s: the corpus does not exercise it", counts[e], e)
		}
	}
	if len(disagreements) > 0 {
		for _, d := range disagreements[:min(len(disagreements), 10)] {
			t.Error(d)
		}
		t.Fatalf("%d of %d cases disagree", len(disagreements), len(cases))
	}
}

// knownDisagreement explains a disagreement in which AWS's documentation
// shows berth is right, or "" for one that is not explained.
func knownDisagreement(c Case, got, want policy.Effect) string {
	if partialNotPrincipal(c) {
		// IAM user guide, "AWS JSON policy elements: NotPrincipal": with
		// Deny, "you must also specify the account ARN of the not-denied
		// principal ... AWS might validate the account first and then the
		// user" (and for a role session the role too). berth denies unless
		// every identity of the caller is listed; iam-simulate exempts a
		// caller whose account alone is listed.
		return "NotPrincipal lists some but not all of the caller's identities (account, user or role, session)"
	}
	return ""
}

// partialNotPrincipal reports whether the repository policy has a Deny
// with a NotPrincipal naming some, but not all, of the caller's identities.
func partialNotPrincipal(c Case) bool {
	if c.Request.ResourcePolicy == "" {
		return false
	}
	var doc struct {
		Statement []struct {
			Effect       string
			NotPrincipal map[string]any
		}
	}
	if err := json.Unmarshal([]byte(c.Request.ResourcePolicy), &doc); err != nil {
		return false
	}
	p := c.Request.Principal
	ids := []string{"arn:aws:iam::" + p.Account + ":root", p.ARN}
	if p.RoleARN != "" {
		ids = append(ids, p.RoleARN)
	}
	for _, st := range doc.Statement {
		if st.Effect != "Deny" || st.NotPrincipal == nil {
			continue
		}
		listed := map[string]bool{}
		var values []any
		switch v := st.NotPrincipal["AWS"].(type) {
		case string:
			values = []any{v}
		case []any:
			values = v
		}
		for _, v := range values {
			s, _ := v.(string)
			if len(s) == 12 && strings.Trim(s, "0123456789") == "" {
				s = "arn:aws:iam::" + s + ":root"
			}
			listed[s] = true
		}
		n := 0
		for _, id := range ids {
			if listed[id] {
				n++
			}
		}
		if n > 0 && n < len(ids) {
			return true
		}
	}
	return false
}

func without(ctx map[string][]string, keys []string) map[string][]string {
	if len(keys) == 0 {
		return ctx
	}
	out := map[string][]string{}
	for k, v := range ctx {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, strings.ToLower(k))
	}
	return out
}

func describe(c Case) string {
	b, _ := json.MarshalIndent(c.Simulation, "  ", "  ")
	return "  " + string(b)
}

// installOracle installs iam-simulate, pinned by package-lock.json, into a
// directory in the user's cache named after the lock file, once per lock.
func installOracle(t *testing.T) string {
	t.Helper()
	lock, err := os.ReadFile("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "berth", "iam-simulate-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@cloud-copilot", "iam-simulate")); err == nil {
		return dir
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("the differential test needs Node.js and npm (.ci/run installs them): %v", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if tmp, err = os.MkdirTemp(filepath.Dir(dir), "install-"); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		os.RemoveAll(tmp)
		if _, statErr := os.Stat(dir); statErr != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// askOracle runs every case through iam-simulate in one Node process.
func askOracle(t *testing.T, dir string, cases []Case) []answer {
	t.Helper()
	sims := make([]map[string]any, len(cases))
	for i, c := range cases {
		sims[i] = c.Simulation
	}
	in, err := json.Marshal(sims)
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("simulate.mjs")
	if err != nil {
		t.Fatal(err)
	}
	// The script resolves its import from the installed node_modules.
	linked := filepath.Join(dir, "simulate.mjs")
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(linked, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", linked)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node simulate.mjs: %v\n%s", err, stderr.String())
	}
	var answers []answer
	if err := json.Unmarshal(out, &answers); err != nil {
		t.Fatalf("oracle output: %v", err)
	}
	if len(answers) != len(cases) {
		t.Fatalf("oracle answered %d of %d cases", len(answers), len(cases))
	}
	return answers
}
