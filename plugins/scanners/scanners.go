// Package scanners holds berth's built-in scanner plugins, compiled to WebAssembly and
// embedded: the host loads them like any plugin from the plugins directory. Their sources are
// the subdirectories (ospkg/); `go generate ./plugins/scanners` rebuilds the modules, and a
// test fails when a committed module is not what its sources build to.
package scanners

import _ "embed"

// Builtin is one embedded plugin: its manifest (JSON, as in NAME.json) and its module.
type Builtin struct {
	Manifest []byte
	Wasm     []byte
}

var (
	//go:embed ospkg.json
	ospkgManifest []byte
	//go:embed ospkg.wasm
	ospkgWasm []byte
)

// Builtins returns the built-in plugins.
func Builtins() []Builtin {
	return []Builtin{{Manifest: ospkgManifest, Wasm: ospkgWasm}}
}
