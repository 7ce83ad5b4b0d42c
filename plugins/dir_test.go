package plugins

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDirLoadsGoodPluginsAndReportsEachBadOneWithItsFileAndReason(t *testing.T) {
	dir := t.TempDir()
	// Loads: the example plugin with the manifest shipped beside its source.
	copyFile(t, filepath.Join(wasmDir, "plugin-hello.wasm"), filepath.Join(dir, "plugin-hello.wasm"))
	copyFile(t, "../examples/plugin-hello/plugin-hello.json", filepath.Join(dir, "plugin-hello.json"))
	// Fails: not WebAssembly.
	writeFile(t, filepath.Join(dir, "broken.wasm"), "#!/bin/sh\necho hi\n")
	writeFile(t, filepath.Join(dir, "broken.json"), `{"name":"broken","kind":"scanner","version":"1","abi":1}`)
	// Fails: no manifest.
	copyFile(t, filepath.Join(wasmDir, "good.wasm"), filepath.Join(dir, "unlisted.wasm"))
	// Fails: a kind the host does not know.
	copyFile(t, filepath.Join(wasmDir, "good.wasm"), filepath.Join(dir, "signer.wasm"))
	writeFile(t, filepath.Join(dir, "signer.json"), `{"name":"signer","kind":"signer","version":"1","abi":1}`)
	// Fails: another ABI version.
	copyFile(t, filepath.Join(wasmDir, "good.wasm"), filepath.Join(dir, "future.wasm"))
	writeFile(t, filepath.Join(dir, "future.json"), `{"name":"future","kind":"scanner","version":"1","abi":2}`)
	// Fails: the manifest names another plugin.
	copyFile(t, filepath.Join(wasmDir, "good.wasm"), filepath.Join(dir, "renamed.wasm"))
	writeFile(t, filepath.Join(dir, "renamed.json"), `{"name":"original","kind":"scanner","version":"1","abi":1}`)
	// Fails: a misspelt field.
	copyFile(t, filepath.Join(wasmDir, "good.wasm"), filepath.Join(dir, "typo.wasm"))
	writeFile(t, filepath.Join(dir, "typo.json"), `{"name":"typo","kind":"scanner","verison":"1","abi":1}`)
	// Fails: a manifest without its module.
	writeFile(t, filepath.Join(dir, "orphan.json"), `{"name":"orphan","kind":"scanner","version":"1","abi":1}`)

	loaded, loadErrors, err := testHost.LoadDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].Manifest().Name != "plugin-hello" {
		t.Fatalf("loaded %d plugins, want plugin-hello only", len(loaded))
	}
	want := map[string]string{
		"broken.wasm":   "compiling plugin broken",
		"future.json":   "manifest ABI version 2",
		"orphan.json":   "no orphan.wasm",
		"renamed.json":  `names the plugin "original"`,
		"signer.json":   `kind "signer"`,
		"typo.json":     `unknown field "verison"`,
		"unlisted.wasm": "reading its manifest",
	}
	for _, le := range loadErrors {
		file := filepath.Base(le.File)
		reason, ok := want[file]
		if !ok {
			t.Errorf("unexpected load error %v", le)
			continue
		}
		if !strings.Contains(le.Error(), reason) {
			t.Errorf("load error %q does not say %q", le.Error(), reason)
		}
		delete(want, file)
	}
	for file := range want {
		t.Errorf("no load error for %s", file)
	}
}

func TestLoadDirOfAMissingDirectoryIsAnError(t *testing.T) {
	if _, _, err := testHost.LoadDir(context.Background(), filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Fatal("loading a missing directory succeeded")
	}
}

// The example is built by the same single command its doc comment gives users, from the
// repository root, and answers through the host.
func TestExamplePluginBuiltWithOneCommandAnswersThroughTheHost(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(dir, "plugin-hello.wasm")
	cmd := exec.Command("go", "build", "-o", wasm, "./examples/plugin-hello")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	copyFile(t, "../examples/plugin-hello/plugin-hello.json", filepath.Join(dir, "plugin-hello.json"))
	loaded, loadErrors, err := testHost.LoadDir(context.Background(), dir)
	if err != nil || len(loadErrors) != 0 || len(loaded) != 1 {
		t.Fatalf("loaded %d, load errors %v, error %v", len(loaded), loadErrors, err)
	}
	resp, err := loaded[0].Call(context.Background(), map[string]string{"name": "ECR"})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Greeting string `json:"greeting"`
	}
	if err := resp.Decode(&out); err != nil || out.Greeting != "hello ECR" {
		t.Fatalf("greeting %q, %v", out.Greeting, err)
	}
	if !strings.Contains(testLog.String(), "name=ECR") {
		t.Fatalf("the example's slog line is not in the host log")
	}
	// Its handler's error is the call's error.
	if _, err := loaded[0].Call(context.Background(), map[string]string{}); err == nil || !strings.Contains(err.Error(), "input has no name") {
		t.Fatalf("call without a name: %v", err)
	}
}
