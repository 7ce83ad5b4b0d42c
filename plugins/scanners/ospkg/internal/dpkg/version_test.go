package dpkg

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func TestCompareOrdersEpochUpstreamRevisionAsDebianPolicySays(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"0:1.0", "1.0", 0},      // no epoch is epoch 0
		{"1.0-0", "1.0", 0},      // an absent revision compares as "0"… or as ""
		{"1:0.1", "2.0", 1},      // the epoch wins over everything after it
		{"2.0-1", "2.0-1.1", -1}, // revisions compared like upstream versions
		{"1.0~rc1", "1.0", -1},   // ~ sorts before the end of the string
		{"1.0~~", "1.0~~a", -1},  // and before everything else
		{"1.0~", "1.0~~", 1},     //
		{"1.0a", "1.0+", -1},     // letters sort before non-letters
		{"1.0a", "1.0A", 1},      // by ASCII among themselves
		{"1.0+", "1.0.", -1},     // other characters by ASCII, after letters
		{"1.10", "1.9", 1},       // digit runs compare as numbers
		{"1.010", "1.10", 0},     // leading zeros do not count
		{"1.99999999999999999999999999", "1.100000000000000000000000000", -1}, // of any length
		{"3.0.11-1~deb12u2", "3.0.13-1~deb12u1", -1},
		{"1:9.2p1-2+deb12u2", "1:9.2p1-2+deb12u3", -1},
		{"2.36-9+deb12u4", "2.36-9+deb12u3", 1},
		{"1.2.13.dfsg-1", "1:1.2.13.dfsg-1", -1},
		{"7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1},
		{"1.0-a-b", "1.0-a", 1}, // the revision is after the last hyphen: upstream "1.0-a" > "1.0"
		{"1:2:3", "1:2", 1},     // colons after the epoch belong to the upstream version
	} {
		if got := Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Compare(tc.b, tc.a); got != -tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d (antisymmetry)", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestParseVersionRefusesWhatDpkgRefuses(t *testing.T) {
	// Each of these makes `dpkg --compare-versions` exit 2 with "has bad syntax".
	for _, v := range []string{"", "1.0-", "1:", ":1.0", "1.0 2", "99999999999:1", "1.0-a:b", "-1:1.0", "+1:1.0"} {
		if _, err := ParseVersion(v); err == nil {
			t.Errorf("ParseVersion(%q) accepted it", v)
		}
	}
	v, err := ParseVersion("2:1.2-3-4")
	if err != nil || v != (Version{Epoch: 2, Upstream: "1.2-3", Revision: "4"}) {
		t.Fatalf("ParseVersion: %+v, %v", v, err)
	}
}

// The corpus: edge cases and random versions built from the characters dpkg accepts, paired
// with each other and with near neighbours, so that equal prefixes (where the rules bite)
// are common.
func dpkgCorpus(n int) [][2]string {
	edges := []string{
		"0", "00", "0.0", "1", "1.0", "1.00", "1.0.0", "01.0", "1.0~", "1.0~~", "1.0~~a", "1.0~a", "1.0a",
		"1.0A", "1.0+", "1.0.", "1.0+b1", "1.0-1", "1.0-0", "1.0-00", "1.0-1~", "1.0-~", "1.0-1.1",
		"1.0-1+deb12u1", "1.0-1~deb12u1", "0:1.0", "1:1.0", "1:0", "2:0.1", "10:1", "1.0-a-b", "1:2:3",
		"1:2-3:4", "9.2p1-2+deb12u3", "1:9.2p1-2+deb12u2", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1",
		"2.36-9+deb12u4", "1.2.13.dfsg-1", "1:1.2.13.dfsg-1", "7.88.1-10+deb12u12", "1.99999999999999999999",
		"1.100000000000000000000", "2147483647:1", "a", "a1", "~", "~~", "~1", "1~", "1a~", "1.a", "1..0",
		"1.0+~", "1.0~+", "1.0Z", "1.0z", "1.0.", "1.0-a", "1.0-A", "1.0-+", "1.0-.",
	}
	rng := rand.New(rand.NewPCG(20240701, 6387))
	part := func(alphabet string, maxLen int, leadDigit bool) string {
		var b strings.Builder
		n := 1 + rng.IntN(maxLen)
		for i := range n {
			if i == 0 && leadDigit {
				b.WriteByte("0123456789"[rng.IntN(10)])
				continue
			}
			// Mostly digits and dots, as real versions are, with the rarer characters often
			// enough to meet each other.
			switch r := rng.IntN(10); {
			case r < 4:
				b.WriteByte("0123456789"[rng.IntN(10)])
			case r < 6:
				b.WriteByte('.')
			default:
				b.WriteByte(alphabet[rng.IntN(len(alphabet))])
			}
		}
		return b.String()
	}
	random := func() string {
		var s string
		hasRev := rng.IntN(3) > 0
		if rng.IntN(4) == 0 {
			s = fmt.Sprintf("%d:", rng.IntN(3))
		}
		upAlphabet := "0123456789abzABZ.+~"
		if strings.Contains(s, ":") {
			upAlphabet += ":"
		}
		if hasRev {
			upAlphabet += "-"
		}
		s += part(upAlphabet, 8, true)
		if hasRev {
			s += "-" + part("0123456789abzABZ.+~", 5, false)
		}
		return s
	}
	// mutate makes a near neighbour: one character changed, added or removed.
	mutate := func(s string) string {
		const chars = "0123456789a~.+"
		b := []byte(s)
		i := rng.IntN(len(b) + 1)
		switch rng.IntN(3) {
		case 0:
			b = append(b[:i], append([]byte{chars[rng.IntN(len(chars))]}, b[i:]...)...)
		case 1:
			if i < len(b) {
				b[i] = chars[rng.IntN(len(chars))]
			}
		default:
			if i < len(b) && len(b) > 1 {
				b = append(b[:i], b[i+1:]...)
			}
		}
		return string(b)
	}
	var pairs [][2]string
	for i, a := range edges {
		for _, b := range edges[i:] {
			pairs = append(pairs, [2]string{a, b})
		}
	}
	for len(pairs) < n {
		a := random()
		b := random()
		if rng.IntN(2) == 0 {
			b = mutate(a)
		}
		pairs = append(pairs, [2]string{a, b})
	}
	return pairs
}

// dpkgSays runs the real dpkg: -1, 0 or 1, or an error when dpkg finds the syntax bad.
func dpkgSays(a, b string) (int, error) {
	run := func(op string) (bool, error) {
		err := exec.Command("dpkg", "--compare-versions", a, op, b).Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return true, nil
		case errors.As(err, &exit) && exit.ExitCode() == 1:
			return false, nil
		}
		return false, err
	}
	if lt, err := run("lt"); err != nil || lt {
		return -1, err
	}
	gt, err := run("gt")
	if err != nil {
		return 0, err
	}
	if gt {
		return 1, nil
	}
	return 0, nil
}

func TestCompareAgreesWithDpkgOnAGeneratedCorpus(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg is not installed: the corpus is checked against the real dpkg --compare-versions")
	}
	if testing.Short() {
		t.Skip("-short: the corpus runs dpkg a few thousand times")
	}
	pairs := dpkgCorpus(2500)
	type verdict struct {
		pair [2]string
		want int
		err  error
	}
	results := make([]verdict, len(pairs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Go(func() {
			for i := range next {
				want, err := dpkgSays(pairs[i][0], pairs[i][1])
				results[i] = verdict{pairs[i], want, err}
			}
		})
	}
	for i := range pairs {
		next <- i
	}
	close(next)
	wg.Wait()

	checked, skipped := 0, 0
	for _, r := range results {
		a, b := r.pair[0], r.pair[1]
		_, errA := ParseVersion(a)
		_, errB := ParseVersion(b)
		if r.err != nil {
			// dpkg refused the syntax: ParseVersion must refuse one of them too.
			if errA == nil && errB == nil {
				t.Errorf("dpkg refused %q vs %q (%v) but ParseVersion accepts both", a, b, r.err)
			}
			skipped++
			continue
		}
		if errA != nil || errB != nil {
			t.Errorf("dpkg accepts %q vs %q but ParseVersion refuses: %v %v", a, b, errA, errB)
			continue
		}
		checked++
		if got := Compare(a, b); got != r.want {
			t.Errorf("Compare(%q, %q) = %d, dpkg --compare-versions says %d", a, b, got, r.want)
		}
	}
	if checked < 2000 {
		t.Fatalf("only %d pairs checked against dpkg (%d refused by it), want at least 2000", checked, skipped)
	}
	t.Logf("%d pairs agree with dpkg; %d pairs dpkg refused, and so did ParseVersion", checked, skipped)
}
