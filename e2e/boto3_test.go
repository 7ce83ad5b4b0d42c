package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBoto3 runs testdata/boto3_e2e.py — boto3 as an application uses it —
// against the real binary.
func TestBoto3(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	if out, err := exec.Command(python, "-c", "import boto3").CombinedOutput(); err != nil {
		t.Skipf("boto3 is not importable: %v\n%s", err, out)
	}
	b := Start(t)
	out, err := runScript(t, python, "testdata/boto3_e2e.py", b)
	if err != nil {
		t.Fatalf("testdata/boto3_e2e.py: %v\n%s\nberth stderr:\n%s", err, out, b.Stderr())
	}
	if !strings.Contains(out, "OK: boto3") {
		t.Fatalf("testdata/boto3_e2e.py did not finish:\n%s", out)
	}
	t.Logf("%s", out)
}
