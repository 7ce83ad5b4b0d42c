package ecr

import (
	"bytes"
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// parseDoc decodes a request body into the document validation and
// authorization read — what a json.Decoder with UseNumber decodes it into
// (objects as map[string]any, arrays as []any, numbers as json.Number) —
// without encoding/json's reflection, which was the largest share of
// reading a small input. It takes well-formed JSON only, one value with
// nothing but space after it, and reports false on anything else: the
// caller then decodes with encoding/json, whose answer or error stands.
// The body was checked to be UTF-8 without lone surrogate escapes
// (checkText), so strings need no replacement characters.
func parseDoc(b []byte) (any, bool) {
	p := docParser{b: b}
	v, ok := p.value(0)
	if !ok {
		return nil, false
	}
	p.space()
	return v, p.i == len(b)
}

type docParser struct {
	b []byte
	i int
	// echo is the last escaped string read, when its literal in b is
	// written exactly as jsonw.str writes the string: an answer that echoes
	// it copies the literal instead of escaping the string again (PutImage
	// echoes its manifest, where that was ≈ 5% of a call's instructions).
	echo echoLiteral
}

// maxDocDepth is far below encoding/json's limit: deeper documents are
// left to it.
const maxDocDepth = 100

func (p *docParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *docParser) value(depth int) (any, bool) {
	p.space()
	if p.i >= len(p.b) || depth > maxDocDepth {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		obj := map[string]any{}
		p.space()
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return obj, true
		}
		for {
			p.space()
			k, ok := p.key()
			if !ok {
				return nil, false
			}
			p.space()
			if p.i >= len(p.b) || p.b[p.i] != ':' {
				return nil, false
			}
			p.i++
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			obj[k] = v
			p.space()
			if p.i >= len(p.b) {
				return nil, false
			}
			p.i++
			switch p.b[p.i-1] {
			case '}':
				return obj, true
			case ',':
			default:
				return nil, false
			}
		}
	case c == '[':
		p.i++
		arr := []any{}
		p.space()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return arr, true
		}
		for {
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			arr = append(arr, v)
			p.space()
			if p.i >= len(p.b) {
				return nil, false
			}
			p.i++
			switch p.b[p.i-1] {
			case ']':
				return arr, true
			case ',':
			default:
				return nil, false
			}
		}
	case c == '"':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	literal := func(text string) bool {
		if len(p.b)-p.i >= len(text) && string(p.b[p.i:p.i+len(text)]) == text {
			p.i += len(text)
			return true
		}
		return false
	}
	switch {
	case literal("true"):
		return true, true
	case literal("false"):
		return false, true
	case literal("null"):
		return nil, true
	}
	return nil, false
}

// number takes JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *docParser) number() (any, bool) {
	tok, ok := p.numberToken()
	if !ok {
		return nil, false
	}
	return json.Number(tok), true
}

// numberToken reads a number's text.
func (p *docParser) numberToken() ([]byte, bool) {
	start := p.i
	if p.i >= len(p.b) {
		return nil, false
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.b[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.b) && p.b[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return nil, false
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, false
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	return p.b[start:p.i], true
}

// key reads a member's name: one the model names, without escapes, is
// the model's own string (a request's names are nearly all such, and each
// was an allocation), any other is read as str reads it.
func (p *docParser) key() (string, bool) {
	if p.i < len(p.b) && p.b[p.i] == '"' {
		if end := p.i + 1 + bytes.IndexByte(p.b[p.i+1:], '"'); end > p.i {
			if name, ok := memberNames[string(p.b[p.i+1:end])]; ok {
				p.i = end + 1
				return name, true
			}
		}
	}
	return p.str()
}

// memberNames holds every member name of the model's shapes. Names hold no
// quotes, backslashes or control characters, so a name found between two
// quotes is exactly what str would read.
var memberNames = func() map[string]string {
	m := map[string]string{}
	for _, s := range shapes {
		for _, mem := range s.Members {
			m[mem.Name] = mem.Name
		}
	}
	return m
}()

// str reads a string, unescaping it; a control character or a malformed
// escape is not taken.
func (p *docParser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	p.i++
	start := p.i
	for p.i < len(p.b) && plainInString[p.b[p.i]] {
		p.i++
	}
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

// echoPlain says which bytes jsonw.str writes as they are: ASCII but the
// quote, the backslash, control characters and <, > and &.
var echoPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = plainByte[c]
	}
	return t
}()

// plainInString says which bytes a string holds as they are: all but the
// closing quote, a backslash and control characters.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// escaped reads the rest of a string that holds escapes, from start. The
// string is built in one buffer (an escape is never shorter than what it
// stands for, so the rest of the body is enough) and handed out as the
// string without a copy: a PutImage's manifest is such a string, with
// an escaped quote every few characters, and growing a buffer by doubling
// and then copying it into a string was most of the cost of reading one.
func (p *docParser) escaped(start int) (string, bool) {
	b := p.b
	// Sized for the rest of the body, which holds the string (a first pass
	// to find its end cost as much as the copy); a string that leaves much
	// of it unused is copied out before it is handed over.
	out := make([]byte, 0, len(b)-start)
	out = append(out, b[start:p.i]...)
	// Whether the literal is the string as jsonw.str writes it: runs are
	// read in echoPlain's bytes first, so that judging costs nothing per
	// byte until one that str writes otherwise.
	echo := true
	for _, c := range b[start:p.i] {
		echo = echo && echoPlain[c]
	}
	i := p.i
	for i < len(b) {
		run := i
		for run < len(b) && echoPlain[b[run]] {
			run++
		}
		if run < len(b) && plainInString[b[run]] {
			echo = false
			for run < len(b) && plainInString[b[run]] {
				run++
			}
		}
		out = append(out, b[i:run]...)
		if i = run; i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			p.i = i + 1
			var s string
			if cap(out)-len(out) > 64 {
				s = string(out)
			} else {
				// out is never written again: the string may share it.
				s = unsafe.String(unsafe.SliceData(out), len(out))
			}
			if echo {
				p.echo = echoLiteral{s: s, literal: b[start-1 : i+1]}
			}
			return s, true
		case c < 0x20:
			return "", false
		}
		if i+1 >= len(b) {
			return "", false
		}
		e := b[i+1]
		i += 2
		switch e {
		case '"', '\\', 'b', 'f', 'n', 'r', 't':
		default:
			echo = false // str writes '/' as it is, and a \u escape in its own way
		}
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b[i:])
			if !ok {
				return "", false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// The low half must follow: a lone half is declined
				// (the document path's checkText words its error).
				if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
					return "", false
				}
				lo, ok := hex4(b[i+2:])
				if r = utf16.DecodeRune(r, lo); !ok || r == utf8.RuneError {
					return "", false
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}
