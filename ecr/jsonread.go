package ecr

// A request body is read straight into the operation's typed input by the
// generated readJSON methods (zz_generated.go), which check the model's
// constraints as they read: nearly every request is valid, and building a
// document of maps, validating it and filling the typed input from it was
// most of the cost of reading one. A reader takes a body only when the
// document path (input.readDocument) would accept it and fill the same
// input; for anything else — a member the shape does not declare, one given
// twice, a null, an escaped member name, a value of another type or that
// breaks a constraint, a shape the readers leave alone (maps, doubles,
// timestamps, blobs) — it declines, and the document path reads the body,
// deciding and wording the answer as it always has. TestReadJSONAgrees and
// FuzzReadJSON hold the two paths to that.

// bodyReader reads one body for the generated readers. Strings are read as
// the document parser reads them (the body was checked to be UTF-8; an
// unpaired surrogate escape is declined, and the document path words it).
type bodyReader struct {
	docParser
	bad bool // next met something other than a separator or the end
}

// readInputAs reads a whole body as the input T.
func readInputAs[T any, P interface {
	*T
	inputMembers
	readJSON(*bodyReader) bool
}](r *bodyReader) (inputMembers, bool) {
	x := P(new(T))
	if !x.readJSON(r) {
		return nil, false
	}
	r.space()
	return x, r.i == len(r.b)
}

// ok reports whether every separator read so far was one.
func (r *bodyReader) ok() bool { return !r.bad }

// open reads the opening bracket c.
func (r *bodyReader) open(c byte) bool {
	r.space()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// close reads the closing bracket c if it is next.
func (r *bodyReader) close(c byte) bool { return r.open(c) }

// next reads what follows a member or an element: a comma (true: another
// follows) or the closing bracket c (false). Anything else is false too,
// and noted for ok.
func (r *bodyReader) next(c byte) bool {
	r.space()
	if r.i < len(r.b) {
		switch r.b[r.i] {
		case ',':
			r.i++
			return true
		case c:
			r.i++
			return false
		}
	}
	r.bad = true
	return false
}

// emptyObject reads {} (a structure without members).
func (r *bodyReader) emptyObject() bool { return r.open('{') && r.close('}') }

// key reads a member's name and the colon after it. A name with an escape
// is left to the document path (its reader unescapes names).
func (r *bodyReader) key() ([]byte, bool) {
	r.space()
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return nil, false
	}
	start := r.i + 1
	for j := start; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			r.i = j + 1
			if !r.open(':') {
				return nil, false
			}
			return r.b[start:j], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// str reads a string that satisfies the shape's constraints.
func (r *bodyReader) str(s *shapeSpec) (string, bool) {
	r.space()
	v, ok := r.docParser.str()
	return v, ok && s.stringConstraint(v) == ""
}

func (r *bodyReader) boolean() (bool, bool) {
	r.space()
	switch {
	case r.literal("true"):
		return true, true
	case r.literal("false"):
		return false, true
	}
	return false, false
}

func (r *bodyReader) literal(text string) bool {
	if len(r.b)-r.i >= len(text) && string(r.b[r.i:r.i+len(text)]) == text {
		r.i += len(text)
		return true
	}
	return false
}

// integer reads an integer that fits in bits and satisfies the shape's
// constraints. Only plain integers are taken (no fraction or exponent,
// which the validator may take and the typed decode refuse: the document
// path judges those).
func (r *bodyReader) integer(s *shapeSpec, bits int) (int64, bool) {
	r.space()
	start := r.i
	tok, ok := r.numberToken()
	if !ok {
		return 0, false
	}
	neg := tok[0] == '-'
	digits := tok
	if neg {
		digits = tok[1:]
	}
	limit := uint64(1)<<(bits-1) - 1 // the largest positive value
	if neg {
		limit++
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			r.i = start
			return 0, false // a fraction or an exponent
		}
		if n > (limit-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	v := int64(n)
	if neg {
		v = -v
	}
	return v, s.valueConstraint(float64(v)) == ""
}

// The members authorization reads, from either path.

// inputMembers is an input's top-level members by name: those of a typed
// input a reader filled (generated), or those of a validated document
// (docMembers).
type inputMembers interface {
	stringMember(name string) string
	stringsMember(name string) []string
	tagsMember(name string) []Tag
}

// docMembers reads members from a validated document: a member is absent
// or of its model type.
type docMembers map[string]any

func (d docMembers) stringMember(name string) string {
	s, _ := d[name].(string)
	return s
}

func (d docMembers) stringsMember(name string) []string {
	var out []string
	l, _ := d[name].([]any)
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d docMembers) tagsMember(name string) []Tag {
	var out []Tag
	l, _ := d[name].([]any)
	for _, t := range l {
		tag, ok := t.(map[string]any)
		if !ok && t != nil {
			continue // not a list of tags
		}
		out = append(out, Tag{Key: docMembers(tag).stringMember("Key"), Value: docMembers(tag).stringMember("Value")})
	}
	return out
}
