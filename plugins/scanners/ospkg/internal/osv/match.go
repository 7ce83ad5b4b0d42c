package osv

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// Match is an advisory affecting an installed version of the package asked about.
type Match struct {
	// Record is the advisory without its affected list: only the entry naming the package is
	// read, into Affected.
	Record   Record
	Affected Affected
	// Version is the installed version it affects.
	Version string
}

// Matches reads a JSON array of OSV records filed against one package (the advisory index's
// file for it) and returns, for each installed version, the records affecting it: the first
// affected entry naming the package (ecosystem and name exactly) whose versions include it,
// as Record.Affects decides. Withdrawn records affect nothing.
//
// It decodes only what it needs, for speed in the sandbox (see decode.go): each record's
// affected entries for other packages or releases, and every field of a record that matches
// nothing, are skipped by a structural scan that jumps from one quote or bracket to the
// next. That scan assumes well-formed JSON, which the index holds (it is built from records
// that parsed); on anything else it may read less strictly than DecodeArray but never fails
// to stop. A record whose fields that are read have the wrong shape is reported to bad and
// skipped. The matches' strings share data's memory: data must not be modified afterwards.
func Matches(data []byte, ecosystem, name string, versions []string, cmp Compare, bad func(i int, err error)) ([]Match, error) {
	d := newDecoder(data)
	d.ws()
	if d.peek() == 'n' {
		if err := d.literal("null"); err != nil {
			return nil, err
		}
		return nil, d.end()
	}
	more, err := d.openArray("records")
	var matches []Match
	var entries []Affected
	for i := 0; more && err == nil; i++ {
		start := d.pos
		var found []Match
		found, entries, err = d.matchRecord(ecosystem, name, versions, cmp, entries[:0])
		// Only a failed record gets a typeError variable: declared for every record, it would
		// be one allocation each (errors.As takes its address).
		if err != nil {
			err = d.skipIfTypeError(i, err, start, bad)
		}
		if err == nil {
			if len(found) > 0 {
				matches = append(matches, found...)
			}
			if more = d.comma(); !more {
				more, err = d.moreElements()
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return matches, d.end()
}

// skipIfTypeError skips the record that began at start when err is a typeError (well-formed
// JSON that is no OSV record), reporting it to bad, and returns nil then; any other error is
// returned as it is.
func (d *decoder) skipIfTypeError(i int, err error, start int, bad func(int, error)) error {
	var typeErr *typeError
	if !errors.As(err, &typeErr) {
		return err
	}
	d.pos = start
	if err := d.skipFast(); err != nil {
		return err
	}
	if bad != nil {
		bad(i, typeErr)
	}
	return nil
}

// span is where a value lies in the input, to be decoded once it is known to be needed.
type span struct{ start, end int }

// The record fields read from their spans once a record matches (strings are read at once), in
// recordNames' order.
const (
	fieldID = iota
	fieldModified
	fieldWithdrawn
	fieldSummary
	fieldDetails
	fieldAliases
	fieldUpstream
	fieldSeverity
	fieldAffected
	fieldReferences
	fieldDatabaseSpecific
	recordFields
)

func (d *decoder) matchRecord(ecosystem, name string, versions []string, cmp Compare, entries []Affected) ([]Match, []Affected, error) {
	var spans [recordFields]span
	var withdrawn string
	var r Record
	more, err := d.openObject("record")
	for more && err == nil {
		var key string
		// key's fast path, written out: a call costs a check in the sandbox.
		fast := false
		if d.peek() == '"' {
			if end, upper, ok := d.short(); ok && !upper && end+1 < len(d.data) && d.data[end+1] == ':' {
				key, d.pos, fast = d.src[d.pos+1:end], end+2, true
				d.ws()
			}
		}
		if !fast {
			if key, err = d.key(recordNames); err != nil {
				break
			}
		}
		switch key {
		case "withdrawn":
			err = d.optStr(key, &withdrawn)
		case "id":
			// Strings are read at once: it costs what skipping them would (their text is not
			// copied), and a matching record does not scan them twice.
			err = d.optStr(key, &r.ID)
		case "modified":
			err = d.optStr(key, &r.Modified)
		case "summary":
			err = d.optStr(key, &r.Summary)
		case "details":
			err = d.optStr(key, &r.Details)
		case "affected":
			entries, err = d.matchAffected(ecosystem, name, entries[:0])
		default:
			field := fieldOf(key)
			start := d.pos
			err = d.skipFast()
			if field >= 0 {
				spans[field] = span{start, d.pos}
			}
		}
		if err == nil {
			if more = d.comma(); !more {
				more, err = d.moreMembers()
			}
		}
	}
	if err != nil || withdrawn != "" || len(entries) == 0 {
		return nil, entries, err
	}
	var matches []Match
	for _, v := range versions {
		for i := range entries {
			if entries[i].Includes(v, cmp) {
				matches = append(matches, Match{Affected: entries[i], Version: v})
				break
			}
		}
	}
	if len(matches) == 0 {
		return nil, entries, nil
	}
	if err := d.decodeSpans(&r, &spans); err != nil {
		return nil, entries, err
	}
	r.Withdrawn = withdrawn
	for i := range matches {
		matches[i].Record = r
	}
	return matches, entries, nil
}

func fieldOf(key string) int {
	switch key {
	case "aliases":
		return fieldAliases
	case "upstream":
		return fieldUpstream
	case "severity":
		return fieldSeverity
	case "references":
		return fieldReferences
	case "database_specific":
		return fieldDatabaseSpecific
	}
	return -1
}

// decodeSpans decodes the record fields found by matchRecord, strictly.
func (d *decoder) decodeSpans(r *Record, spans *[recordFields]span) error {
	for field, sp := range spans {
		if sp.end == 0 {
			continue
		}
		sub := &decoder{data: d.data, src: d.src, pos: sp.start, depth: d.depth}
		key := recordNames[field]
		var err error
		switch field {
		case fieldAliases:
			err = sub.strings(key, &r.Aliases)
		case fieldUpstream:
			err = sub.strings(key, &r.Upstream)
		case fieldSeverity:
			err = sub.severities(&r.Severity)
		case fieldReferences:
			err = sub.references(&r.References)
		case fieldDatabaseSpecific:
			err = sub.specific(&r.DatabaseSpecific)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// The affected entry fields read once the entry names the package, in affectedNames' order.
const (
	affPackage = iota
	affSeverity
	affVersions
	affEcosystemSpecific
	affDatabaseSpecific
	affRanges
	affectedFields
)

// matchAffected reads an affected list, keeping the entries that name the package; the
// others are skipped past their package.
func (d *decoder) matchAffected(ecosystem, name string, entries []Affected) ([]Affected, error) {
	more, err := d.openArray("affected")
	for more && err == nil {
		var spans [affectedFields]span
		var pkg Package
		m, e := d.openObject("affected")
		for err = e; m && err == nil; {
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
				if k, err = d.key(affectedNames); err != nil {
					break
				}
			}
			if k == "package" {
				err = d.pkg(&pkg)
			} else {
				field := -1
				switch k {
				case "severity":
					field = affSeverity
				case "versions":
					field = affVersions
				case "ecosystem_specific":
					field = affEcosystemSpecific
				case "database_specific":
					field = affDatabaseSpecific
				case "ranges":
					field = affRanges
				}
				start := d.pos
				err = d.skipFast()
				if field >= 0 {
					spans[field] = span{start, d.pos}
				}
			}
			if err == nil {
				if m = d.comma(); !m {
					m, err = d.moreMembers()
				}
			}
		}
		if err == nil && pkg.Ecosystem == ecosystem && pkg.Name == name {
			a := Affected{Package: pkg}
			err = d.decodeAffectedSpans(&a, &spans)
			entries = append(entries, a)
		}
		if err == nil {
			more, err = d.moreElements()
		}
	}
	return entries, err
}

func (d *decoder) decodeAffectedSpans(a *Affected, spans *[affectedFields]span) error {
	for field, sp := range spans {
		if sp.end == 0 {
			continue
		}
		sub := &decoder{data: d.data, src: d.src, pos: sp.start, depth: d.depth}
		var err error
		switch field {
		case affSeverity:
			err = sub.severities(&a.Severity)
		case affVersions:
			err = sub.strings("versions", &a.Versions)
		case affEcosystemSpecific:
			err = sub.specific(&a.EcosystemSpecific)
		case affDatabaseSpecific:
			err = sub.specific(&a.DatabaseSpecific)
		case affRanges:
			err = sub.ranges(&a.Ranges)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

const (
	openBraces    = 0x7b7b7b7b7b7b7b7b
	closeBraces   = 0x7d7d7d7d7d7d7d7d
	openBrackets  = 0x5b5b5b5b5b5b5b5b
	closeBrackets = 0x5d5d5d5d5d5d5d5d
)

// skipFast passes over a value by its structure alone: from bracket to quote to bracket,
// eight bytes per step, and within a string from quote to backslash to quote. It checks
// only that brackets balance and strings end; scalars are read strictly (they are short).
func (d *decoder) skipFast() error {
	d.ws()
	switch d.peek() {
	case '"':
		if end, _, ok := d.short(); ok {
			d.pos = end + 1
			return nil
		}
	case '{', '[':
	default:
		return d.skip()
	}
	b := d.data
	depth := 0
	inString := false
	for i := d.pos; ; {
		if i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			var stop uint64
			if inString {
				stop = hasZero(w^quotes) | hasZero(w^backslashes)
			} else {
				stop = hasZero(w^quotes) | hasZero(w^openBraces) | hasZero(w^closeBraces) |
					hasZero(w^openBrackets) | hasZero(w^closeBrackets)
			}
			if stop == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(stop) >> 3
		}
		if i >= len(b) {
			d.pos = len(b)
			return d.syntax("the end of a value")
		}
		c := b[i]
		i++
		switch {
		case inString:
			switch c {
			case '"':
				inString = false
				if depth == 0 {
					d.pos = i
					return nil
				}
			case '\\':
				i++ // the escaped character, even a quote (a \uXXXX's digits are no quote)
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				d.pos = i
				return nil
			}
		}
	}
}
