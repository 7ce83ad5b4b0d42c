package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

// figure is one workload's measurements on every registry.
type figure struct {
	key          string // what targets refer to
	name         string
	unit         string
	higherBetter bool // MiB/s; otherwise a time
	s            samples
	abs          *absTarget // an earlier absolute target for durable berth, or nil
}

// absTarget is an absolute figure durable berth should reach (from the
// issue before this one; kept so that a change that loses it shows).
type absTarget struct {
	text string
	met  func(float64) bool
}

func (f figure) has(id regID) bool              { return len(f.s[id]) > 0 }
func (f figure) med(id regID) float64           { return benchutil.Median(f.s[id]) }
func (f figure) span(id regID) (lo, hi float64) { return benchutil.MinMax(f.s[id]) }

// ratio compares registry a with registry b on this figure, oriented so that
// > 1 means a is better (throughput: a/b; time: b/a). r is the ratio of the
// medians; lo and hi are the worst and the best ratio any two rounds could
// give (a's worst round against b's best, and the other way round). ok is
// false when either registry has no figure.
func (f figure) ratio(a, b regID) (r, lo, hi float64, ok bool) {
	if !f.has(a) || !f.has(b) {
		return 0, 0, 0, false
	}
	ma, mb := f.med(a), f.med(b)
	la, ha := f.span(a)
	lb, hb := f.span(b)
	if ma <= 0 || mb <= 0 || la <= 0 || lb <= 0 {
		return 0, 0, 0, false
	}
	if f.higherBetter {
		return ma / mb, la / hb, ha / lb, true
	}
	return mb / ma, lb / ha, hb / la, true
}

// cell is a median with its min–max range.
func (f figure) cell(id regID) string {
	if !f.has(id) {
		return "—"
	}
	lo, hi := f.span(id)
	if len(f.s[id]) == 1 {
		return benchutil.Num(f.med(id))
	}
	return fmt.Sprintf("%s (%s–%s)", benchutil.Num(f.med(id)), benchutil.Num(lo), benchutil.Num(hi))
}

func (f figure) ratioCell(a, b regID) string {
	r, lo, hi, ok := f.ratio(a, b)
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%s× (%s–%s)", ratioNum(r), ratioNum(lo), ratioNum(hi))
}

func ratioNum(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// goal is one of the targets: registry a against registry b on some
// rows (all of them when keys is nil), the ratio (oriented as in
// figure.ratio) above min, or at least min unless strict.
type goal struct {
	text   string
	a, b   regID
	keys   []string
	min    float64
	strict bool
}

// goals are issue 8's targets.
var goals = []goal{
	{text: "Durable berth faster than distribution on every row", a: idBerth, b: idDist, min: 1, strict: true},
	{text: "berth --memory at least as fast as ggcr on every row", a: idBerthMem, b: idGGCR, min: 1},
	{text: "Durable berth: manifest GET ≤ ggcr's time", a: idBerth, b: idGGCR, keys: []string{figGet}, min: 1},
	{text: "Durable berth: index-of-1,000 push ≤ 1.0× ggcr's time", a: idBerth, b: idGGCR, keys: []string{figIdxPush}, min: 1},
	{text: "Durable berth: 2,000 small blobs by 8 clients within 2× ggcr's time", a: idBerth, b: idGGCR, keys: []string{figSmall8}, min: 0.5},
}

// outcome is a goal's verdict on a set of figures.
type outcome struct {
	measured bool
	met      bool
	missed   []string // rows that miss, with their ratio
	noisy    []string // rows whose round-to-round range crosses the threshold
	rows     int
	lo, hi   float64 // the medians' ratios, lowest and highest over the rows
}

func (g goal) pass(r float64) bool {
	if g.strict {
		return r > g.min
	}
	return r >= g.min
}

func (g goal) eval(figs []figure) outcome {
	o := outcome{measured: true, met: true}
	for _, f := range figs {
		if g.keys != nil && !contains(g.keys, f.key) {
			continue
		}
		r, lo, hi, ok := f.ratio(g.a, g.b)
		if !ok {
			return outcome{}
		}
		if o.rows == 0 || r < o.lo {
			o.lo = r
		}
		if o.rows == 0 || r > o.hi {
			o.hi = r
		}
		o.rows++
		if !g.pass(r) {
			o.met = false
			o.missed = append(o.missed, fmt.Sprintf("%s (%s×)", f.name, ratioNum(r)))
		}
		if g.pass(lo) != g.pass(hi) {
			o.noisy = append(o.noisy, f.name)
		}
	}
	if o.rows == 0 {
		return outcome{}
	}
	return o
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (g goal) threshold() string {
	op := "≥"
	if g.strict {
		op = ">"
	}
	return fmt.Sprintf("%s %s vs %s %s %s×", "ratio", regNames[g.a], regNames[g.b], op, ratioNum(g.min))
}

func (o outcome) verdict() string {
	switch {
	case !o.measured:
		return "not measured"
	case o.met:
		return "met"
	}
	return "**MISSED**"
}

func (o outcome) detail() string {
	if !o.measured {
		return "a registry was skipped"
	}
	var parts []string
	if o.rows > 1 {
		parts = append(parts, fmt.Sprintf("ratios %s–%s× over %d rows", ratioNum(o.lo), ratioNum(o.hi), o.rows))
	} else {
		parts = append(parts, fmt.Sprintf("%s×", ratioNum(o.lo)))
	}
	if len(o.missed) > 0 && o.rows > 1 {
		parts = append(parts, "missed on: "+strings.Join(o.missed, "; "))
	}
	if len(o.noisy) > 0 {
		parts = append(parts, "within the round-to-round range on: "+strings.Join(o.noisy, "; "))
	}
	return strings.Join(parts, "; ")
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

// report is everything the Markdown section says.
type report struct {
	figs         []figure
	o            options
	m            machine
	date         time.Time
	took         time.Duration
	load0, load1 benchutil.Load
	distNote     string // why distribution was skipped, or ""
	args         []string
}

const (
	mdBegin = "<!-- bench:begin -->"
	mdEnd   = "<!-- bench:end -->"
)

func (r report) markdown() string {
	var b strings.Builder
	fmt.Fprintln(&b, mdBegin)
	fmt.Fprintf(&b, "Run on %s. Command, from the repository root:\n\n", r.date.Format("2006-01-02"))
	fmt.Fprintln(&b, "```sh")
	fmt.Fprintln(&b, strings.TrimSpace("go run ./bench "+shellArgs(r.args)))
	fmt.Fprintln(&b, "```")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Machine: %d CPUs (`nproc`), %s, %s, %s. Load average (1, 5, 15 min): %s at start, %s at end (%s in all).\n\n",
		r.m.nproc, r.m.cpu, r.m.kernel, r.m.goVersion, r.load0, r.load1, r.took.Round(time.Second))
	if w := r.load0.Warning(); w != "" {
		fmt.Fprintf(&b, "> **%s**\n\n", w)
	}
	if r.distNote != "" {
		fmt.Fprintf(&b, "> **distribution %s was %s.** Its column is empty and the targets against it are not measured.\n\n", distVersion, r.distNote)
	}
	fmt.Fprintf(&b, "Each cell: the median of %d rounds, with the min–max over the rounds in brackets.\n\n", r.o.reps)
	fmt.Fprint(&b, "| workload | unit |")
	for id := range nRegs {
		fmt.Fprintf(&b, " %s |", regNames[id])
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| --- | --- |"+strings.Repeat(" ---: |", int(nRegs)))
	for _, f := range r.figs {
		fmt.Fprintf(&b, "| %s | %s |", f.name, f.unit)
		for id := range nRegs {
			fmt.Fprintf(&b, " %s |", f.cell(id))
		}
		fmt.Fprintln(&b)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "Ratios, oriented so that **> 1 means the first is faster** (throughput: first/second; time: second/first): "+
		"the ratio of the medians, and in brackets the worst and best any two rounds give.")
	fmt.Fprintln(&b)
	pairs := [][2]regID{{idBerth, idDist}, {idBerthMem, idGGCR}, {idBerth, idGGCR}}
	fmt.Fprint(&b, "| workload |")
	for _, p := range pairs {
		fmt.Fprintf(&b, " %s vs %s |", regNames[p[0]], regNames[p[1]])
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| --- |"+strings.Repeat(" ---: |", len(pairs)))
	for _, f := range r.figs {
		fmt.Fprintf(&b, "| %s |", f.name)
		for _, p := range pairs {
			fmt.Fprintf(&b, " %s |", f.ratioCell(p[0], p[1]))
		}
		fmt.Fprintln(&b)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "Targets (issue 8), judged on the medians; \"within the round-to-round range\" means the worst and best "+
		"rounds fall on either side of the threshold, so that row's verdict is not settled by this run:")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| target | threshold | verdict | detail |")
	fmt.Fprintln(&b, "| --- | --- | --- | --- |")
	for _, g := range goals {
		o := g.eval(r.figs)
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.text, g.threshold(), o.verdict(), o.detail())
	}
	for _, f := range r.figs {
		if f.abs == nil || !f.has(idBerth) {
			continue
		}
		v := "met"
		if !f.abs.met(f.med(idBerth)) {
			v = "**MISSED**"
		}
		fmt.Fprintf(&b, "| Earlier target, durable berth: %s | %s | %s | %s %s |\n", f.name, f.abs.text, v, benchutil.Num(f.med(idBerth)), f.unit)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "- berth: the binary built from `./cmd/berth`, `serve --no-auth --create-on-push --log-level warn` "+
		"with a temporary `--data-dir` (the default disk-backed mode: blobs are fsynced files, metadata is bbolt); "+
		"berth --memory: the same binary with `--memory`.")
	fmt.Fprintf(&b, "- distribution: `%s/cmd/registry` %s, built once into the user's cache directory "+
		"(`berth-bench/distribution-%s`), filesystem storage driver in a temporary directory (it fsyncs), plain HTTP, no auth, "+
		"deletes enabled, in-memory blob descriptor cache, log level error (its least; it still logs every 4xx answer, into a file in that directory) without access log, `OTEL_TRACES_EXPORTER=none` "+
		"(it traces every request; this only drops the export).\n", distModule, distVersion, distVersion)
	fmt.Fprintln(&b, "- ggcr: `github.com/google/go-containerregistry/pkg/registry` v0.22.1, `registry.New()` (in memory, "+
		"request log discarded) served by `net/http` in its own process.")
	fmt.Fprintf(&b, "- All run as child processes on 127.0.0.1; which one goes first rotates from round to round. "+
		"Requests are raw `net/http`, one keep-alive connection per client, except the index push. "+
		"Blobs are pushed monolithically (POST, then PUT `?digest=`); each round uses new content, so nothing is deduplicated. "+
		"Small blobs are the config (≈ 130 B) and layer (≈ 20 B) of tiny images; the concurrent push shares them out among %d "+
		"clients (a connection each) from a common counter, into one repository.\n", r.o.clients)
	fmt.Fprintln(&b, "- Index push: go-containerregistry's `remote.WriteIndex` (what crane runs) with its default 4 jobs, over "+
		"the blobs the sequential push has just uploaded: per image HEAD of the manifest, HEAD of its two blobs, PUT of the manifest; "+
		"then HEAD and PUT of the index by tag. Index pull: GET of the index, then of each manifest, one after another.")
	fmt.Fprintln(&b, "- These are benchmarks, not tests: nothing fails on a missed target. The machine is shared; "+
		"compare ratios from one run rather than absolute figures across runs.")
	fmt.Fprintln(&b, mdEnd)
	return b.String()
}

// shellArgs joins args for a shell, quoting the empty and those with spaces.
func shellArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if a == "" || strings.ContainsAny(a, " \t'\"$") {
			q[i] = strconv.Quote(a)
		}
	}
	return strings.Join(q, " ")
}

// textSamples lists every round of every figure.
func textSamples(figs []figure) string {
	var b strings.Builder
	fmt.Fprintln(&b, "all rounds:")
	for _, f := range figs {
		fmt.Fprintf(&b, "  %s (%s)\n", f.name, f.unit)
		for id := range nRegs {
			if !f.has(id) {
				continue
			}
			s := make([]string, len(f.s[id]))
			for i, x := range f.s[id] {
				s[i] = benchutil.Num(x)
			}
			fmt.Fprintf(&b, "    %-15s [%s]\n", regNames[id], strings.Join(s, " "))
		}
	}
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
	doc := "# Benchmarks\n\nberth against distribution/distribution and go-containerregistry's in-memory registry, measured by `bench/`.\n\n" + section
	return os.WriteFile(path, []byte(doc), 0o644)
}
