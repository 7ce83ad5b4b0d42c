// Command bench measures berth against two peers on the same machine, in the
// same run:
//
//	go run ./bench                 # from the repository root
//
// Four registries run as child processes on 127.0.0.1:
//
//   - berth, built from ./cmd/berth, in its default disk-backed mode (a
//     temporary --data-dir; --no-auth --create-on-push);
//   - distribution/distribution v3 (the reference registry), its filesystem
//     driver in a temporary directory: the durable peer. It is built once
//     into the user's cache directory (see distribution.go); when it cannot
//     be built its column is skipped with a message;
//   - berth --memory;
//   - go-containerregistry's registry.New() (this program re-executed): the
//     in-memory peer.
//
// Every workload runs on each of them, round after round (the order rotates
// from round to round); each cell is the median of the rounds with its
// min–max range. The ratios and the targets (met or missed) are
// printed and written to BENCHMARKS.md at the repository root, between the
// bench:begin/bench:end markers, so hand-written notes outside them survive.
// Nothing here asserts a time: a missed target is reported, not failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

type options struct {
	reps      int
	blobMiB   int
	manifests int
	gets      int
	clients   int
	berthBin  string
	dist      string
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
	flag.IntVar(&o.reps, "reps", 5, "rounds per measurement; the median and the min–max range are reported")
	flag.IntVar(&o.blobMiB, "blob-mib", 200, "size of the large layer in MiB")
	flag.IntVar(&o.manifests, "manifests", 1000, "image manifests in the index (the small-blob workloads push 2 blobs per image)")
	flag.IntVar(&o.gets, "gets", 1000, "manifest GETs per round")
	flag.IntVar(&o.clients, "clients", 8, "concurrent clients in the concurrent small-blob push")
	flag.StringVar(&o.berthBin, "berth", "", "use this berth binary instead of building ./cmd/berth")
	flag.StringVar(&o.dist, "distribution", "", `distribution's registry binary: "" builds it once into the cache directory, "off" skips it, anything else is the path of one`)
	flag.StringVar(&o.md, "md", "BENCHMARKS.md", "results file, relative to the repository root (empty: do not write)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// regID names the registries under test; it indexes samples.
type regID int

const (
	idBerth    regID = iota // durable berth
	idDist                  // distribution, durable
	idBerthMem              // berth --memory
	idGGCR                  // go-containerregistry, in memory
	nRegs
)

var regNames = [nRegs]string{"berth", "distribution", "berth --memory", "ggcr"}

// samples holds one figure's rounds for each registry (none for a skipped one).
type samples [nRegs][]float64

// children are the servers started so far, to stop at the end or on a signal.
type children struct {
	mu sync.Mutex
	s  []*server
}

func (c *children) add(s *server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s = append(c.s, s)
}

func (c *children) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.s {
		s.Stop()
	}
}

// target is one registry under test and its clients.
type target struct {
	id      regID
	srv     *server
	r       *reg   // the one keep-alive connection
	clients []*reg // the concurrent clients, one connection each
}

func run(o options) error {
	if o.reps < 1 || o.blobMiB < 1 || o.manifests < 1 || o.gets < 1 || o.clients < 1 {
		return fmt.Errorf("-reps, -blob-mib, -manifests, -gets and -clients must be positive")
	}
	start := time.Now()
	load0 := benchutil.ReadLoad()
	if w := load0.Warning(); w != "" {
		fmt.Fprintf(os.Stderr, "\n%s\n\n", w)
	}
	root, err := benchutil.FindRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var kids children
	defer kids.stopAll()
	// A signal stops the children and exits (deferred calls would not run).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			cancel()
			kids.stopAll()
			os.RemoveAll(tmp)
			os.Exit(130)
		}
	}()

	bin := o.berthBin
	if bin == "" {
		fmt.Fprintln(os.Stderr, "building ./cmd/berth ...")
		if bin, err = benchutil.BuildBerth(ctx, root, tmp); err != nil {
			return err
		}
	}
	distBin, distNote := "", ""
	switch o.dist {
	case "off":
		distNote = "skipped (-distribution off)"
	case "":
		if distBin, err = distributionBinary(ctx, os.Stderr); err != nil {
			distNote = "skipped: " + err.Error()
		}
	default:
		distBin = o.dist
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	var targets []*target
	add := func(id regID, s *server, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", regNames[id], err)
		}
		kids.add(s)
		t := &target{id: id, srv: s}
		if t.r, err = newReg(regNames[id], s.URL); err != nil {
			return err
		}
		for range o.clients {
			c, err := newReg(regNames[id], s.URL)
			if err != nil {
				return err
			}
			t.clients = append(t.clients, c)
		}
		targets = append(targets, t)
		return nil
	}
	s, err := startBerth(regNames[idBerth], bin, filepath.Join(tmp, "berth-data"))
	if err := add(idBerth, s, err); err != nil {
		return err
	}
	if distBin != "" {
		s, err := startDistribution(distBin, filepath.Join(tmp, "distribution"))
		if err != nil {
			distNote = "skipped: " + err.Error()
		} else if err := add(idDist, s, nil); err != nil {
			return err
		}
	}
	if distNote != "" {
		fmt.Fprintf(os.Stderr, "\ndistribution %s: %s; its column stays empty\n\n", distVersion, distNote)
	}
	s, err = startBerth(regNames[idBerthMem], bin, "")
	if err := add(idBerthMem, s, err); err != nil {
		return err
	}
	s, err = startGGCR()
	if err := add(idGGCR, s, err); err != nil {
		return err
	}
	for _, t := range targets {
		fmt.Fprintf(os.Stderr, "%s at %s\n", regNames[t.id], t.srv.URL)
	}

	figs, err := measure(ctx, o, targets)
	if err != nil {
		return err
	}
	load1 := benchutil.ReadLoad()
	rep := report{
		figs: figs, o: o, m: collectMachine(), date: start, took: time.Since(start),
		load0: load0, load1: load1, distNote: distNote, args: os.Args[1:],
	}
	section := rep.markdown()
	fmt.Println()
	fmt.Print(section)
	fmt.Println()
	fmt.Print(textSamples(figs))
	if w := load0.Warning(); w != "" {
		fmt.Printf("\n%s\n", w)
	}
	if o.md != "" {
		path := o.md
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		if err := writeMarkdown(path, section); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}

// Figure keys, which the targets refer to.
const (
	figPush    = "push"
	figPull    = "pull"
	figSmall8  = "small-concurrent"
	figSmall1  = "small-sequential"
	figIdxPush = "index-push"
	figIdxPull = "index-pull"
	figGet     = "get"
)

// measure runs every workload on every target: one unmeasured warm-up each,
// then o.reps rounds, rotating which registry goes first.
func measure(ctx context.Context, o options, targets []*target) ([]figure, error) {
	order := func(rep int) []*target {
		out := make([]*target, len(targets))
		for i := range targets {
			out[i] = targets[(i+rep)%len(targets)]
		}
		return out
	}
	var push, pull, small8, small1, idxPush, idxPull, get samples

	fmt.Fprintf(os.Stderr, "generating a %d MiB gzip layer ...\n", o.blobMiB)
	layer, err := makeLayer(o.blobMiB << 20)
	if err != nil {
		return nil, err
	}
	// One unmeasured round each first: a fresh process's first large
	// allocations and first page-cache pages are much slower than later
	// ones, and the first small writes create files and buckets.
	dg := varyLayer(layer, -1)
	warm := makeIndex(min(o.manifests, 50), "warm")
	warmBlobs := smallBlobs(makeIndex(min(o.manifests, 50), "warm8"))
	for _, t := range targets {
		fmt.Fprintf(os.Stderr, "warm-up on %s\n", t.r.name)
		if _, _, err := bigBlob(t.r, "bench/warm-up", layer, dg); err != nil {
			return nil, err
		}
		if _, err := indexRound(ctx, t.r, "bench/warm-up", warm); err != nil {
			return nil, err
		}
		if _, err := pushConcurrent(t.clients, "bench/warm-up", warmBlobs); err != nil {
			return nil, err
		}
	}
	for rep := range o.reps {
		dg := varyLayer(layer, rep)
		for _, t := range order(rep) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "round %d/%d: %d MiB blob push+pull on %s\n", rep+1, o.reps, o.blobMiB, t.r.name)
			pu, pl, err := bigBlob(t.r, fmt.Sprintf("bench/blob-%d", rep), layer, dg)
			if err != nil {
				return nil, err
			}
			push[t.id] = append(push[t.id], pu)
			pull[t.id] = append(pull[t.id], pl)
		}
	}
	layer = nil

	for rep := range o.reps {
		set := makeIndex(o.manifests, fmt.Sprintf("r%d", rep))
		conc := smallBlobs(makeIndex(o.manifests, fmt.Sprintf("c%d", rep)))
		for _, t := range order(rep) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "round %d/%d: %d small blobs from %d clients, then a %d-manifest index, on %s\n",
				rep+1, o.reps, len(conc), o.clients, o.manifests, t.r.name)
			d, err := pushConcurrent(t.clients, fmt.Sprintf("bench/small-%d", rep), conc)
			if err != nil {
				return nil, err
			}
			small8[t.id] = append(small8[t.id], d)
			it, err := indexRound(ctx, t.r, fmt.Sprintf("bench/index-%d", rep), set)
			if err != nil {
				return nil, err
			}
			small1[t.id] = append(small1[t.id], it.blobs)
			idxPush[t.id] = append(idxPush[t.id], it.push)
			idxPull[t.id] = append(idxPull[t.id], it.pull)
		}
	}

	hot := makeImage("hot")
	for _, t := range targets {
		if err := pushHot(t.r, "bench/get", hot); err != nil {
			return nil, err
		}
		// Warm up the connection and the server.
		if _, err := manifestGets(t.r, "bench/get", 100, len(hot.manifest.data)); err != nil {
			return nil, err
		}
	}
	for rep := range o.reps {
		for _, t := range order(rep) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "round %d/%d: %d manifest GETs on %s\n", rep+1, o.reps, o.gets, t.r.name)
			ms, err := manifestGets(t.r, "bench/get", o.gets, len(hot.manifest.data))
			if err != nil {
				return nil, err
			}
			get[t.id] = append(get[t.id], ms)
		}
	}

	return []figure{
		{key: figPush, name: fmt.Sprintf("Blob push, %d MiB (POST+PUT)", o.blobMiB), unit: "MiB/s", higherBetter: true, s: push,
			abs: &absTarget{"≥ 450 MiB/s", func(v float64) bool { return v >= 450 }}},
		{key: figPull, name: fmt.Sprintf("Blob pull, %d MiB (GET)", o.blobMiB), unit: "MiB/s", higherBetter: true, s: pull,
			abs: &absTarget{"≥ 900 MiB/s", func(v float64) bool { return v >= 900 }}},
		{key: figSmall8, name: fmt.Sprintf("Small blobs: push %d by %d concurrent clients", 2*o.manifests, o.clients), unit: "s", s: small8},
		{key: figSmall1, name: fmt.Sprintf("Small blobs: push %d one after another", 2*o.manifests), unit: "s", s: small1},
		{key: figIdxPush, name: fmt.Sprintf("Index: push %d manifests + index (remote.WriteIndex, 4 jobs)", o.manifests), unit: "s", s: idxPush,
			abs: &absTarget{"< 2 s", func(v float64) bool { return v < 2 }}},
		{key: figIdxPull, name: fmt.Sprintf("Index: pull index + %d manifests", o.manifests), unit: "s", s: idxPull},
		{key: figGet, name: fmt.Sprintf("Manifest GET by tag, keep-alive (%d in a row)", o.gets), unit: "ms each", s: get,
			abs: &absTarget{"< 0.15 ms", func(v float64) bool { return v < 0.15 }}},
	}, nil
}
