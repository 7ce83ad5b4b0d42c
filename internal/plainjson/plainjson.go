// Package plainjson says when encoding/json writes a string as it is: what
// a hand-written encoder needs to know to write the same bytes without
// escaping anything itself (and fall back to encoding/json otherwise).
package plainjson

// String reports whether encoding/json writes s as it is, between quotes:
// no quote, backslash or control character, nothing it escapes for HTML
// (<, >, &), nothing outside ASCII (invalid bytes, U+2028 and U+2029 are
// escaped or replaced).
func String(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
