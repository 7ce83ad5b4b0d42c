package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// TestOCIConformance runs the OCI distribution-spec conformance suite (pinned
// in go.mod as a tool) against the real binary: every API group, including
// the optional ones (upload cancel, tag parameters, digest headers), and every
// data group of the 1.1 profile. Sparse manifests stay disabled, as in the
// suite's default profile: berth, like ECR, rejects a manifest whose blobs
// were never pushed (MANIFEST_BLOB_UNKNOWN).
func TestOCIConformance(t *testing.T) { runConformance(t, false) }

// TestOCIConformanceInMemory runs the suite against berth --memory, whose
// upload sessions are kept in the process alone (core.Options.Ephemeral).
func TestOCIConformanceInMemory(t *testing.T) { runConformance(t, true) }

func runConformance(t *testing.T, memory bool) {
	args := []string{"--create-on-push"}
	if memory {
		args = append(args, "--memory")
	}
	b := Start(t, args...)
	// ECR mounts blobs across repositories only when the account enables it.
	client := ecr.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(b.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDCONFORMANCE", "secret", "")})
	if _, err := client.PutAccountSetting(context.Background(), &ecr.PutAccountSettingInput{
		Name: aws.String("BLOB_MOUNTING"), Value: aws.String("ENABLED")}); err != nil {
		t.Fatal(err)
	}
	results := t.TempDir()
	cmd := exec.Command("go", "tool", "conformance")
	cmd.Dir = ".."
	// OCI_FILTER_TEST would disable the report and the exit code: never inherit it.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OCI_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"OCI_REGISTRY="+b.Addr,
		"OCI_TLS=disabled",
		"OCI_USERNAME=AWS",
		"OCI_PASSWORD="+conformancePassword(t, b, client, memory),
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_RESULTS_DIR="+results,
		"OCI_VERSION=1.1",
		"OCI_API_BLOBS_UPLOAD_CANCEL=true",
		"OCI_API_MANIFESTS_TAG_PARAM=true",
		"OCI_API_BLOBS_DIGEST_HEADER=true",
		"OCI_API_MANIFESTS_DIGEST_HEADER=true",
	)
	out, err := cmd.CombinedOutput()
	summary := regexp.MustCompile(`(?m)^\s+(Pass|FAIL|Skip|Error|Total)\.+:\s+\d+$`).FindAll(out, -1)
	for _, line := range summary {
		t.Log(string(line))
	}
	if err != nil {
		t.Fatalf("conformance suite failed: %v\n%s", err, out)
	}
	count := func(label string) string {
		m := regexp.MustCompile(`(?m)^\s+` + label + `\.+:\s+(\d+)$`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no %s count in the suite's output:\n%s", label, out)
		}
		return string(m[1])
	}
	if fail, pass, total := count("FAIL"), count("Pass"), count("Total"); fail != "0" || pass != total {
		t.Fatalf("conformance: %s of %s passed, %s failed:\n%s", pass, total, fail, out)
	}
	if _, err := os.Stat(filepath.Join(results, "junit.xml")); err != nil {
		t.Fatalf("no report written: %v", err)
	}
}

// conformancePassword is the /v2 password for the suite: from berth token
// on disk, from GetAuthorizationToken in memory (berth --memory keeps its
// token secret in the process, where berth token cannot read it).
func conformancePassword(t *testing.T, b *Berth, client *ecr.Client, memory bool) string {
	t.Helper()
	if !memory {
		return b.Token("")
	}
	out, err := client.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(out.AuthorizationData) == 0 {
		t.Fatalf("GetAuthorizationToken: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	_, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		t.Fatalf("authorization token %q is not user:password", raw)
	}
	return password
}
