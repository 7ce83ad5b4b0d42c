package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LoadError is a plugin that could not be loaded: the file at fault and why.
type LoadError struct {
	File string
	Err  error
}

func (e LoadError) Error() string { return e.File + ": " + e.Err.Error() }
func (e LoadError) Unwrap() error { return e.Err }

// LoadDir loads every NAME.wasm in dir with its manifest NAME.json, in name order. A plugin that
// fails to load is skipped and reported among the LoadErrors; the others still load. The error
// is for the directory itself being unreadable.
func (h *Host) LoadDir(ctx context.Context, dir string) ([]*Plugin, []LoadError, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading plugins directory: %w", err)
	}
	wasmFiles := map[string]bool{}
	manifestFiles := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch filepath.Ext(e.Name()) {
		case ".wasm":
			wasmFiles[strings.TrimSuffix(e.Name(), ".wasm")] = true
		case ".json":
			manifestFiles[strings.TrimSuffix(e.Name(), ".json")] = true
		}
	}
	var names []string
	for name := range wasmFiles {
		names = append(names, name)
	}
	sort.Strings(names)

	var loaded []*Plugin
	var loadErrors []LoadError
	for name := range manifestFiles {
		if !wasmFiles[name] {
			loadErrors = append(loadErrors, LoadError{
				File: filepath.Join(dir, name+".json"),
				Err:  fmt.Errorf("manifest without a module: no %s.wasm", name),
			})
		}
	}
	for _, name := range names {
		p, loadErr := h.loadFile(ctx, dir, name)
		if loadErr != nil {
			loadErrors = append(loadErrors, *loadErr)
			continue
		}
		loaded = append(loaded, p)
	}
	sort.Slice(loadErrors, func(i, j int) bool { return loadErrors[i].File < loadErrors[j].File })
	return loaded, loadErrors, nil
}

func (h *Host) loadFile(ctx context.Context, dir, name string) (*Plugin, *LoadError) {
	wasmPath := filepath.Join(dir, name+".wasm")
	manifestPath := filepath.Join(dir, name+".json")
	manifestJSON, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, &LoadError{File: wasmPath, Err: fmt.Errorf("reading its manifest: %w", err)}
	}
	var manifest Manifest
	dec := json.NewDecoder(bytes.NewReader(manifestJSON))
	// A misspelt field would otherwise load with that field empty.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&manifest); err != nil {
		return nil, &LoadError{File: manifestPath, Err: fmt.Errorf("parsing manifest: %w", err)}
	}
	if err := manifest.Validate(); err != nil {
		return nil, &LoadError{File: manifestPath, Err: err}
	}
	if manifest.Name != name {
		return nil, &LoadError{File: manifestPath, Err: fmt.Errorf("manifest names the plugin %q, its file %q", manifest.Name, name)}
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return nil, &LoadError{File: wasmPath, Err: err}
	}
	p, err := h.Load(ctx, manifest, wasm)
	if err != nil {
		return nil, &LoadError{File: wasmPath, Err: err}
	}
	return p, nil
}
