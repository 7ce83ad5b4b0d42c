// Package wasmbuild builds berth's built-in plugins to WebAssembly, reproducibly:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -ldflags="-s -w" -o OUT PKG
//
// `go generate` runs it through its command (./cmd/wasmbuild) to write the committed modules,
// and each built-in's test through Check, which fails unless the committed module is what its
// sources build to — so nobody runs a plugin whose code is not in the repository.
package wasmbuild

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Build compiles the package pkg (an import path, so that it builds the same from any
// directory) into the module out.
func Build(out, pkg string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	// Only the target is set; the environment's own GOFLAGS or GOWASM would change the bytes.
	cmd.Env = append(withoutKeys(os.Environ(), "GOOS", "GOARCH", "GOFLAGS", "GOWASM", "CGO_ENABLED"),
		"GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=", "GOWASM=", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", pkg, err, msg)
	}
	return nil
}

// Check rebuilds pkg and fails t unless the result is byte-identical to committed; dir is
// what to run `go generate` on to bring it up to date. The build is reproducible (-trimpath,
// no VCS stamp, no symbols), so a rebuild differs only when the sources or the toolchain did.
func Check(t testing.TB, pkg string, committed []byte, dir string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "module.wasm")
	if err := Build(out, pkg); err != nil {
		t.Fatal(err)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, committed) {
		t.Fatalf("stale: run go generate %s (%s builds to %d bytes, sha256 %x; the committed module has %d bytes, sha256 %x; built with %s)",
			dir, pkg, len(built), sha256.Sum256(built), len(committed), sha256.Sum256(committed), runtime.Version())
	}
}

func withoutKeys(env []string, keys ...string) []string {
	var kept []string
	for _, kv := range env {
		drop := false
		for _, k := range keys {
			if strings.HasPrefix(kv, k+"=") {
				drop = true
			}
		}
		if !drop {
			kept = append(kept, kv)
		}
	}
	return kept
}
