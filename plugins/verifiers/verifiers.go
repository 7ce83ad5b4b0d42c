// Package verifiers holds berth's built-in verifier plugin, compiled to WebAssembly and
// embedded: berth loads it like any plugin, and a verifier of the same name in the plugins
// directory replaces it. Its source is cosignverify/; `go generate ./plugins/verifiers`
// rebuilds the module, and a test fails when the committed module is not what the sources
// build to.
package verifiers

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/plugins"
)

var (
	//go:embed cosignverify.json
	cosignverifyManifest []byte
	//go:embed cosignverify.wasm
	cosignverifyWasm []byte
)

// Builtin is one embedded plugin: its manifest (JSON, as in NAME.json) and its module.
type Builtin struct {
	Manifest []byte
	Wasm     []byte
}

// Cosignverify returns the built-in verifier.
func Cosignverify() Builtin {
	return Builtin{Manifest: cosignverifyManifest, Wasm: cosignverifyWasm}
}

// Load compiles the built-in verifier in h (or takes it from h's compilation cache).
func Load(ctx context.Context, h *plugins.Host) (*plugins.Plugin, error) {
	b := Cosignverify()
	var m plugins.Manifest
	if err := json.Unmarshal(b.Manifest, &m); err != nil {
		return nil, fmt.Errorf("built-in verifier manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("built-in verifier manifest: %w", err)
	}
	return h.Load(ctx, m, b.Wasm)
}
