package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

// These tests cover the bench's arithmetic and report only; the benchmark
// itself runs with `go run ./bench`.

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := benchutil.Median(c.in); got != c.want {
			t.Errorf("benchutil.Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestRatioMeansBerthBetter(t *testing.T) {
	tput := figure{higherBetter: true, s: samples{berth: []float64{200}, ggcr: []float64{100}}}
	if tput.ratio() != 2 {
		t.Errorf("throughput ratio = %v, want 2", tput.ratio())
	}
	time := figure{s: samples{berth: []float64{1}, ggcr: []float64{2}}}
	if time.ratio() != 2 {
		t.Errorf("time ratio = %v, want 2", time.ratio())
	}
}

func TestVaryLayerKeepsGzipHeader(t *testing.T) {
	layer, err := makeLayer(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	a, b := varyLayer(layer, 0), varyLayer(layer, 1)
	if a == b || layer[0] != 0x1f || layer[1] != 0x8b {
		t.Fatalf("digests %s %s, header % x", a, b, layer[:4])
	}
}

func TestWriteMarkdownKeepsNotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	if err := writeMarkdown(path, mdBegin+"\nold\n"+mdEnd+"\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, "\n## Notes\nkeep me\n"...), 0o644)
	if err := writeMarkdown(path, mdBegin+"\nnew\n"+mdEnd+"\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	s := string(b)
	if strings.Contains(s, "old") || !strings.Contains(s, "new") || !strings.Contains(s, "keep me") {
		t.Fatalf("got:\n%s", s)
	}
}
