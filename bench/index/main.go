// Command index runs the image-index benchmarks (BenchmarkIndex in core,
// BenchmarkIndexECR in ecr) over repositories of 1,000 and 10,000 images on
// both store backends, and prints per-N figures, the 10k/1k growth ratio of
// each operation, and whether each target of the issue is met:
//
//	go run ./bench/index                # from the repository root
//	go run ./bench/index -count 5 -md BENCHMARKS.md
//
// The figures are medians over -count runs of `go test -bench`. With -md the
// table replaces the index:begin/index:end block of that file. Nothing here
// asserts a time: a missed target is reported, not failed.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

// row is one operation in the table: the benchmark it reads (with the
// backend and N filled in), how it should grow, and its target at 10k.
type row struct {
	name   string
	bench  string // e.g. "core:Index/%s/n=%d/Images"
	growth growth
	target time.Duration // at n=10,000; 0: none
}

type growth int

const (
	flat   growth = iota // a page, one image: the same at any N
	linear               // the whole repository, or a share of it
)

var rows = []row{
	{"Full iteration (`Registry.Images`)", "core:Index/%s/n=%d/Images", linear, 50 * time.Millisecond},
	{"`PageImages` 100, first page", "core:Index/%s/n=%d/PageImages100/start", flat, 2 * time.Millisecond},
	{"`PageImages` 100, after the N/2-th digest", "core:Index/%s/n=%d/PageImages100/middle", flat, 2 * time.Millisecond},
	{"`PageImages` 100, last page", "core:Index/%s/n=%d/PageImages100/end", flat, 2 * time.Millisecond},
	{"ECR DescribeImages 100, first page", "ecr:IndexECR/%s/n=%d/DescribeImages100/start", flat, 2 * time.Millisecond},
	{"ECR DescribeImages 100, nextToken at N/2", "ecr:IndexECR/%s/n=%d/DescribeImages100/middle", flat, 2 * time.Millisecond},
	{"ECR DescribeImages 100, last page", "ecr:IndexECR/%s/n=%d/DescribeImages100/end", flat, 2 * time.Millisecond},
	{"`ResolveImage` by tag", "core:Index/%s/n=%d/ResolveImage/tag", flat, 0},
	{"`ResolveImage` by digest", "core:Index/%s/n=%d/ResolveImage/digest", flat, 0},
	{"`ListTags` 100 (tags/list), first page", "core:Index/%s/n=%d/ListTags100/start", flat, 0},
	{"`ListTags` 100 (tags/list), after the N/2-th tag", "core:Index/%s/n=%d/ListTags100/middle", flat, 0},
	{"`DeleteImages` of N/2 images in one call", "core:Index/%s/n=%d/DeleteImagesHalf", linear, time.Second},
	{"ECR ListImages 100, first page", "ecr:IndexECR/%s/n=%d/ListImages100/start", flat, 0},
}

var (
	backends = []string{"bolt", "mem"}
	sizes    = []int{1000, 10000}
)

type options struct {
	count     int
	benchtime string
	md        string
}

func main() {
	var o options
	flag.IntVar(&o.count, "count", 3, "runs of each benchmark; the median is reported")
	flag.StringVar(&o.benchtime, "benchtime", "1s", "go test -benchtime")
	flag.StringVar(&o.md, "md", "", "rewrite the index:begin/index:end block of this file, relative to the repository root")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/index:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	root, err := benchutil.FindRoot()
	if err != nil {
		return err
	}
	load0 := loadavg()
	start := time.Now()
	results := map[string][]float64{} // "core:Index/bolt/n=1000/Images" → ns/op
	for _, pkg := range []struct{ key, dir, bench string }{
		{"core", "./core", "^BenchmarkIndex$"},
		{"ecr", "./ecr", "^BenchmarkIndexECR$"},
	} {
		args := []string{"test", pkg.dir, "-run", "^$", "-bench", pkg.bench, "-benchtime", o.benchtime, "-count", strconv.Itoa(o.count)}
		fmt.Fprintf(os.Stderr, "go %s\n", strings.Join(args, " "))
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Stderr = root, os.Stderr
		out, err := cmd.Output()
		if err != nil {
			os.Stderr.Write(out)
			return fmt.Errorf("go test %s: %w", pkg.dir, err)
		}
		parse(pkg.key, out, results)
	}
	section := markdown(o, results, load0, loadavg(), start)
	fmt.Print(section)
	if o.md != "" {
		return writeMarkdown(filepath.Join(root, o.md), section)
	}
	return nil
}

// benchLine is one result line of go test -bench.
var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+([0-9.]+) ns/op`)

func parse(pkg string, out []byte, into map[string][]float64) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := benchLine.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[3], 64)
			into[pkg+":"+m[1]] = append(into[pkg+":"+m[1]], v)
		}
	}
}

// dur formats nanoseconds with about three significant digits.
func dur(ns float64) string {
	switch {
	case ns >= 1e9:
		return benchutil.Num(ns/1e9) + " s"
	case ns >= 1e6:
		return benchutil.Num(ns/1e6) + " ms"
	case ns >= 1e3:
		return benchutil.Num(ns/1e3) + " µs"
	}
	return benchutil.Num(ns) + " ns"
}

// verdict says whether the 10k/1k ratio grows as expected: a page ≈ 1×
// (anything under 2× is flat on this noisy host), the whole repository ≈
// 10× (under 15× is linear; quadratic would be 100×).
func verdict(g growth, ratio float64) string {
	switch {
	case g == flat && ratio < 2:
		return "flat"
	case g == flat:
		return "**grows with N**"
	case ratio < 15:
		return "linear"
	}
	return "**superlinear**"
}

const (
	mdBegin = "<!-- index:begin -->"
	mdEnd   = "<!-- index:end -->"
)

func markdown(o options, res map[string][]float64, load0, load1 string, start time.Time) string {
	var b strings.Builder
	fmt.Fprintln(&b, mdBegin)
	fmt.Fprintf(&b, "Run on %s. Command, from the repository root:\n\n", start.Format("2006-01-02"))
	fmt.Fprintln(&b, "```sh")
	fmt.Fprintln(&b, strings.TrimSpace("go run ./bench/index "+strings.Join(os.Args[1:], " ")))
	fmt.Fprintln(&b, "```")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Machine: %d CPUs, %s, %s. Load average (1, 5, 15 min) %s before, %s after (%s in all).\n\n",
		runtime.NumCPU(), cpuModel(), goVersion(), load0, load1, time.Since(start).Round(time.Second))
	fmt.Fprintf(&b, "Median of %d runs of `go test -bench` (`-benchtime %s`); time per operation. "+
		"bolt = bbolt + fs blobs in a temporary directory (the default), mem = `--memory`. "+
		"Growth = time at 10k / time at 1k: a page should stay ≈ 1×, the whole repository ≈ 10×.\n\n", o.count, o.benchtime)
	fmt.Fprintln(&b, "| operation | bolt 1k | bolt 10k | bolt growth | mem 1k | mem 10k | mem growth | target at 10k |")
	fmt.Fprintln(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rows {
		cells := []string{r.name}
		met, missing := true, false
		for _, be := range backends {
			var at [2]float64
			for i, n := range sizes {
				at[i] = benchutil.Median(res[fmt.Sprintf(r.bench, be, n)])
				if at[i] == 0 {
					missing = true
				}
			}
			ratio := at[1] / at[0]
			cells = append(cells, dur(at[0]), dur(at[1]), fmt.Sprintf("%.1f× %s", ratio, verdict(r.growth, ratio)))
			if r.target > 0 && at[1] >= float64(r.target) {
				met = false
			}
		}
		switch {
		case missing:
			cells = append(cells, "(no figure)")
		case r.target == 0:
			cells = append(cells, "—")
		case met:
			cells = append(cells, fmt.Sprintf("< %s: met", r.target))
		default:
			cells = append(cells, fmt.Sprintf("< %s: **MISSED**", r.target))
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(&b, mdEnd)
	return b.String()
}

func writeMarkdown(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, mdBegin), strings.Index(s, mdEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s block to replace", path, mdBegin, mdEnd)
	}
	return os.WriteFile(path, []byte(s[:i]+section+strings.TrimPrefix(s[j+len(mdEnd):], "\n")), 0o644)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func goVersion() string {
	if out, err := exec.Command("go", "version").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return runtime.Version()
}
