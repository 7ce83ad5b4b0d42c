package osv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeArray parses a JSON array of OSV records, as the advisory index stores them per
// package. A record that is not a valid OSV record (a field of the wrong type) is skipped and
// reported to bad with its index; JSON that is not well-formed fails the whole array.
//
// It is a hand-written decoder for one reason: speed inside the sandbox. The host stops
// runaway plugins by having wazero check for cancellation at every loop iteration and function
// entry (WithCloseOnContextDone), which costs tens of nanoseconds each time, so
// encoding/json's byte-at-a-time state machine and reflection decode a few MB/s there. This
// decoder finds string ends with bytes.IndexByte (assembly, several bytes per iteration),
// builds the few types it needs without reflection, and skips everything else structurally.
// Its results equal encoding/json's (FuzzDecodeRecordAgreesWithEncodingJSON).
func DecodeArray(data []byte, bad func(i int, err error)) ([]Record, error) {
	d := decoder{data: data}
	d.ws()
	if d.peek() == 'n' {
		if err := d.literal("null"); err != nil {
			return nil, err
		}
		return nil, d.end()
	}
	if err := d.expect('['); err != nil {
		return nil, err
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	var records []Record
	d.ws()
	if d.peek() == ']' {
		d.pos++
		return records, d.end()
	}
	for i := 0; ; i++ {
		d.ws()
		start := d.pos
		var r Record
		if err := d.record(&r); err != nil {
			var typeErr *typeError
			if !errors.As(err, &typeErr) {
				return nil, err
			}
			// Well-formed JSON that is no OSV record: skip it whole and go on.
			d.pos = start
			if err := d.skip(); err != nil {
				return nil, err
			}
			if bad != nil {
				bad(i, err)
			}
		} else {
			records = append(records, r)
		}
		d.ws()
		switch d.next() {
		case ',':
			continue
		case ']':
			return records, d.end()
		}
		return nil, d.syntax("',' or ']' after an array element")
	}
}

// DecodeRecord parses one OSV record.
func DecodeRecord(data []byte) (Record, error) {
	d := decoder{data: data}
	var r Record
	d.ws()
	if err := d.record(&r); err != nil {
		return Record{}, err
	}
	return r, d.end()
}

type decoder struct {
	data  []byte
	pos   int
	depth int
}

// maxDepth bounds nesting as encoding/json's scanner does, so that a hostile record cannot
// recurse the plugin out of its memory.
const maxDepth = 10000

func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return errors.New("invalid JSON: nested too deeply")
	}
	return nil
}

// typeError is well-formed JSON of the wrong shape.
type typeError struct {
	field, want string
	pos         int
}

func (e *typeError) Error() string {
	return fmt.Sprintf("field %s at offset %d: want %s", e.field, e.pos, e.want)
}

func (d *decoder) syntax(want string) error {
	if d.pos >= len(d.data) {
		return fmt.Errorf("invalid JSON: unexpected end, want %s", want)
	}
	return fmt.Errorf("invalid JSON at offset %d: unexpected %q, want %s", d.pos, d.data[d.pos], want)
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) next() byte {
	c := d.peek()
	d.pos++
	return c
}

func (d *decoder) expect(c byte) error {
	if d.peek() != c {
		return d.syntax(strconv.QuoteRune(rune(c)))
	}
	d.pos++
	return nil
}

func (d *decoder) end() error {
	d.ws()
	if d.pos != len(d.data) {
		return d.syntax("end of input")
	}
	return nil
}

// stringEnd returns the index of the closing quote of the string whose opening quote is at
// d.pos, and whether its contents are plain (printable ASCII without escapes, to be taken as
// they are). It checks what encoding/json's scanner checks: no raw control characters, valid
// escapes.
func (d *decoder) stringEnd() (int, bool, error) {
	i := d.pos + 1
	var q int
	for {
		j := bytes.IndexByte(d.data[i:], '"')
		if j < 0 {
			d.pos = len(d.data)
			return 0, false, d.syntax("the end of a string")
		}
		q = i + j
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for k := q - 1; k > d.pos && d.data[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			break
		}
		i = q + 1
	}
	seg := d.data[d.pos+1 : q]
	ascii, ctrl := classify(seg)
	if ctrl {
		d.pos += 1 + bytes.IndexFunc(seg, func(r rune) bool { return r < ' ' })
		return 0, false, d.syntax("no control character in a string")
	}
	if bytes.IndexByte(seg, '\\') < 0 {
		return q, ascii, nil
	}
	if err := checkEscapes(seg); err != nil {
		return 0, false, err
	}
	return q, false, nil
}

// classify reports whether b is all ASCII and whether it has a control character (below
// 0x20), eight bytes at a time.
func classify(b []byte) (ascii, ctrl bool) {
	const highs, spaces = 0x8080808080808080, 0x2020202020202020
	var high, low uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		high |= w & highs
		// Some byte of w is below 0x20 (the "hasless" bit trick).
		low |= (w - spaces) &^ w & highs
	}
	for ; i < len(b); i++ {
		high |= uint64(b[i] & 0x80)
		if b[i] < 0x20 {
			low = 1
		}
	}
	return high == 0, low != 0
}

// checkEscapes checks every backslash escape of a string's contents.
func checkEscapes(seg []byte) error {
	for i := 0; ; {
		j := bytes.IndexByte(seg[i:], '\\')
		if j < 0 {
			return nil
		}
		i += j
		if i+1 >= len(seg) {
			return errors.New("invalid JSON: unfinished escape")
		}
		switch seg[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(seg) || !isHex4(seg[i+2:i+6]) {
				return errors.New("invalid JSON: bad \\u escape")
			}
			i += 6
		default:
			return fmt.Errorf("invalid JSON: escape \\%c", seg[i+1])
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// str reads a string value; a value of another type is a typeError for field.
func (d *decoder) str(field string) (string, error) {
	if d.peek() != '"' {
		return "", d.typeMismatch(field, "a string")
	}
	end, plain, err := d.stringEnd()
	if err != nil {
		return "", err
	}
	raw := d.data[d.pos+1 : end]
	d.pos = end + 1
	if plain {
		return string(raw), nil
	}
	return unquote(raw), nil
}

// typeMismatch checks that the value at d.pos is well-formed (skipping it) and returns the
// typeError, or the syntax error if it is not.
func (d *decoder) typeMismatch(field, want string) error {
	pos := d.pos
	if err := d.skip(); err != nil {
		return err
	}
	return &typeError{field: field, want: want, pos: pos}
}

// unquote decodes a checked string's contents as encoding/json does: escapes resolved, a lone
// surrogate or an invalid UTF-8 byte each becoming U+FFFD.
func unquote(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '\\':
			switch e := raw[i+1]; e {
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
				r, n := unicodeEscape(raw[i:])
				out = utf8.AppendRune(out, r)
				i += n
				continue
			default: // '"', '\\', '/'
				out = append(out, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			out = utf8.AppendRune(out, r)
			i += size
		}
	}
	return string(out)
}

// unicodeEscape reads a checked \uXXXX, or a surrogate pair of them, as encoding/json does.
func unicodeEscape(s []byte) (rune, int) {
	hex := func(b []byte) (rune, bool) {
		if len(b) < 6 || b[0] != '\\' || b[1] != 'u' || !isHex4(b[2:6]) {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[2:6]), 16, 32)
		return rune(v), err == nil
	}
	r, _ := hex(s)
	if utf16.IsSurrogate(r) {
		if r2, ok := hex(s[6:]); ok {
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				return dec, 12
			}
		}
		return utf8.RuneError, 6
	}
	return r, 6
}

// skip passes over one well-formed value of any type.
func (d *decoder) skip() error {
	d.ws()
	switch c := d.peek(); {
	case c == '"':
		end, _, err := d.stringEnd()
		if err != nil {
			return err
		}
		d.pos = end + 1
		return nil
	case c == '{':
		return d.object("", nil, func(string) error { return d.skip() })
	case c == '[':
		return d.array("", func() error { return d.skip() })
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	}
	return d.syntax("a value")
}

func (d *decoder) literal(word string) error {
	if !bytes.HasPrefix(d.data[d.pos:], []byte(word)) {
		return d.syntax(word)
	}
	d.pos += len(word)
	return nil
}

// number passes over a number with JSON's grammar.
func (d *decoder) number() error {
	start := d.pos
	if d.peek() == '-' {
		d.pos++
	}
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	if d.peek() == '0' {
		d.pos++
	} else if digits() == 0 {
		return d.syntax("a digit")
	}
	if d.peek() == '.' {
		d.pos++
		if digits() == 0 {
			return d.syntax("a digit")
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.pos++
		if c := d.peek(); c == '+' || c == '-' {
			d.pos++
		}
		if digits() == 0 {
			return d.syntax("a digit")
		}
	}
	if d.pos == start {
		return d.syntax("a number")
	}
	return nil
}

// object walks an object, calling member for each key with d.pos at its value; a key that
// equals one of names but for case is given as that name, as encoding/json matches fields.
// null is an empty object, as encoding/json treats it for a struct. Another type is a
// typeError.
func (d *decoder) object(field string, names []string, member func(key string) error) error {
	d.ws()
	if d.peek() == 'n' {
		return d.literal("null")
	}
	if d.peek() != '{' {
		return d.typeMismatch(field, "an object")
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer func() { d.depth-- }()
	d.pos++
	d.ws()
	if d.peek() == '}' {
		d.pos++
		return nil
	}
	for {
		d.ws()
		if d.peek() != '"' {
			return d.syntax("an object key")
		}
		key, err := d.str("")
		if err != nil {
			return err
		}
		key = canon(key, names)
		d.ws()
		if err := d.expect(':'); err != nil {
			return err
		}
		d.ws()
		if err := member(key); err != nil {
			return err
		}
		d.ws()
		switch d.next() {
		case ',':
			continue
		case '}':
			return nil
		}
		d.pos--
		return d.syntax("',' or '}' in an object")
	}
}

// canon returns the name key matches exactly, else the one it matches ignoring case
// (bytes.EqualFold, as encoding/json), else key.
func canon(key string, names []string) string {
	ascii := true
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	for _, n := range names {
		if n == key {
			return n
		}
	}
	for _, n := range names {
		// Folding keeps an ASCII string's length; only non-ASCII keys need the full check.
		if (!ascii || len(n) == len(key)) && strings.EqualFold(n, key) {
			return n
		}
	}
	return key
}

// array walks an array, calling elem with d.pos at each element. null is an empty array.
func (d *decoder) array(field string, elem func() error) error {
	d.ws()
	if d.peek() == 'n' {
		return d.literal("null")
	}
	if d.peek() != '[' {
		return d.typeMismatch(field, "an array")
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer func() { d.depth-- }()
	d.pos++
	d.ws()
	if d.peek() == ']' {
		d.pos++
		return nil
	}
	for {
		d.ws()
		if err := elem(); err != nil {
			return err
		}
		d.ws()
		switch d.next() {
		case ',':
			continue
		case ']':
			return nil
		}
		d.pos--
		return d.syntax("',' or ']' in an array")
	}
}

// optStr reads a string field; null leaves it empty, as in encoding/json.
func (d *decoder) optStr(field string, into *string) error {
	if d.peek() == 'n' {
		return d.literal("null")
	}
	s, err := d.str(field)
	if err == nil {
		*into = s
	}
	return err
}

func (d *decoder) strings(field string, into *[]string) error {
	if d.peek() == 'n' {
		*into = nil
		return d.literal("null")
	}
	list := []string{}
	err := d.array(field, func() error {
		var s string
		err := d.optStr(field, &s)
		list = append(list, s)
		return err
	})
	if err == nil {
		*into = list
	}
	return err
}

var (
	recordNames    = []string{"id", "modified", "withdrawn", "summary", "details", "aliases", "upstream", "severity", "affected", "references", "database_specific"}
	referenceNames = []string{"type", "url"}
	severityNames  = []string{"type", "score"}
	affectedNames  = []string{"package", "severity", "versions", "ecosystem_specific", "database_specific", "ranges"}
	packageNames   = []string{"ecosystem", "name"}
	rangeNames     = []string{"type", "events"}
	eventNames     = []string{"introduced", "fixed", "last_affected", "limit"}
)

func (d *decoder) record(r *Record) error {
	return d.object("record", recordNames, func(key string) error {
		switch key {
		case "id":
			return d.optStr(key, &r.ID)
		case "modified":
			return d.optStr(key, &r.Modified)
		case "withdrawn":
			return d.optStr(key, &r.Withdrawn)
		case "summary":
			return d.optStr(key, &r.Summary)
		case "details":
			return d.optStr(key, &r.Details)
		case "aliases":
			return d.strings(key, &r.Aliases)
		case "upstream":
			return d.strings(key, &r.Upstream)
		case "severity":
			return d.severities(&r.Severity)
		case "affected":
			if d.peek() == 'n' {
				r.Affected = nil
				return d.literal("null")
			}
			r.Affected = []Affected{}
			return d.array(key, func() error {
				var a Affected
				err := d.affected(&a)
				r.Affected = append(r.Affected, a)
				return err
			})
		case "references":
			if d.peek() == 'n' {
				r.References = nil
				return d.literal("null")
			}
			r.References = []Reference{}
			return d.array(key, func() error {
				var ref Reference
				err := d.object(key, referenceNames, func(k string) error {
					switch k {
					case "type":
						return d.optStr(k, &ref.Type)
					case "url":
						return d.optStr(k, &ref.URL)
					}
					return d.skip()
				})
				r.References = append(r.References, ref)
				return err
			})
		case "database_specific":
			return d.specific(&r.DatabaseSpecific)
		}
		return d.skip()
	})
}

func (d *decoder) severities(into *[]Severity) error {
	if d.peek() == 'n' {
		*into = nil
		return d.literal("null")
	}
	*into = []Severity{}
	return d.array("severity", func() error {
		var s Severity
		err := d.object("severity", severityNames, func(k string) error {
			switch k {
			case "type":
				return d.optStr(k, &s.Type)
			case "score":
				return d.optStr(k, &s.Score)
			}
			return d.skip()
		})
		*into = append(*into, s)
		return err
	})
}

func (d *decoder) affected(a *Affected) error {
	return d.object("affected", affectedNames, func(key string) error {
		switch key {
		case "package":
			return d.object(key, packageNames, func(k string) error {
				switch k {
				case "ecosystem":
					return d.optStr(k, &a.Package.Ecosystem)
				case "name":
					return d.optStr(k, &a.Package.Name)
				}
				return d.skip()
			})
		case "severity":
			return d.severities(&a.Severity)
		case "versions":
			return d.strings(key, &a.Versions)
		case "ecosystem_specific":
			return d.specific(&a.EcosystemSpecific)
		case "database_specific":
			return d.specific(&a.DatabaseSpecific)
		case "ranges":
			if d.peek() == 'n' {
				a.Ranges = nil
				return d.literal("null")
			}
			a.Ranges = []Range{}
			return d.array(key, func() error {
				var rg Range
				err := d.rangeObject(&rg)
				a.Ranges = append(a.Ranges, rg)
				return err
			})
		}
		return d.skip()
	})
}

func (d *decoder) rangeObject(rg *Range) error {
	return d.object("ranges", rangeNames, func(key string) error {
		switch key {
		case "type":
			return d.optStr(key, &rg.Type)
		case "events":
			if d.peek() == 'n' {
				rg.Events = nil
				return d.literal("null")
			}
			rg.Events = []Event{}
			return d.array(key, func() error {
				var e Event
				err := d.object(key, eventNames, func(k string) error {
					switch k {
					case "introduced":
						return d.optStr(k, &e.Introduced)
					case "fixed":
						return d.optStr(k, &e.Fixed)
					case "last_affected":
						return d.optStr(k, &e.LastAffected)
					case "limit":
						return d.optStr(k, &e.Limit)
					}
					return d.skip()
				})
				rg.Events = append(rg.Events, e)
				return err
			})
		}
		return d.skip()
	})
}

// specific keeps the string "severity" and "urgency" of a free-form object, as
// Specific.UnmarshalJSON does: the last value of a key decides, and one that is not a string
// leaves the field as it was.
func (d *decoder) specific(s *Specific) error {
	if d.peek() != '{' {
		return d.skip()
	}
	var sev, urg *string
	// Specific.UnmarshalJSON reads a map, whose keys match exactly.
	err := d.object("", nil, func(key string) error {
		var last **string
		switch key {
		case "severity":
			last = &sev
		case "urgency":
			last = &urg
		default:
			return d.skip()
		}
		if d.peek() != '"' {
			*last = nil
			return d.skip()
		}
		v, err := d.str(key)
		*last = &v
		return err
	})
	if sev != nil {
		s.Severity = *sev
	}
	if urg != nil {
		s.Urgency = *urg
	}
	return err
}
