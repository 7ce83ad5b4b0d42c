package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

// figure is one reported number, measured on both registries.
type figure struct {
	name         string
	unit         string
	higherBetter bool // MiB/s; otherwise a time
	s            samples
	target       string             // berth's target, empty if none
	met          func(float64) bool // whether berth's median meets it
}

func (f figure) berth() float64 { return benchutil.Median(f.s.berth) }
func (f figure) ggcr() float64  { return benchutil.Median(f.s.ggcr) }

// ratio is oriented so that > 1 means berth is better (faster).
func (f figure) ratio() float64 {
	b, g := f.berth(), f.ggcr()
	if f.higherBetter {
		if g == 0 {
			return 0
		}
		return b / g
	}
	if b == 0 {
		return 0
	}
	return g / b
}

func (f figure) verdict() string {
	if f.met == nil {
		return ""
	}
	if f.met(f.berth()) {
		return "met"
	}
	return "MISSED"
}

func (f figure) targetCell() string {
	if f.target == "" {
		return "—"
	}
	return f.target + " (" + f.verdict() + ")"
}

func textTable(figs []figure, reps int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "median of %d rounds; ratio > 1 means berth is better (faster)\n\n", reps)
	fmt.Fprintf(&b, "%-50s %-8s %10s %10s %8s  %s\n", "workload", "unit", "berth", "ggcr", "ratio", "berth target")
	for _, f := range figs {
		fmt.Fprintf(&b, "%-50s %-8s %10s %10s %7.2fx  %s\n", f.name, f.unit, benchutil.Num(f.berth()), benchutil.Num(f.ggcr()), f.ratio(), f.targetCell())
	}
	return b.String()
}

func textSamples(figs []figure) string {
	var b strings.Builder
	fmt.Fprintln(&b, "all rounds:")
	list := func(v []float64) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = benchutil.Num(x)
		}
		return strings.Join(s, " ")
	}
	for _, f := range figs {
		fmt.Fprintf(&b, "  %-50s berth [%s]  ggcr [%s]\n", f.name, list(f.s.berth), list(f.s.ggcr))
	}
	return b.String()
}

type machine struct {
	nproc     int
	cpu       string
	goVersion string
	kernel    string
}

func collectMachine() machine {
	m := machine{nproc: runtime.NumCPU(), cpu: "unknown", goVersion: runtime.Version(), kernel: runtime.GOOS}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "linux " + strings.TrimSpace(string(b))
	}
	return m
}

const (
	mdBegin = "<!-- bench:begin -->"
	mdEnd   = "<!-- bench:end -->"
)

func markdown(figs []figure, o options, m machine, now time.Time) string {
	var b strings.Builder
	fmt.Fprintln(&b, mdBegin)
	fmt.Fprintf(&b, "Run on %s. Command, from the repository root:\n\n", now.Format("2006-01-02"))
	fmt.Fprintln(&b, "```sh")
	fmt.Fprintln(&b, strings.TrimSpace("go run ./bench "+strings.Join(os.Args[1:], " ")))
	fmt.Fprintln(&b, "```")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Machine: %d CPUs (`nproc`), %s, %s, %s.\n\n", m.nproc, m.cpu, m.kernel, m.goVersion)
	fmt.Fprintf(&b, "Median of %d rounds. Ratio = berth vs ggcr, oriented so that **> 1 means berth is better** "+
		"(throughput: berth/ggcr; time: ggcr/berth).\n\n", o.reps)
	fmt.Fprintln(&b, "| workload | unit | berth | ggcr | ratio | berth target |")
	fmt.Fprintln(&b, "| --- | --- | ---: | ---: | ---: | --- |")
	for _, f := range figs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f× | %s |\n", f.name, f.unit, benchutil.Num(f.berth()), benchutil.Num(f.ggcr()), f.ratio(), f.targetCell())
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "- berth: the binary built from `./cmd/berth`, `serve --no-auth --create-on-push --log-level warn` "+
		"with a temporary `--data-dir` (the default disk-backed mode: blobs are fsynced files, metadata is bbolt).")
	fmt.Fprintln(&b, "- ggcr: `github.com/google/go-containerregistry/pkg/registry` v0.22.1, `registry.New()` (in memory, "+
		"request log discarded) served by `net/http` in its own process.")
	fmt.Fprintln(&b, "- Both run as child processes on 127.0.0.1; all requests are sequential raw `net/http` through "+
		"identical clients with one keep-alive connection per registry. Blobs are pushed monolithically "+
		"(POST, then PUT `?digest=`); each round uses new content, so nothing is deduplicated.")
	fmt.Fprintln(&b, mdEnd)
	return b.String()
}

// writeMarkdown replaces the marked section of path, or writes a new file.
func writeMarkdown(path, section string) error {
	old, err := os.ReadFile(path)
	if err == nil {
		s := string(old)
		i, j := strings.Index(s, mdBegin), strings.Index(s, mdEnd)
		if i >= 0 && j > i {
			return os.WriteFile(path, []byte(s[:i]+section+strings.TrimPrefix(s[j+len(mdEnd):], "\n")), 0o644)
		}
	}
	doc := "# Benchmarks\n\nberth against go-containerregistry's in-memory registry (`ggcr`), measured by `bench/`.\n\n" + section
	return os.WriteFile(path, []byte(doc), 0o644)
}
