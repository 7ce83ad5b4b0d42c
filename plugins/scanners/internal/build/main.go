// Command build compiles the built-in scanner plugins to WebAssembly, reproducibly:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false -ldflags="-s -w" -o ospkg.wasm ./ospkg
//
// run from plugins/scanners by `go generate ./plugins/scanners`, and by the test that checks
// the committed module is what the sources build to (with -o to build elsewhere).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	out := flag.String("o", "ospkg.wasm", "where to write the module")
	flag.Parse()
	// The import path, not ./ospkg, so that it builds the same from any directory.
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", *out,
		"github.com/berth-dev/berth/plugins/scanners/ospkg")
	// Only the target is set; the environment's own GOFLAGS or GOWASM would change the bytes.
	cmd.Env = append(withoutKeys(os.Environ(), "GOOS", "GOARCH", "GOFLAGS", "GOWASM", "CGO_ENABLED"),
		"GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=", "GOWASM=", "CGO_ENABLED=0")
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building %s: %v\n", *out, err)
		os.Exit(1)
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
