// Command ospkg is berth's built-in OS-package scanner, a plugin like any other (plugins/ABI.md,
// "Scanner kind"), built with the SDK users get. It reads the distribution and the dpkg or apk
// database from the image paths the host mounts at /rootfs, and matches the installed source
// packages against the OSV advisory index mounted at /db.
//
// Build it with `go generate ./plugins/scanners`, which writes ospkg.wasm beside its manifest.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"

	"github.com/berth-dev/berth/plugins/scanners/ospkg/internal/scan"
	"github.com/berth-dev/berth/plugins/sdk"
)

func main() {
	// A scan is one short process: collecting garbage before the heap is sizeable only costs
	// time (a few cycles of a few tens of ms each in the sandbox). Collection starts at 48 MiB,
	// which leaves room under the smallest memory cap a host would set (64 MiB).
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(48 << 20)
	sdk.Run(handle)
}

func handle(req sdk.Request) (sdk.Response, error) {
	if req.Kind != "scanner" {
		return sdk.Response{}, fmt.Errorf("ospkg is a scanner, not a %q", req.Kind)
	}
	var in scan.Input
	if err := req.Decode(&in); err != nil {
		return sdk.Response{}, err
	}
	rootfs, err := dir("rootfs", in.Rootfs)
	if err != nil {
		return sdk.Response{}, err
	}
	var db fs.FS
	if in.DB != "" {
		if db, err = dir("db", in.DB); err != nil {
			return sdk.Response{}, err
		}
	}
	s := scan.Scanner{Log: os.Stderr}
	out, err := s.Scan(rootfs, db)
	if err != nil {
		return sdk.Response{}, err
	}
	// sdk.Output would encode with encoding/json; AppendJSON writes the same JSON faster.
	return sdk.Response{Output: out.AppendJSON(nil)}, nil
}

// dir opens a mounted directory, refusing a missing one: an image whose root is absent would
// otherwise look like an image without an operating system.
func dir(field, p string) (fs.FS, error) {
	if p == "" {
		return nil, fmt.Errorf("input has no %s", field)
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", field, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("input %s: %s is not a directory", field, p)
	}
	return os.DirFS(p), nil
}
