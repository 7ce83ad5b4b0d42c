// Command moto measures berth against moto (moto_server, the Python AWS
// mock) on the ECR JSON API, on the same machine, in the same run:
//
//	go run ./bench/moto            # from the repository root; moto_server on PATH
//
// berth is built from ./cmd/berth and run as `berth serve --memory`; moto
// runs as `moto_server -H 127.0.0.1 -p <free port>`. Both are driven by the
// same aws-sdk-go-v2 ECR client code, one sequential client each, on the
// same work:
//
//   - PutImage of N distinct small OCI image manifests (one config and one
//     layer, distinguished by an annotation), into a fresh repository per
//     round;
//   - DescribeImages: full listings of a repository holding the N images,
//     following nextToken (maxResults 100);
//   - BatchGetImage by tag, one image per call, cycling over the N tags.
//
// berth refuses a manifest whose blobs are not in the repository, so the
// config and layer are uploaded first through the layer-upload API
// (InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload) — not timed.
// The same upload is attempted on moto; moto does not implement that API
// (and does not check layers), which the run reports.
//
// Each rate is the median of -reps rounds. Next to it: the server's CPU time
// per operation (user+system time of its process group from /proc, Linux
// only), and the client ceiling — the same client against a canned loopback
// answer — which bounds any rate measurable this way. A second, server-bound
// table follows (see raw.go): PutImage, BatchGetImage, DescribeImages by
// imageId and as a page of a larger repository, DescribeRepositories and
// ListImages, each against issue 8's target of 50× moto's rate.
//
// The results are printed as Markdown, with the load average at the start
// and the end (and a warning when it was above 0.5 at the start); with
// -md FILE they also replace the moto:begin/moto:end block of FILE.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

type options struct {
	images    int
	reps      int
	gets      int
	listings  int
	berthBin  string
	moto      string
	timeout   time.Duration
	rawConns  int
	rawTime   time.Duration
	rawRounds int
	rawImages int
	md        string
}

// logw is where progress goes.
var logw io.Writer = os.Stderr

func main() {
	var o options
	flag.IntVar(&o.images, "images", 500, "N: images pushed per PutImage round, and in the listed repository")
	flag.IntVar(&o.reps, "reps", 3, "rounds per measurement; the median is reported")
	flag.IntVar(&o.gets, "gets", 1000, "BatchGetImage calls per round")
	flag.IntVar(&o.listings, "listings", 20, "full DescribeImages listings per round")
	flag.StringVar(&o.berthBin, "berth", "", "use this berth binary instead of building ./cmd/berth")
	flag.StringVar(&o.moto, "moto", "moto_server", "the moto_server command")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.IntVar(&o.rawConns, "raw-conns", 8, "connections at once in the server-bound mode (0: skip it)")
	flag.DurationVar(&o.rawTime, "raw-time", 2*time.Second, "how long each server-bound workload runs per round")
	flag.IntVar(&o.rawRounds, "raw-rounds", 3, "rounds of each server-bound workload; the median and min–max are reported")
	flag.IntVar(&o.rawImages, "raw-images", 1000, "images in the repository the server-bound paged workloads read")
	flag.StringVar(&o.md, "md", "", "also replace the moto:begin/moto:end block of this file, relative to the repository root")
	flag.Parse()
	if o.images < 1 || o.reps < 1 || o.gets < 1 || o.listings < 1 || o.rawRounds < 1 || o.rawImages < 1 {
		fmt.Fprintln(os.Stderr, "bench/moto: -images, -reps, -gets, -listings, -raw-rounds and -raw-images must be at least 1")
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	// A signal cancels the run; the deferred stops in run still kill the
	// children before the process exits.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/moto:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	began := time.Now()
	load0 := benchutil.ReadLoad()
	if w := load0.Warning(); w != "" {
		fmt.Fprintf(os.Stderr, "\n%s\n\n", w)
	}
	tmp, err := os.MkdirTemp("", "berth-bench-moto-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	root, rootErr := benchutil.FindRoot()
	bin := o.berthBin
	if bin == "" {
		if rootErr != nil {
			return rootErr
		}
		fmt.Fprintln(os.Stderr, "building ./cmd/berth ...")
		if bin, err = benchutil.BuildBerth(ctx, root, tmp); err != nil {
			return err
		}
	}

	berth, err := startBerth(ctx, bin)
	if err != nil {
		return err
	}
	defer berth.stop()
	moto, err := startMoto(ctx, o.moto, tmp)
	if err != nil {
		return err
	}
	defer moto.stop()
	fmt.Fprintf(os.Stderr, "berth at %s, moto at %s\n", berth.url, moto.url)

	var results []*result
	for _, s := range []*server{berth, moto} {
		fmt.Fprintf(os.Stderr, "measuring %s ...\n", s.name)
		start := time.Now()
		r, err := measure(ctx, s, o)
		if err != nil {
			return fmt.Errorf("%s: %w (server output: %s)", s.name, err, s.logTail())
		}
		fmt.Fprintf(os.Stderr, "%s done in %s\n", s.name, time.Since(start).Round(time.Millisecond))
		results = append(results, r)
	}
	ceiling, err := clientCeiling(ctx, o.gets)
	if err != nil {
		return fmt.Errorf("client ceiling: %w", err)
	}
	var raws []*rawResult
	if o.rawConns > 0 {
		servers := []*server{berth, moto}
		for _, s := range servers {
			fmt.Fprintf(os.Stderr, "server-bound mode: preparing %s ...\n", s.name)
			r, err := prepareRaw(ctx, s, o)
			if err != nil {
				return fmt.Errorf("%s, server-bound mode: %w (server output: %s)", s.name, err, s.logTail())
			}
			raws = append(raws, r)
		}
		if err := measureRaw(ctx, servers, raws, o); err != nil {
			return err
		}
	}

	var b strings.Builder
	fmt.Fprintln(&b, mdBegin)
	fmt.Fprintf(&b, "Run on %s. Command, from the repository root:\n\n```sh\n%s\n```\n\n", began.Format("2006-01-02"),
		strings.TrimSpace("go run ./bench/moto "+strings.Join(os.Args[1:], " ")))
	fmt.Fprintf(&b, "Load average (1, 5, 15 min): %s at start, %s at end (%s in all).\n",
		load0, benchutil.ReadLoad(), time.Since(began).Round(time.Second))
	if w := load0.Warning(); w != "" {
		fmt.Fprintf(&b, "\n> **%s**\n", w)
	}
	printReport(&b, o, results[0], results[1], ceiling)
	if raws != nil {
		printRawReport(&b, o, raws[0], raws[1])
	}
	fmt.Fprintln(&b, mdEnd)
	fmt.Print(b.String())
	if o.md != "" {
		if rootErr != nil {
			return rootErr
		}
		path := o.md
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		if err := benchutil.ReplaceBlock(path, mdBegin, mdEnd, b.String()); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}

const (
	mdBegin = "<!-- moto:begin -->"
	mdEnd   = "<!-- moto:end -->"
)
