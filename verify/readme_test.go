package verify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

// README's example policy must load as it is, with its key files beside it.
func TestREADMEExamplePolicyLoads(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Verifying signatures")
	_, block, ok2 := strings.Cut(section, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no YAML example under \"### Verifying signatures\"")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cosign.pub"), []byte(sigtest.NewKey().PublicPEM()), 0o644)
	os.WriteFile(filepath.Join(dir, "release-ca.pem"), []byte(sigtest.NewCA("ca").PEM()), 0o644)
	os.WriteFile(filepath.Join(dir, "verify.yaml"), []byte(block), 0o644)
	c, err := LoadConfig(filepath.Join(dir, "verify.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 2 || c.Rules[0].Mode != Enforce || !c.Rules[0].Pull || len(c.Rules[0].Keys) != 2 || c.Rules[1].Mode != Audit {
		t.Fatalf("README's policy loaded as %+v", c)
	}
}
