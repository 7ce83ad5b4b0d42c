package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

// printReport writes the comparison table (Markdown) and how it was made.
func printReport(w io.Writer, o options, berth, moto *result, ceiling float64) {
	fmt.Fprintf(w, "\n**Through aws-sdk-go-v2** — berth vs moto on the ECR JSON API, aws-sdk-go-v2 service/ecr %s, one sequential client per server, %s/%s, %d CPUs\n",
		moduleVersion("github.com/aws/aws-sdk-go-v2/service/ecr"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(w, "ops/s: median of %d rounds, min–max in brackets; server CPU: user+system time of the server's processes over all timed rounds, per op\n\n", o.reps)
	fmt.Fprintln(w, "| workload | berth ops/s | moto ops/s | berth/moto | berth CPU µs/op | moto CPU µs/op | moto/berth CPU |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	row := func(what string, b, m []float64, bc, mc float64) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", what,
			rangeCell(b), rangeCell(m), ratio(benchutil.Median(b), benchutil.Median(m)), cpu(bc), cpu(mc), cpuRatio(mc, bc))
	}
	row(fmt.Sprintf("PutImage, %d distinct image manifests per round (calls/s)", o.images),
		berth.put, moto.put, berth.putCPU, moto.putCPU)
	row(fmt.Sprintf("DescribeImages, full listing of %d images, maxResults %d (listings/s)", o.images, listPage),
		berth.list, moto.list, berth.listCPU, moto.listCPU)
	row(fmt.Sprintf("BatchGetImage by tag, 1 image per call, %d calls per round (calls/s)", o.gets),
		berth.get, moto.get, berth.getCPU, moto.getCPU)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "DescribeImages calls per listing: berth %d, moto %d (moto ignores maxResults); DescribeImages calls/s: berth %s, moto %s\n",
		berth.callsPerListing, moto.callsPerListing, benchutil.Num(benchutil.Median(berth.listCalls)), benchutil.Num(benchutil.Median(moto.listCalls)))
	fmt.Fprintf(w, "blobs on berth: %s\n", berth.layerNote)
	fmt.Fprintf(w, "blobs on moto:  %s\n", moto.layerNote)
	fmt.Fprintf(w, "rounds (ops/s): berth put %s list %s get %s; moto put %s list %s get %s\n",
		nums(berth.put), nums(berth.list), nums(berth.get), nums(moto.put), nums(moto.list), nums(moto.get))
	if ceiling > 0 {
		fmt.Fprintf(w, "client ceiling: the same client against a canned loopback answer makes %s BatchGetImage calls/s, "+
			"so with one sequential client no server can measure more than %s moto's BatchGetImage rate on this machine\n",
			benchutil.Num(ceiling), ratio(ceiling, benchutil.Median(moto.get)))
	}
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "n/a"
	}
	if a/b >= 10 {
		return fmt.Sprintf("%.0f×", a/b)
	}
	return fmt.Sprintf("%.1f×", a/b)
}

func cpu(us float64) string {
	if us < 0 {
		return "n/a"
	}
	return benchutil.Num(us)
}

func cpuRatio(moto, berth float64) string {
	if moto < 0 || berth < 0 {
		return "n/a"
	}
	return ratio(moto, berth)
}

func nums(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = benchutil.Num(x)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// moduleVersion is the version of a dependency compiled into this program.
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "(unknown)"
}
