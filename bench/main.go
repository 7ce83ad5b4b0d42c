// Command bench measures berth against go-containerregistry's in-memory
// registry (pkg/registry) on the same machine, in the same run:
//
//	go run ./bench                 # from the repository root
//
// berth is built from ./cmd/berth and run as a child process in its default
// disk-backed mode (a temporary --data-dir, --no-auth --create-on-push);
// go-containerregistry's registry.New() runs in a second child process (this
// program re-executed). Every measured request is made with raw net/http
// through identical clients, one keep-alive connection per registry.
//
// The results are printed and written to BENCHMARKS.md at the repository
// root (between the bench:begin/bench:end markers if the file has them, so
// hand-written notes outside them survive).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

type options struct {
	reps      int
	blobMiB   int
	manifests int
	gets      int
	berthBin  string
	md        string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == serveGGCRArg {
		if err := serveGGCR(); err != nil {
			fmt.Fprintln(os.Stderr, "ggcr:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.IntVar(&o.reps, "reps", 5, "rounds per measurement; the median is reported")
	flag.IntVar(&o.blobMiB, "blob-mib", 200, "size of the large layer in MiB")
	flag.IntVar(&o.manifests, "manifests", 1000, "image manifests in the index")
	flag.IntVar(&o.gets, "gets", 1000, "manifest GETs per round")
	flag.StringVar(&o.berthBin, "berth", "", "use this berth binary instead of building ./cmd/berth")
	flag.StringVar(&o.md, "md", "BENCHMARKS.md", "results file, relative to the repository root (empty: do not write)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// samples holds one figure's measurements for both registries.
type samples struct {
	berth, ggcr []float64
}

func (s *samples) add(name string, v float64) {
	if name == "berth" {
		s.berth = append(s.berth, v)
	} else {
		s.ggcr = append(s.ggcr, v)
	}
}

func run(o options) error {
	if o.reps < 1 || o.blobMiB < 1 || o.manifests < 1 || o.gets < 1 {
		return fmt.Errorf("-reps, -blob-mib, -manifests and -gets must be positive")
	}
	start := time.Now()
	root, err := benchutil.FindRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	bin := o.berthBin
	if bin == "" {
		fmt.Fprintln(os.Stderr, "building ./cmd/berth ...")
		if bin, err = benchutil.BuildBerth(context.Background(), root, tmp); err != nil {
			return err
		}
	}
	bs, err := startBerth(bin, filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	defer bs.stop()
	gs, err := startGGCR()
	if err != nil {
		return err
	}
	defer gs.stop()
	berth, err := newReg(bs)
	if err != nil {
		return err
	}
	ggcr, err := newReg(gs)
	if err != nil {
		return err
	}
	// Alternate which registry goes first from round to round.
	order := func(rep int) []*reg {
		if rep%2 == 0 {
			return []*reg{berth, ggcr}
		}
		return []*reg{ggcr, berth}
	}

	var push, pull, idxBlobs, idxPush, idxPull, get samples

	fmt.Fprintf(os.Stderr, "generating a %d MiB gzip layer ...\n", o.blobMiB)
	layer, err := makeLayer(o.blobMiB << 20)
	if err != nil {
		return err
	}
	// One unmeasured round each first: a fresh process's first large
	// allocations and first page-cache pages are much slower than later ones.
	dg := varyLayer(layer, -1)
	for _, r := range []*reg{berth, ggcr} {
		fmt.Fprintf(os.Stderr, "warm-up: %d MiB blob push+pull on %s\n", o.blobMiB, r.name)
		if _, _, err := bigBlob(r, "bench/warm-up", layer, dg); err != nil {
			return err
		}
	}
	for rep := range o.reps {
		dg := varyLayer(layer, rep)
		for _, r := range order(rep) {
			fmt.Fprintf(os.Stderr, "round %d/%d: %d MiB blob push+pull on %s\n", rep+1, o.reps, o.blobMiB, r.name)
			pu, pl, err := bigBlob(r, fmt.Sprintf("bench/blob-%d", rep), layer, dg)
			if err != nil {
				return err
			}
			push.add(r.name, pu)
			pull.add(r.name, pl)
		}
	}
	layer = nil

	for rep := range o.reps {
		set := makeIndex(o.manifests, fmt.Sprintf("r%d", rep))
		for _, r := range order(rep) {
			fmt.Fprintf(os.Stderr, "round %d/%d: %d-manifest index on %s\n", rep+1, o.reps, o.manifests, r.name)
			t, err := indexRound(r, fmt.Sprintf("bench/index-%d", rep), set)
			if err != nil {
				return err
			}
			idxBlobs.add(r.name, t.blobs)
			idxPush.add(r.name, t.push)
			idxPull.add(r.name, t.pull)
		}
	}

	hot := makeImage("hot")
	for _, r := range []*reg{berth, ggcr} {
		if err := pushHot(r, "bench/get", hot); err != nil {
			return err
		}
		// Warm up the connection and the server.
		if _, err := manifestGets(r, "bench/get", 100, len(hot.manifest.data)); err != nil {
			return err
		}
	}
	for rep := range o.reps {
		for _, r := range order(rep) {
			fmt.Fprintf(os.Stderr, "round %d/%d: %d manifest GETs on %s\n", rep+1, o.reps, o.gets, r.name)
			ms, err := manifestGets(r, "bench/get", o.gets, len(hot.manifest.data))
			if err != nil {
				return err
			}
			get.add(r.name, ms)
		}
	}

	figs := []figure{
		{name: fmt.Sprintf("Blob push, %d MiB gzip layer (POST+PUT)", o.blobMiB), unit: "MiB/s", higherBetter: true, s: push,
			target: "≥ 450 MiB/s", met: func(v float64) bool { return v >= 450 }},
		{name: fmt.Sprintf("Blob pull, %d MiB (GET)", o.blobMiB), unit: "MiB/s", higherBetter: true, s: pull,
			target: "≥ 900 MiB/s", met: func(v float64) bool { return v >= 900 }},
		{name: fmt.Sprintf("Index: push %d config+layer blobs", 2*o.manifests), unit: "s", s: idxBlobs},
		{name: fmt.Sprintf("Index: push %d manifests + index", o.manifests), unit: "s", s: idxPush,
			target: "< 2 s", met: func(v float64) bool { return v < 2 }},
		{name: fmt.Sprintf("Index: pull index + %d manifests", o.manifests), unit: "s", s: idxPull},
		{name: fmt.Sprintf("Manifest GET by tag, keep-alive (%d in a row)", o.gets), unit: "ms each", s: get,
			target: "< 0.15 ms", met: func(v float64) bool { return v < 0.15 }},
	}
	m := collectMachine()
	fmt.Println()
	fmt.Print(textTable(figs, o.reps))
	fmt.Println()
	fmt.Print(textSamples(figs))
	fmt.Printf("\n%s, %d CPUs, %s; bench took %s\n", m.cpu, m.nproc, m.goVersion, time.Since(start).Round(time.Second))

	if o.md != "" {
		path := o.md
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		if err := writeMarkdown(path, markdown(figs, o, m, time.Now())); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}
