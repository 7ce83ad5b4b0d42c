package plugins

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// timeLoad starts a host on cacheDir and measures loading the good plugin into it.
func timeLoad(tb testing.TB, cacheDir string) time.Duration {
	tb.Helper()
	ctx := context.Background()
	h, err := NewHost(ctx, Config{CacheDir: cacheDir, Logger: slog.New(slog.DiscardHandler), Limits: testLimits})
	if err != nil {
		tb.Fatal(err)
	}
	defer h.Close(ctx)
	start := time.Now()
	p, err := loadTestPlugin(h, "good")
	elapsed := time.Since(start)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := p.Call(ctx, goodInput{Name: "cache"}); err != nil {
		tb.Fatalf("plugin loaded from the cache: %v", err)
	}
	return elapsed
}

func TestCompilationCacheInTheGivenDirectoryMakesTheNextLoadFaster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wazero-cache")
	cold := timeLoad(t, dir)
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("nothing cached in %s: %v", dir, err)
	}
	warm := timeLoad(t, dir)
	wasm, _ := os.Stat(filepath.Join(wasmDir, "good.wasm"))
	t.Logf("compile of a %.1f MB Go plugin: cold %s, from the cache %s", float64(wasm.Size())/1e6, cold.Round(time.Millisecond), warm.Round(time.Millisecond))
	if warm >= cold {
		t.Fatalf("loading from the cache took %s, compiling %s", warm, cold)
	}
}

// The load benchmarks report ms/load, the Load alone; ns/op also counts starting the host and
// one call that proves the plugin runs.
func BenchmarkLoadCold(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		total += timeLoad(b, "")
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/load")
}

func BenchmarkLoadFromCache(b *testing.B) {
	dir := b.TempDir()
	timeLoad(b, dir)
	var total time.Duration
	for b.Loop() {
		total += timeLoad(b, dir)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/load")
}

// BenchmarkCallGood is the cost of one call: a fresh instance, the Go runtime's start-up in it,
// a request in and a response out.
func BenchmarkCallGood(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		if _, err := good.Call(ctx, goodInput{Name: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}
