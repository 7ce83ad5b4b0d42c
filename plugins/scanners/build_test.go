package scanners

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// The committed module must be what its sources build to, so that nobody runs a scanner whose
// code is not in the repository. The build is reproducible (-trimpath, no VCS stamp, no
// symbols), so a rebuild is byte-identical unless the sources or the Go toolchain changed.
func TestEmbeddedModuleIsWhatItsSourcesBuildTo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: rebuilding the module takes a while")
	}
	out := filepath.Join(t.TempDir(), "ospkg.wasm")
	cmd := exec.Command("go", "run", "./internal/build", "-o", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/build: %v\n%s", err, msg)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, ospkgWasm) {
		t.Fatalf("stale: run go generate ./plugins/scanners (the sources build to %d bytes, sha256 %x; "+
			"ospkg.wasm has %d bytes, sha256 %x; built with %s)",
			len(built), sha256.Sum256(built), len(ospkgWasm), sha256.Sum256(ospkgWasm), runtime.Version())
	}
}
