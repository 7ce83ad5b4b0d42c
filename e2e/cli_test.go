package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLI runs testdata/cli.sh — the AWS CLI driven as a user would drive it
// — against the real binary.
func TestCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH")
	}
	for _, tool := range []string{"bash", "curl", "sha256sum", "tar", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH", tool)
		}
	}
	b := Start(t)
	out, err := runScript(t, "bash", "testdata/cli.sh", b)
	if err != nil {
		t.Fatalf("testdata/cli.sh: %v\n%s\nberth stderr:\n%s", err, out, b.Stderr())
	}
	if !strings.Contains(out, "OK: AWS CLI end-to-end") {
		t.Fatalf("testdata/cli.sh did not finish:\n%s", out)
	}
	t.Logf("%s", out)
}

// runScript runs interpreter script against b with static test credentials
// and a fresh HOME and AWS configuration, so nothing from the machine's own
// AWS set-up leaks in. It returns stdout and stderr combined.
func runScript(t *testing.T, interpreter, script string, b *Berth) (string, error) {
	t.Helper()
	home := t.TempDir()
	awsDir := filepath.Join(home, ".aws")
	if err := os.MkdirAll(awsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(awsDir, "config")
	credentials := filepath.Join(awsDir, "credentials")
	if err := os.WriteFile(config, []byte("[default]\nregion = us-east-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(credentials, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "BERTH_") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+home,
		"AWS_CONFIG_FILE="+config,
		"AWS_SHARED_CREDENTIALS_FILE="+credentials,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"BERTH_ENDPOINT="+b.URL,
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, interpreter, script)
	cmd.Env = env
	cmd.Dir = "."
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}
