package ecr

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// Responses are encoded by the generated encodeJSON methods rather than by
// encoding/json's reflection, which was a large share of a listing's cost.
// They write what json.Marshal writes, byte for byte (a test compares the
// two on every generated type); a value json.Marshal refuses (a NaN or
// infinite double) marks the encoding failed, and the caller then asks
// json.Marshal, so the error stays encoding/json's.

// jsonw is a response being encoded.
type jsonw struct {
	b      []byte
	failed bool
	echo   echoLiteral // a string of the request the answer may repeat
}

// echoLiteral is a string read from a request and its literal there, quotes
// included, which is what str writes for that string (docParser.echo). str
// copies the literal for that very string (the same bytes in memory: an
// answer repeating what the request said), not for an equal one elsewhere.
type echoLiteral struct {
	s       string
	literal []byte
}

// encoder is what every generated structure has.
type encoder interface{ encodeJSON(*jsonw) }

var jsonBuffers = sync.Pool{New: func() any { return &jsonw{b: make([]byte, 0, 1024)} }}

// encodeResponse encodes v with its generated encoder into a pooled buffer;
// ok is false when it holds a value encoding/json refuses. echo, when set,
// is a string of the request the answer repeats (echoLiteral). Call release
// once the bytes are written.
func encodeResponse(v encoder, echo echoLiteral) (w *jsonw, ok bool) {
	w = jsonBuffers.Get().(*jsonw)
	w.b, w.failed, w.echo = w.b[:0], false, echo
	v.encodeJSON(w)
	w.echo = echoLiteral{} // the pool keeps no request's bytes
	return w, !w.failed
}

func (w *jsonw) release() {
	if cap(w.b) <= 1<<20 { // a huge answer's buffer is not kept
		jsonBuffers.Put(w)
	}
}

func (w *jsonw) int(n int64) { w.b = strconv.AppendInt(w.b, n, 10) }

func (w *jsonw) bool(v bool) { w.b = strconv.AppendBool(w.b, v) }

// float is encoding/json's float64 encoding (ES6 number to string).
func (w *jsonw) float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		w.failed = true
		return
	}
	abs, format := math.Abs(f), byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, format, -1, 64)
	if n := len(w.b); format == 'e' && n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
		w.b[n-2] = w.b[n-1] // e-09 → e-9
		w.b = w.b[:n-1]
	}
}

// time is Time.MarshalJSON's encoding.
func (w *jsonw) time(t Time) {
	secs := float64(t.UnixNano()) / 1e9
	w.b = strconv.AppendFloat(w.b, math.Round(secs*1000)/1000, 'f', -1, 64)
}

func (w *jsonw) blob(b []byte) {
	w.b = append(w.b, '"')
	w.b = base64.StdEncoding.AppendEncode(w.b, b)
	w.b = append(w.b, '"')
}

// str is encoding/json's string encoding with HTML escaping: <, > and &,
// control characters, invalid UTF-8 (as U+FFFD), U+2028 and U+2029 escaped.
func (w *jsonw) str(s string) {
	if len(s) != 0 && len(s) == len(w.echo.s) && unsafe.StringData(s) == unsafe.StringData(w.echo.s) {
		w.b = append(w.b, w.echo.literal...)
		return
	}
	const hex = "0123456789abcdef"
	b := append(w.b, '"')
	i := plainPrefix(s)
	if i == len(s) { // nearly every string an answer holds: digests, tags, names
		w.b = append(append(b, s...), '"')
		return
	}
	start := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if plainByte[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	w.b = append(append(b, s[start:]...), '"')
}

// plainPrefix is the length of s's first run of bytes that str writes as
// they are, found eight bytes at a time: a listing's answer is mostly
// digests and tags, and going through them a byte at a time was a tenth of
// a ListImages call.
func plainPrefix(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	// Words at 0, 8, 16…, and last the string's last eight bytes (some of
	// them seen already); a word that is not all plain is gone through a
	// byte at a time.
	for j := 0; len(s) >= 8; j = min(j+8, len(s)-8) {
		w := s[j : j+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// Any byte ≥ 0x80 sets its high bit in x. When there is none, a
		// byte's high bit ends set in y-ones, for y each byte below 0x80,
		// iff some byte of y is 0 (a borrow starts at the first), and in
		// x-0x20*ones iff some byte of x is < 0x20: exact as a whole, not
		// byte by byte. So: any byte ≥ 0x80 or < 0x20, or one of " &
		// (0x22 0x26: 0x26 once bit 2 is set), < > (0x3c 0x3e: 0x3e once
		// bit 1 is set) or \.
		q, a, b := x|0x04*ones^0x26*ones, x|0x02*ones^0x3e*ones, x^'\\'*ones
		if (x|(x-0x20*ones)|(q-ones)|(a-ones)|(b-ones))&highs != 0 {
			i = j
			break
		}
		if j == len(s)-8 {
			return len(s)
		}
	}
	for ; i < len(s) && s[i] < utf8.RuneSelf && plainByte[s[i]]; i++ {
	}
	return i
}

// plainByte says which ASCII bytes a string holds as they are.
var plainByte = func() (t [utf8.RuneSelf]bool) {
	for c := byte(0x20); c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// sortedKeys is the order encoding/json writes a map in.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
