package ecr

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// The generated decodeDoc methods fill an operation's typed input from the
// document readInput decoded and validated, rather than parsing the body a
// second time. Each helper takes a value only as encoding/json would read
// it into the member's type, and reports false otherwise: the dispatcher
// then falls back to encoding/json on the body, whose answer (or error)
// stands.

// docDecoder is what every generated structure has.
type docDecoder interface{ decodeDoc(map[string]any) bool }

func docInt(v any, bits int) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, bits)
	return i, err == nil
}

func docFloat(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

// docTime takes epoch seconds; a string's escapes are Time.UnmarshalJSON's
// to judge, on the body.
func docTime(v any) (Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return Time{}, false
	}
	var t Time
	return t, t.UnmarshalJSON([]byte(n)) == nil
}

// docBlob decodes base64 as encoding/json does into a []byte.
func docBlob(v any) ([]byte, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, []byte(s))
	return b[:n], err == nil
}
