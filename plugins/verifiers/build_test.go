package verifiers

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// The committed module must be what its sources build to, so that nobody runs a verifier whose
// code is not in the repository. The build is reproducible (-trimpath, no VCS stamp, no
// symbols), so a rebuild is byte-identical unless the sources or the Go toolchain changed.
func TestEmbeddedModuleIsWhatItsSourcesBuildTo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: rebuilding the module takes a while")
	}
	out := filepath.Join(t.TempDir(), "cosignverify.wasm")
	cmd := exec.Command("go", "run", "./internal/build", "-o", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/build: %v\n%s", err, msg)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, cosignverifyWasm) {
		t.Fatalf("stale: run go generate ./plugins/verifiers (the sources build to %d bytes, sha256 %x; "+
			"cosignverify.wasm has %d bytes, sha256 %x; built with %s)",
			len(built), sha256.Sum256(built), len(cosignverifyWasm), sha256.Sum256(cosignverifyWasm), runtime.Version())
	}
}
