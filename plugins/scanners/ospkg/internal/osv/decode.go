package osv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The decoder below is hand-written for one reason: speed inside the sandbox. The host stops
// runaway plugins by having wazero check for cancellation at every loop iteration and function
// entry (WithCloseOnContextDone), which costs tens of nanoseconds each time, so
// encoding/json's byte-at-a-time state machine and reflection decode a few MB/s there. This
// decoder scans strings eight bytes per step, builds the few types it needs without
// reflection or closures, and skips everything else structurally. DecodeRecord reads exactly
// as encoding/json does (FuzzDecodeRecordAgreesWithEncodingJSON); Matches uses the same
// parts to read only what a scan needs.

// DecodeRecord parses one OSV record. Its strings share data's memory: data must not be
// modified afterwards.
func DecodeRecord(data []byte) (Record, error) {
	d := newDecoder(data)
	var r Record
	d.ws()
	if err := d.record(&r); err != nil {
		return Record{}, err
	}
	return r, d.end()
}

type decoder struct {
	data []byte
	// src is data as one string: a plain string value is a slice of it, without a copy (and
	// an allocation) of its own.
	src   string
	pos   int
	depth int
}

// newDecoder reads data, which must not change while the decoder or the strings it returns
// are in use: src shares its memory (copying a few MB per scan costs tens of ms in the sandbox).
func newDecoder(data []byte) *decoder {
	return &decoder{data: data, src: unsafe.String(unsafe.SliceData(data), len(data))}
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
	// Most calls find no whitespace (the index's records are usually compact): returning
	// before the loop spares the sandbox's check at its head.
	if d.pos >= len(d.data) || d.data[d.pos] > ' ' {
		return
	}
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

// String flags, from scanString.
const (
	strEscaped  = 1 << iota // has a backslash escape
	strNonASCII             // has a byte of 0x80 or more
	strUpper                // has an ASCII upper-case letter (only keys care)
)

const (
	ones        = 0x0101010101010101
	highs       = 0x8080808080808080
	quotes      = 0x2222222222222222
	backslashes = 0x5c5c5c5c5c5c5c5c
	spaces      = 0x2020202020202020
	upperA      = 0x4141414141414141
	afterZ      = 0x5b5b5b5b5b5b5b5b
)

// scanString finds the end of the string whose opening quote is at d.pos: the index of its
// closing quote and what its contents hold. It reads eight bytes per step: one step finds
// the first quote, backslash or control character of a word (the lowest byte the bit tricks
// flag is exact), so a short key costs one step. It checks what encoding/json's scanner
// checks: no raw control character, valid escapes.
func (d *decoder) scanString() (int, uint8, error) {
	b := d.data
	i := d.pos + 1
	var flags uint8
	var high, upper uint64
	for {
		if i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			stop := hasZero(w^quotes) | hasZero(w^backslashes) | (w-spaces)&^w&highs
			ordinary := ^uint64(0)
			if stop != 0 {
				// Only the bytes before the first flagged one are ordinary.
				ordinary = uint64(1)<<(bits.TrailingZeros64(stop)&^7) - 1
			}
			high |= w & highs & ordinary
			upper |= ((w | highs) - upperA) &^ ((w | highs) - afterZ) &^ w & highs & ordinary
			if stop == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(stop) >> 3
		}
		if i >= len(b) {
			d.pos = len(b)
			return 0, 0, d.syntax("the end of a string")
		}
		switch c := b[i]; {
		case c == '"':
			if high != 0 {
				flags |= strNonASCII
			}
			if upper != 0 {
				flags |= strUpper
			}
			return i, flags, nil
		case c == '\\':
			flags |= strEscaped
			n, err := escapeLen(b[i:])
			if err != nil {
				d.pos = i
				return 0, 0, err
			}
			i += n
		case c < 0x20:
			d.pos = i
			return 0, 0, d.syntax("no control character in a string")
		default: // an ordinary byte in the last, short word of the input
			high |= uint64(c & 0x80)
			if 'A' <= c && c <= 'Z' {
				upper = 1
			}
			i++
		}
	}
}

// short finds the end of a short plain string whose opening quote is at d.pos: closed within
// the 16 bytes after the quote, with no escape, control or non-ASCII byte. Keys and most
// values are such strings, and reading them here, in straight-line code, spares scanString's
// call and loop (each a check in the sandbox). ok is false for any other string.
func (d *decoder) short() (end int, upper, ok bool) {
	b := d.data
	i := d.pos + 1
	if i+16 > len(b) {
		return 0, false, false
	}
	// Two words, unrolled and written out: a loop, or a call that is not inlined, would cost
	// a check in the sandbox.
	w := binary.LittleEndian.Uint64(b[i:])
	q := hasZero(w ^ quotes)
	before, mask := 8, ^uint64(0)
	if q != 0 {
		before = bits.TrailingZeros64(q) >> 3
		mask = uint64(1)<<(8*before) - 1
	}
	if (hasZero(w^backslashes)|(w-spaces)&^w&highs|w&highs)&mask != 0 {
		return 0, false, false
	}
	upper = ((w|highs)-upperA)&^((w|highs)-afterZ)&^w&highs&mask != 0
	if before < 8 {
		return i + before, upper, true
	}
	w = binary.LittleEndian.Uint64(b[i+8:])
	q = hasZero(w ^ quotes)
	if q == 0 {
		return 0, false, false
	}
	before = bits.TrailingZeros64(q) >> 3
	mask = uint64(1)<<(8*before) - 1
	if (hasZero(w^backslashes)|(w-spaces)&^w&highs|w&highs)&mask != 0 {
		return 0, false, false
	}
	upper = upper || ((w|highs)-upperA)&^((w|highs)-afterZ)&^w&highs&mask != 0
	return i + 8 + before, upper, true
}

// hasZero is non-zero when a byte of w is zero; its lowest flagged byte is the first zero.
func hasZero(w uint64) uint64 { return (w - ones) &^ w & highs }

// escapeLen checks the escape at the start of b and returns its length.
func escapeLen(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, errors.New("invalid JSON: unfinished escape")
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		if len(b) < 6 || !isHex4(b[2:6]) {
			return 0, errors.New("invalid JSON: bad \\u escape")
		}
		return 6, nil
	}
	return 0, fmt.Errorf("invalid JSON: escape \\%c", b[1])
}

// str reads a string value; a value of another type is a typeError for field.
func (d *decoder) str(field string) (string, error) {
	s, _, err := d.strFlags(field)
	return s, err
}

func (d *decoder) strFlags(field string) (string, uint8, error) {
	if d.peek() != '"' {
		return "", 0, d.typeMismatch(field, "a string")
	}
	if end, upper, ok := d.short(); ok {
		var flags uint8
		if upper {
			flags = strUpper
		}
		start := d.pos + 1
		d.pos = end + 1
		return d.src[start:end], flags, nil
	}
	end, flags, err := d.scanString()
	if err != nil {
		return "", 0, err
	}
	start := d.pos + 1
	d.pos = end + 1
	if flags&(strEscaped|strNonASCII) == 0 || flags&strEscaped == 0 && utf8.Valid(d.data[start:end]) {
		return d.src[start:end], flags, nil
	}
	return unquote(d.data[start:end]), flags, nil
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
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
		end, _, err := d.scanString()
		if err != nil {
			return err
		}
		d.pos = end + 1
		return nil
	case c == '{':
		more, err := d.openObject("")
		for more && err == nil {
			if _, err = d.key(nil); err == nil {
				if err = d.skip(); err == nil {
					if more = d.comma(); !more {
						more, err = d.moreMembers()
					}
				}
			}
		}
		return err
	case c == '[':
		more, err := d.openArray("")
		for more && err == nil {
			if err = d.skip(); err == nil {
				more, err = d.moreElements()
			}
		}
		return err
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
	if !strings.HasPrefix(d.src[d.pos:], word) {
		return d.syntax(word)
	}
	d.pos += len(word)
	return nil
}

// number passes over a number with JSON's grammar.
func (d *decoder) number() error {
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
	return nil
}

// openObject starts reading an object and reports whether it has members. null reads as an
// empty object, as encoding/json treats it for a struct; another type is a typeError.
// The members are read with key and value, then moreMembers.
func (d *decoder) openObject(field string) (bool, error) {
	d.ws()
	switch d.peek() {
	case 'n':
		return false, d.literal("null")
	case '{':
		if err := d.enter(); err != nil {
			return false, err
		}
		d.pos++
		d.ws()
		if d.peek() == '}' {
			d.pos++
			d.depth--
			return false, nil
		}
		return true, nil
	}
	return false, d.typeMismatch(field, "an object")
}

// key reads a member's key and colon, leaving d.pos at its value. A key that equals one of
// names but for case is returned as that name, as encoding/json matches fields.
func (d *decoder) key(names []string) (string, error) {
	// Compact JSON's keys are short, plain and lower-case, with the colon right after: read
	// here, that costs one call (short's) instead of three.
	if d.peek() == '"' {
		if end, upper, ok := d.short(); ok && !upper && end+1 < len(d.data) && d.data[end+1] == ':' {
			k := d.src[d.pos+1 : end]
			d.pos = end + 2
			d.ws()
			return k, nil
		}
	}
	d.ws()
	if d.peek() != '"' {
		return "", d.syntax("an object key")
	}
	k, flags, err := d.strFlags("")
	if err != nil {
		return "", err
	}
	d.ws()
	if err := d.expect(':'); err != nil {
		return "", err
	}
	d.ws()
	// Only a key with an upper-case or non-ASCII letter can match a name but for case.
	if flags&(strUpper|strNonASCII) != 0 {
		k = canon(k, names)
	}
	return k, nil
}

// moreMembers reads the ',' before another member or the '}' that ends the object. Loops over
// members try comma first, which is inlined: a call costs a check in the sandbox.
func (d *decoder) moreMembers() (bool, error) {
	d.ws()
	switch d.next() {
	case ',':
		return true, nil
	case '}':
		d.depth--
		return false, nil
	}
	d.pos--
	return false, d.syntax("',' or '}' in an object")
}

// openArray starts reading an array and reports whether it has elements; null reads as an
// empty array. The elements are read one by one, each followed by moreElements.
func (d *decoder) openArray(field string) (bool, error) {
	d.ws()
	switch d.peek() {
	case 'n':
		return false, d.literal("null")
	case '[':
		if err := d.enter(); err != nil {
			return false, err
		}
		d.pos++
		d.ws()
		if d.peek() == ']' {
			d.pos++
			d.depth--
			return false, nil
		}
		return true, nil
	}
	return false, d.typeMismatch(field, "an array")
}

// moreElements reads the ',' before another element or the ']' that ends the array.
func (d *decoder) moreElements() (bool, error) {
	d.ws()
	switch d.next() {
	case ',':
		d.ws()
		return true, nil
	case ']':
		d.depth--
		return false, nil
	}
	d.pos--
	return false, d.syntax("',' or ']' in an array")
}

// comma consumes a ',' at d.pos, what ends most members in compact JSON; it is small enough
// to be inlined, so that the common case costs no call to moreMembers.
func (d *decoder) comma() bool {
	if d.pos < len(d.data) && d.data[d.pos] == ',' {
		d.pos++
		return true
	}
	return false
}

// canon returns the name key matches exactly, else the one it matches ignoring case
// (bytes.EqualFold, as encoding/json), else key.
func canon(key string, names []string) string {
	for _, n := range names {
		if n == key {
			return n
		}
	}
	ascii := true
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			ascii = false
			break
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

// optStr reads a string field; null leaves it as it was, as in encoding/json.
func (d *decoder) optStr(field string, into *string) error {
	// Most values are short plain strings: read here, they cost one call (short's), not two.
	if d.peek() == '"' {
		if end, _, ok := d.short(); ok {
			*into = d.src[d.pos+1 : end]
			d.pos = end + 1
			return nil
		}
	}
	if d.peek() == 'n' {
		return d.literal("null")
	}
	s, err := d.str(field)
	if err == nil {
		*into = s
	}
	return err
}

// strings reads an array of strings; null makes it nil.
func (d *decoder) strings(field string, into *[]string) error {
	if d.peek() == 'n' {
		*into = nil
		return d.literal("null")
	}
	list := []string{}
	more, err := d.openArray(field)
	for more && err == nil {
		var s string
		if err = d.optStr(field, &s); err == nil {
			list = append(list, s)
			more, err = d.moreElements()
		}
	}
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
	more, err := d.openObject("record")
	for more && err == nil {
		var key string
		if key, err = d.key(recordNames); err != nil {
			break
		}
		switch key {
		case "id":
			err = d.optStr(key, &r.ID)
		case "modified":
			err = d.optStr(key, &r.Modified)
		case "withdrawn":
			err = d.optStr(key, &r.Withdrawn)
		case "summary":
			err = d.optStr(key, &r.Summary)
		case "details":
			err = d.optStr(key, &r.Details)
		case "aliases":
			err = d.strings(key, &r.Aliases)
		case "upstream":
			err = d.strings(key, &r.Upstream)
		case "severity":
			err = d.severities(&r.Severity)
		case "affected":
			err = d.affectedList(&r.Affected)
		case "references":
			err = d.references(&r.References)
		case "database_specific":
			err = d.specific(&r.DatabaseSpecific)
		default:
			err = d.skip()
		}
		if err == nil {
			if more = d.comma(); !more {
				more, err = d.moreMembers()
			}
		}
	}
	return err
}

func (d *decoder) references(into *[]Reference) error {
	if d.peek() == 'n' {
		*into = nil
		return d.literal("null")
	}
	list := []Reference{}
	more, err := d.openArray("references")
	for more && err == nil {
		var ref Reference
		m, e := d.openObject("references")
		for err = e; m && err == nil; {
			var k string
			if k, err = d.key(referenceNames); err != nil {
				break
			}
			switch k {
			case "type":
				err = d.optStr(k, &ref.Type)
			case "url":
				err = d.optStr(k, &ref.URL)
			default:
				err = d.skip()
			}
			if err == nil {
				if m = d.comma(); !m {
					m, err = d.moreMembers()
				}
			}
		}
		if err == nil {
			list = append(list, ref)
			more, err = d.moreElements()
		}
	}
	*into = list
	return err
}

func (d *decoder) severities(into *[]Severity) error {
	if d.peek() == 'n' {
		*into = nil
		return d.literal("null")
	}
	list := []Severity{}
	more, err := d.openArray("severity")
	for more && err == nil {
		var sev Severity
		m, e := d.openObject("severity")
		for err = e; m && err == nil; {
			var k string
			if k, err = d.key(severityNames); err != nil {
				break
			}
			switch k {
			case "type":
				err = d.optStr(k, &sev.Type)
			case "score":
				err = d.optStr(k, &sev.Score)
			default:
				err = d.skip()
			}
			if err == nil {
				if m = d.comma(); !m {
					m, err = d.moreMembers()
				}
			}
		}
		if err == nil {
			list = append(list, sev)
			more, err = d.moreElements()
		}
	}
	*into = list
	return err
}

func (d *decoder) affectedList(into *[]Affected) error {
	if d.peek() == 'n' {
		*into = nil
		return d.literal("null")
	}
	list := []Affected{}
	more, err := d.openArray("affected")
	for more && err == nil {
		var a Affected
		if err = d.affected(&a); err == nil {
			list = append(list, a)
			more, err = d.moreElements()
		}
	}
	*into = list
	return err
}

func (d *decoder) affected(a *Affected) error {
	more, err := d.openObject("affected")
	for more && err == nil {
		var key string
		if key, err = d.key(affectedNames); err != nil {
			break
		}
		switch key {
		case "package":
			err = d.pkg(&a.Package)
		case "severity":
			err = d.severities(&a.Severity)
		case "versions":
			err = d.strings(key, &a.Versions)
		case "ecosystem_specific":
			err = d.specific(&a.EcosystemSpecific)
		case "database_specific":
			err = d.specific(&a.DatabaseSpecific)
		case "ranges":
			err = d.ranges(&a.Ranges)
		default:
			err = d.skip()
		}
		if err == nil {
			if more = d.comma(); !more {
				more, err = d.moreMembers()
			}
		}
	}
	return err
}

func (d *decoder) pkg(p *Package) error {
	more, err := d.openObject("package")
	for more && err == nil {
		var k string
		// key's fast path, written out: a call costs a check in the sandbox.
		fast := false
		if d.peek() == '"' {
			if end, upper, ok := d.short(); ok && !upper && end+1 < len(d.data) && d.data[end+1] == ':' {
				k, d.pos, fast = d.src[d.pos+1:end], end+2, true
				d.ws()
			}
		}
		if !fast {
			if k, err = d.key(packageNames); err != nil {
				break
			}
		}
		switch k {
		case "ecosystem":
			err = d.optStr(k, &p.Ecosystem)
		case "name":
			err = d.optStr(k, &p.Name)
		default:
			err = d.skip()
		}
		if err == nil {
			if more = d.comma(); !more {
				more, err = d.moreMembers()
			}
		}
	}
	return err
}

func (d *decoder) ranges(into *[]Range) error {
	if d.peek() == 'n' {
		*into = nil
		return d.literal("null")
	}
	list := []Range{}
	more, err := d.openArray("ranges")
	for more && err == nil {
		var rg Range
		m, e := d.openObject("ranges")
		for err = e; m && err == nil; {
			var k string
			if k, err = d.key(rangeNames); err != nil {
				break
			}
			switch k {
			case "type":
				err = d.optStr(k, &rg.Type)
			case "events":
				err = d.events(&rg.Events)
			default:
				err = d.skip()
			}
			if err == nil {
				if m = d.comma(); !m {
					m, err = d.moreMembers()
				}
			}
		}
		if err == nil {
			list = append(list, rg)
			more, err = d.moreElements()
		}
	}
	*into = list
	return err
}

func (d *decoder) events(into *[]Event) error {
	if d.peek() == 'n' {
		*into = nil
		return d.literal("null")
	}
	list := []Event{}
	more, err := d.openArray("events")
	for more && err == nil {
		var e Event
		m, oerr := d.openObject("events")
		for err = oerr; m && err == nil; {
			var k string
			if k, err = d.key(eventNames); err != nil {
				break
			}
			switch k {
			case "introduced":
				err = d.optStr(k, &e.Introduced)
			case "fixed":
				err = d.optStr(k, &e.Fixed)
			case "last_affected":
				err = d.optStr(k, &e.LastAffected)
			case "limit":
				err = d.optStr(k, &e.Limit)
			default:
				err = d.skip()
			}
			if err == nil {
				if m = d.comma(); !m {
					m, err = d.moreMembers()
				}
			}
		}
		if err == nil {
			list = append(list, e)
			more, err = d.moreElements()
		}
	}
	*into = list
	return err
}

// specific keeps the string "severity" and "urgency" of a free-form object, as
// Specific.UnmarshalJSON does: the last value of a key decides, and one that is not a string
// leaves the field as it was. Anything but an object is ignored.
func (d *decoder) specific(s *Specific) error {
	if d.peek() != '{' {
		return d.skip()
	}
	var sev, urg *string
	more, err := d.openObject("")
	for more && err == nil {
		var k string
		// Specific.UnmarshalJSON reads a map, whose keys match exactly.
		if k, err = d.key(nil); err != nil {
			break
		}
		var last **string
		switch k {
		case "severity":
			last = &sev
		case "urgency":
			last = &urg
		}
		switch {
		case last == nil:
			err = d.skip()
		case d.peek() != '"':
			*last = nil
			err = d.skip()
		default:
			var v string
			v, err = d.str(k)
			*last = &v
		}
		if err == nil {
			if more = d.comma(); !more {
				more, err = d.moreMembers()
			}
		}
	}
	if sev != nil {
		s.Severity = *sev
	}
	if urg != nil {
		s.Urgency = *urg
	}
	return err
}
