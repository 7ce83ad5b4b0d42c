package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

// verificationNode is berth started and restarted on one data dir, with an optional
// --verify-config file, as a user runs it.
type verificationNode struct {
	t       *testing.T
	dir     string
	file    string // the --verify-config path ("" none)
	srv     *Server
	logText *syncBuffer
}

func newVerificationNode(t *testing.T) *verificationNode {
	n := &verificationNode{t: t, dir: t.TempDir()}
	// These tests check which policy is in force, not decisions (verify's and e2e's tests
	// do): the built-in verifier a policy with rules compiles, for a minute under -race, into
	// the data dir, is marked as loaded (and failing) instead.
	lv := builtinVerifier(filepath.Join(n.dir, "plugin-cache"))
	lv.once.Do(func() { lv.err = errors.New("the built-in verifier is not compiled in this test") })
	return n
}

func (n *verificationNode) start() {
	n.t.Helper()
	if n.srv != nil {
		if err := n.srv.Shutdown(context.Background()); err != nil {
			n.t.Fatal(err)
		}
	}
	cfg := Defaults()
	cfg.DataDir, cfg.VerifyConfig = n.dir, n.file
	n.logText = &syncBuffer{}
	cfg.Log = slog.New(slog.NewTextHandler(n.logText, nil))
	srv, err := New(cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	n.srv = srv
	n.t.Cleanup(func() { srv.Shutdown(context.Background()) })
}

// writeFile writes the --verify-config file.
func (n *verificationNode) writeFile(policy string) {
	n.t.Helper()
	n.file = filepath.Join(n.dir, "verify.yaml")
	if err := os.WriteFile(n.file, []byte(policy), 0o600); err != nil {
		n.t.Fatal(err)
	}
}

func (n *verificationNode) do(method string, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://127.0.0.1:4566/_berth/verification", strings.NewReader(body))
	rec := httptest.NewRecorder()
	n.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// ruleNames is the names of the rules in force.
func (n *verificationNode) ruleNames() string {
	n.t.Helper()
	rec := n.do(http.MethodGet, "")
	var c struct{ Rules []struct{ Name string } }
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &c) != nil {
		n.t.Fatalf("GET /_berth/verification: %d %s", rec.Code, rec.Body)
	}
	var names []string
	for _, r := range c.Rules {
		names = append(names, r.Name)
	}
	return strings.Join(names, ",")
}

// verificationPolicy is a YAML policy of one enforce rule named name.
func verificationPolicy(name string) string {
	var b bytes.Buffer
	b.WriteString("rules:\n  - name: " + name + "\n    repositories: ['prod/*']\n    mode: enforce\n    keys:\n      - pem: |\n")
	for _, line := range strings.Split(strings.TrimSpace(sigtest.NewKey().PublicPEM()), "\n") {
		b.WriteString("          " + line + "\n")
	}
	return b.String()
}

func TestAPutVerificationPolicyIsKeptAcrossRestartsUntilTheVerifyConfigFileChanges(t *testing.T) {
	n := newVerificationNode(t)
	n.writeFile(verificationPolicy("from-file"))
	n.start()
	if got := n.ruleNames(); got != "from-file" {
		t.Fatalf("first start: rules %q, want the file's", got)
	}
	if rec := n.do(http.MethodPut, verificationPolicy("from-put")); rec.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	n.start()
	if got := n.ruleNames(); got != "from-put" {
		t.Fatalf("restart with the same file: rules %q, want the PUT's", got)
	}

	n.writeFile(verificationPolicy("from-changed-file"))
	n.start()
	if got := n.ruleNames(); got != "from-changed-file" {
		t.Fatalf("restart with a changed file: rules %q, want the changed file's", got)
	}
	if !strings.Contains(n.logText.String(), "the file's policy replaces the stored one") {
		t.Errorf("the replacement was not logged:\n%s", n.logText)
	}
}

func TestAnInvalidPutVerificationAnswers400AndChangesNothingStored(t *testing.T) {
	n := newVerificationNode(t)
	n.start()
	if rec := n.do(http.MethodPut, verificationPolicy("good")); rec.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	for _, body := range []string{
		"rules: [{name: x, repositories: [a], mode: maybe, keys: []}]",
		"verifier: nope\n" + verificationPolicy("unknown-verifier"),
		"pluginsDir: /tmp\nrules: []",
	} {
		rec := n.do(http.MethodPut, body)
		var e struct{ Error string }
		if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
			t.Errorf("PUT of an invalid policy: %d %s, want 400 with an error", rec.Code, rec.Body)
		}
	}
	n.start()
	if got := n.ruleNames(); got != "good" {
		t.Fatalf("after the invalid PUTs and a restart: rules %q, want the last valid PUT's", got)
	}
}

func TestResetClearsThePutVerificationPolicyAndBringsBackTheFiles(t *testing.T) {
	n := newVerificationNode(t)
	n.writeFile(verificationPolicy("from-file"))
	n.start()
	if rec := n.do(http.MethodPut, verificationPolicy("from-put")); rec.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	if rec := adminRequest(n.srv, http.MethodPost, "/_berth/reset", "127.0.0.1:4566"); rec.Code != http.StatusOK {
		t.Fatalf("reset: %d %s", rec.Code, rec.Body)
	}
	if got := n.ruleNames(); got != "from-file" {
		t.Fatalf("after reset: rules %q, want the file's, as at a first start", got)
	}
	n.start()
	if got := n.ruleNames(); got != "from-file" {
		t.Fatalf("a restart after reset: rules %q, want the file's", got)
	}
}
