package apk

// Alpine's version grammar (apk-tools src/version.c):
//
//	digit{.digit}...{letter}{_suffix{digits}}...{~hash}{-r#}
//
// compared token by token. What follows is written from those rules, not from apk's code.

type token int

const (
	tokInitialDigit token = iota
	tokDigit
	tokLetter
	tokSuffix
	tokSuffixNumber
	tokCommitHash
	tokRevision
	tokEnd
	tokInvalid
)

// Suffix ranks: the pre-release ones sort before a release (no suffix), the others after.
var suffixRank = map[string]int{
	"alpha": 0, "beta": 1, "pre": 2, "rc": 3,
	// a release, with no suffix, ranks 4
	"cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9,
}

const rankRelease = 4

type tokenizer struct {
	s   string
	pos int
	tok token
	// val is the token's text: digits, a letter, a suffix name or a hash.
	val string
	num uint64
}

func (t *tokenizer) digits() {
	start := t.pos
	var n uint64
	for t.pos < len(t.s) && '0' <= t.s[t.pos] && t.s[t.pos] <= '9' {
		n = n*10 + uint64(t.s[t.pos]-'0')
		t.pos++
	}
	t.val, t.num = t.s[start:t.pos], n
	if t.val == "" {
		t.tok = tokInvalid
	}
}

func (t *tokenizer) first() {
	t.tok = tokInitialDigit
	t.digits()
}

// next reads the token after the current one, checking that it may follow it.
func (t *tokenizer) next() {
	if t.pos >= len(t.s) {
		t.tok = tokEnd
		return
	}
	c := t.s[t.pos]
	switch {
	case 'a' <= c && c <= 'z':
		if t.tok > tokDigit {
			t.tok = tokInvalid
			return
		}
		t.tok, t.val = tokLetter, t.s[t.pos:t.pos+1]
		t.pos++
	case c == '.' || '0' <= c && c <= '9':
		if c == '.' {
			if t.tok > tokDigit {
				t.tok = tokInvalid
				return
			}
			t.pos++
		}
		switch t.tok {
		case tokInitialDigit, tokDigit:
			t.tok = tokDigit
		case tokSuffix:
			t.tok = tokSuffixNumber
		default:
			t.tok = tokInvalid
			return
		}
		t.digits()
	case c == '_':
		if t.tok > tokSuffixNumber {
			t.tok = tokInvalid
			return
		}
		t.pos++
		start := t.pos
		for t.pos < len(t.s) && 'a' <= t.s[t.pos] && t.s[t.pos] <= 'z' {
			t.pos++
		}
		t.val = t.s[start:t.pos]
		if _, ok := suffixRank[t.val]; !ok {
			t.tok = tokInvalid
			return
		}
		t.tok = tokSuffix
	case c == '~':
		if t.tok >= tokCommitHash {
			t.tok = tokInvalid
			return
		}
		t.pos++
		start := t.pos
		for t.pos < len(t.s) && isHex(t.s[t.pos]) {
			t.pos++
		}
		t.val = t.s[start:t.pos]
		if t.val == "" {
			t.tok = tokInvalid
			return
		}
		t.tok = tokCommitHash
	case c == '-':
		if t.tok >= tokRevision || t.pos+1 >= len(t.s) || t.s[t.pos+1] != 'r' {
			t.tok = tokInvalid
			return
		}
		t.pos += 2
		t.tok = tokRevision
		t.digits()
	default:
		t.tok = tokInvalid
	}
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// Valid reports whether v follows Alpine's version grammar.
func Valid(v string) bool {
	t := tokenizer{s: v}
	for t.first(); t.tok < tokEnd; t.next() {
	}
	return t.tok == tokEnd
}

// Compare orders two Alpine package versions as apk does: -1, 0 or 1. Versions outside the
// grammar compare up to the first token that is not, as in apk.
func Compare(a, b string) int {
	ta, tb := tokenizer{s: a}, tokenizer{s: b}
	ta.first()
	tb.first()
	for ta.tok == tb.tok && ta.tok < tokEnd {
		if c := compareTokens(&ta, &tb); c != 0 {
			return c
		}
		ta.next()
		tb.next()
	}
	if ta.tok == tb.tok {
		return 0
	}
	// One version goes on where the other stopped (or turned to something else): the longer
	// one is newer, unless what it goes on with is a pre-release suffix.
	if ta.tok == tokSuffix && suffixRank[ta.val] < rankRelease {
		return -1
	}
	if tb.tok == tokSuffix && suffixRank[tb.val] < rankRelease {
		return 1
	}
	if ta.tok > tb.tok {
		return -1
	}
	return 1
}

func compareTokens(a, b *tokenizer) int {
	switch a.tok {
	case tokDigit:
		// A component with a leading zero compares as a string (as in Gentoo's rules).
		if a.val[0] == '0' || b.val[0] == '0' {
			return compareStrings(a.val, b.val)
		}
		return compareNumbers(a.num, b.num)
	case tokInitialDigit, tokSuffixNumber, tokRevision:
		return compareNumbers(a.num, b.num)
	case tokLetter:
		return compareStrings(a.val, b.val)
	case tokSuffix:
		return compareNumbers(uint64(suffixRank[a.val]), uint64(suffixRank[b.val]))
	}
	return compareStrings(a.val, b.val)
}

func compareNumbers(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareStrings is a byte-wise comparison where a prefix sorts first.
func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
