package main

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

// The report's ratio is first pull over direct pull, of the medians, and
// its verdict follows the target and the rounds; nothing here measures.
func TestReportVerdict(t *testing.T) {
	quiet := benchutil.ParseLoad("0.1 0.1 0.1")
	for _, c := range []struct {
		first []float64
		want  string
	}{
		{[]float64{1.1, 1.2, 1.0}, "**1.10×** (rounds 1.00–1.20×); target ≤ 1.3×: met."},
		{[]float64{2.0, 1.6, 1.5}, "**1.60×** (rounds 1.50–2.00×); target ≤ 1.3×: **MISSED**."},
		{[]float64{1.2, 1.5, 1.4}, "**1.40×** (rounds 1.20–1.50×); target ≤ 1.3×: **MISSED** (within the round-to-round range)."},
	} {
		r := results{direct: []float64{1, 1, 1}, first: c.first, cached: []float64{0.5, 0.5, 0.5}}
		got := r.report(100, 1, quiet, quiet, time.Second)
		if !strings.Contains(got, c.want) {
			t.Errorf("first %v: report\n%s\nwant %q", c.first, got, c.want)
		}
	}
}
