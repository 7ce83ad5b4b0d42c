package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
	"github.com/google/go-containerregistry/pkg/registry"
)

// These tests cover the bench's wiring, arithmetic and report; none of them
// measures or asserts a time. The benchmark itself runs with `go run ./bench`.

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

func TestParseLoad(t *testing.T) {
	l := benchutil.ParseLoad("0.72 1.42 3.23 1/83 9408\n")
	if !l.OK || l.Avg != [3]float64{0.72, 1.42, 3.23} || !l.Busy() || l.Warning() == "" || l.String() != "0.72, 1.42, 3.23" {
		t.Fatalf("got %+v %q", l, l.Warning())
	}
	if l := benchutil.ParseLoad("0.50 9 9"); l.Busy() || l.Warning() != "" {
		t.Fatalf("0.50 is not above the threshold: %+v", l)
	}
	if l := benchutil.ParseLoad("x"); l.OK || l.String() != "unknown" {
		t.Fatalf("got %+v", l)
	}
}

func TestRatioMeansFirstBetter(t *testing.T) {
	var s samples
	s[idBerth] = []float64{200, 100, 300}
	s[idGGCR] = []float64{100, 50, 200}
	tput := figure{higherBetter: true, s: s}
	r, lo, hi, ok := tput.ratio(idBerth, idGGCR)
	if !ok || r != 2 || lo != 0.5 || hi != 6 {
		t.Errorf("throughput ratio = %v (%v–%v) %v, want 2 (0.5–6)", r, lo, hi, ok)
	}
	tm := figure{s: s}
	if r, lo, hi, _ := tm.ratio(idBerth, idGGCR); r != 0.5 || lo != 50.0/300 || hi != 2 {
		t.Errorf("time ratio = %v (%v–%v), want 0.5 (0.167–2)", r, lo, hi)
	}
	if _, _, _, ok := tm.ratio(idBerth, idDist); ok {
		t.Error("a ratio against a skipped registry")
	}
}

func TestGoals(t *testing.T) {
	fig := func(key string, berth, dist, mem, ggcr float64) figure {
		var s samples
		for id, v := range []float64{berth, dist, mem, ggcr} {
			s[id] = []float64{v * 0.9, v, v * 1.1}
		}
		return figure{key: key, name: key, unit: "s", s: s}
	}
	figs := []figure{
		fig(figGet, 1, 2, 1, 1),       // berth = ggcr: ≤ met; berth < dist
		fig(figIdxPush, 1.1, 1, 1, 1), // berth slower than dist and ggcr
		fig(figSmall8, 1.9, 4, 0.5, 1),
	}
	want := []string{"**MISSED**", "met", "met", "**MISSED**", "met"}
	for i, g := range goals {
		if got := g.eval(figs).verdict(); got != want[i] {
			t.Errorf("%s: %s, want %s", g.text, got, want[i])
		}
	}
	if o := goals[0].eval(figs); len(o.missed) != 1 || !strings.HasPrefix(o.missed[0], figIdxPush) || len(o.noisy) != 1 {
		t.Errorf("missed %v, noisy %v", o.missed, o.noisy)
	}
	figs[0].s[idDist] = nil
	if o := goals[0].eval(figs); o.verdict() != "not measured" {
		t.Errorf("with distribution skipped: %s", o.verdict())
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

func TestDistributionConfig(t *testing.T) {
	cfg := distConfig("/tmp/x y/storage", 5123)
	for _, want := range []string{"rootdirectory: \"/tmp/x y/storage\"", "addr: 127.0.0.1:5123", "enabled: true", "disabled: true"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if !strings.Contains(distGoMod(), "require "+distModule+" "+distVersion) {
		t.Errorf("go.mod: %s", distGoMod())
	}
	t.Setenv("REGISTRY_HTTP_ADDR", ":1")
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	env := strings.Join(distEnv(), "\n")
	if strings.Contains(env, "REGISTRY_HTTP_ADDR") || strings.Contains(env, "=otlp") || !strings.Contains(env, "OTEL_TRACES_EXPORTER=none") {
		t.Errorf("env: %s", env)
	}
}

// TestWorkloadsSmoke runs every workload once, at a tiny size, against
// go-containerregistry's registry in process, and renders the report: the
// wiring, not the speed.
func TestWorkloadsSmoke(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	tg := &target{id: idGGCR}
	var err error
	if tg.r, err = newReg("ggcr", srv.URL); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c, err := newReg("ggcr", srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		tg.clients = append(tg.clients, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := options{reps: 2, blobMiB: 1, manifests: 5, gets: 3, clients: 3}
	figs, err := measure(ctx, o, []*target{tg})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range figs {
		if len(f.s[idGGCR]) != o.reps || f.has(idBerth) {
			t.Errorf("%s: %v", f.name, f.s)
		}
	}
	md := report{figs: figs, o: o, m: collectMachine(), date: time.Now(), distNote: "skipped (test)",
		load0: benchutil.ParseLoad("0.9 0 0")}.markdown()
	for _, want := range []string{mdBegin, mdEnd, "| ggcr |", "not measured", "WARNING", "skipped (test)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestWriteIndexPushesOnlyManifests checks what the index push sends once
// the blobs are there: no uploads, a PUT per manifest and one for the index.
func TestWriteIndexPushesOnlyManifests(t *testing.T) {
	var mu sync.Mutex
	count := map[string]int{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		count[r.Method]++
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	r, err := newReg("ggcr", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	set := makeIndex(7, "w")
	for _, b := range smallBlobs(set) {
		if err := r.pushBlob("w/x", b.data, b.digest); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := newCraneIndex(set)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clear(count)
	mu.Unlock()
	if err := r.writeIndex(context.Background(), "w/x", "index", ix); err != nil {
		t.Fatal(err)
	}
	if count["POST"] != 0 || count["PATCH"] != 0 || count["PUT"] != 8 || count["HEAD"] != 3*7+1 {
		t.Fatalf("requests by method: %v", count)
	}
	b, err := r.getManifest("w/x", "index")
	if err != nil || string(b) != string(set.index) {
		t.Fatalf("pulled index %q, %v", b, err)
	}
}
