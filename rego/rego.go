// Package rego holds berth's hand-written Rego library: package berth.iam
// (IAM matching, policy variables, condition operators) and package
// berth.authz (AWS's decision combination). Compiled policies (package
// policy) call into it; users load it with their exported policies to write
// `opa test` cases.
package rego

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

//go:embed lib/*.rego
var lib embed.FS

// Library returns the library's modules, file name → source, without the
// Rego tests.
func Library() map[string]string {
	return files(func(name string) bool { return !strings.HasSuffix(name, "_test.rego") })
}

// Tests returns the library's Rego unit tests, file name → source.
func Tests() map[string]string {
	return files(func(name string) bool { return strings.HasSuffix(name, "_test.rego") })
}

func files(keep func(string) bool) map[string]string {
	out := map[string]string{}
	entries, err := fs.ReadDir(lib, "lib")
	if err != nil {
		panic(err) // the directory is embedded: it exists
	}
	for _, e := range entries {
		if !keep(e.Name()) {
			continue
		}
		b, err := lib.ReadFile(path.Join("lib", e.Name()))
		if err != nil {
			panic(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}
