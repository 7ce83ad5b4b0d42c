package dpkg

import (
	"errors"
	"fmt"
)

// Version is a Debian package version: [epoch:]upstream[-revision].
type Version struct {
	Epoch    int
	Upstream string
	Revision string
}

// ParseVersion splits a version as dpkg does (lib/dpkg/parsehelp.c): the epoch is what precedes
// the first colon, the revision what follows the last hyphen. It refuses what dpkg refuses
// with an error; dpkg's mere warnings (an upstream not starting with a digit, characters
// outside its set) are accepted, as dpkg itself goes on comparing such versions.
func ParseVersion(s string) (Version, error) {
	if s == "" {
		return Version{}, errors.New("version string is empty")
	}
	// One pass finds the first colon, the last hyphen and any space: loops are what cost in
	// the plugin's sandbox, and advisories hold thousands of versions.
	colon, hyphen := -1, -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ':':
			if colon < 0 {
				colon = i
			}
		case '-':
			hyphen = i
		case ' ', '\t', '\n', '\r':
			return Version{}, fmt.Errorf("version %q has embedded spaces", s)
		}
	}
	var v Version
	rest := s
	if colon >= 0 {
		epoch := s[:colon]
		if epoch == "" {
			return Version{}, fmt.Errorf("version %q: epoch is empty", s)
		}
		n := 0
		for i := 0; i < len(epoch); i++ {
			c := epoch[i]
			if c < '0' || c > '9' || n > (1<<31-1-int(c-'0'))/10 {
				return Version{}, fmt.Errorf("version %q: epoch is not a number below 2^31", s)
			}
			n = n*10 + int(c-'0')
		}
		v.Epoch = n
		rest = s[colon+1:]
		if rest == "" {
			return Version{}, fmt.Errorf("version %q: nothing after the epoch", s)
		}
	}
	if hyphen > colon {
		v.Revision = s[hyphen+1:]
		rest = s[colon+1 : hyphen]
		if v.Revision == "" {
			return Version{}, fmt.Errorf("version %q: revision is empty", s)
		}
	}
	if rest == "" {
		return Version{}, fmt.Errorf("version %q: upstream version is empty", s)
	}
	v.Upstream = rest
	return v, nil
}

// Compare orders two version strings as `dpkg --compare-versions` does: -1, 0 or 1. A string
// ParseVersion refuses is compared as an upstream version without epoch or revision, so a bad
// advisory never stops a scan; such strings do not occur in dpkg databases.
func Compare(a, b string) int {
	va, err := ParseVersion(a)
	if err != nil {
		va = Version{Upstream: a}
	}
	vb, err := ParseVersion(b)
	if err != nil {
		vb = Version{Upstream: b}
	}
	return va.Compare(vb)
}

// Compare orders v against w: epoch numerically, then upstream, then revision, each with
// dpkg's verrevcmp.
func (v Version) Compare(w Version) int {
	switch {
	case v.Epoch < w.Epoch:
		return -1
	case v.Epoch > w.Epoch:
		return 1
	}
	if c := verrevcmp(v.Upstream, w.Upstream); c != 0 {
		return c
	}
	return verrevcmp(v.Revision, w.Revision)
}

// order is the weight of a character in the non-digit parts: '~' sorts before everything,
// even the end of the string; letters sort before all other characters.
func order(c byte, ok bool) int {
	switch {
	case !ok || isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	default:
		return int(c) + 256
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// verrevcmp compares alternating runs of non-digits (by order, character by character) and of
// digits (as numbers of any length, leading zeros ignored), as dpkg's lib/dpkg/version.c does.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	at := func(s string, k int) (byte, bool) {
		if k < len(s) {
			return s[k], true
		}
		return 0, false
	}
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ca, oka := at(a, i)
			cb, okb := at(b, j)
			if oa, ob := order(ca, oka), order(cb, okb); oa != ob {
				return sign(oa - ob)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
