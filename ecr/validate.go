package ecr

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// violation is a request that breaks the model: either its JSON has the wrong
// shape (serialization) or a value breaks a constraint.
type violation struct {
	serialization bool
	path          string
	value         string
	constraint    string // AWS's wording after "failed to satisfy constraint:"
	inside        bool   // path names something inside the value checked (see under)
}

// validate checks a decoded JSON document (numbers as json.Number) against the
// named shape and returns the first violation, in member order, or nil.
func validate(shapeName string, v any) *violation {
	x, _ := validateDoc(shapes[shapeName], v)
	return x
}

// validateDoc is validate that also reports, for a valid document, whether
// any object in it has members its shape does not declare: what prune would
// delete. The walk that validates sees it, so prune need not walk a
// document that has none (nearly every request).
func validateDoc(s *shapeSpec, v any) (x *violation, unknown bool) {
	var c checker
	x = c.check(s, v)
	return x, c.unknown
}

// checker is one validation's walk.
type checker struct {
	unknown bool // an object had a member its shape does not declare
}

// under words a violation found inside a member or an element: its path,
// relative to the value that was checked, gets the member's name (or the
// element's index, from 1) in front. Paths are built only for a violation,
// on the way out, so that a valid request builds none.
func (x *violation) under(name string) *violation {
	if x.inside {
		x.path = name + "." + x.path
	} else {
		x.path, x.inside = name, true
	}
	return x
}

// check checks v against s; the violation's path is relative to v.
func (c *checker) check(s *shapeSpec, v any) *violation {
	if v == nil {
		return nil // null is absent
	}
	bad := func(constraint string) *violation {
		return &violation{value: fmt.Sprint(v), constraint: constraint}
	}
	wrongType := func(want string) *violation {
		return &violation{serialization: true, constraint: "expected " + want}
	}
	switch s.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			return wrongType("an object")
		}
		for _, r := range s.Required {
			if obj[r] == nil {
				return &violation{path: r, inside: true, value: "null", constraint: "Member must not be null"}
			}
		}
		declared := 0 // members of obj the shape declares
		for i, m := range s.Members {
			e, ok := obj[m.Name]
			if !ok {
				continue
			}
			if declared++; e == nil {
				continue
			}
			if x := c.check(s.members[i], e); x != nil {
				return x.under(m.Name)
			}
		}
		if declared < len(obj) {
			c.unknown = true
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return wrongType("a string")
		}
		if c := s.stringConstraint(str); c != "" {
			return bad(c)
		}
	case "integer", "long", "double":
		num, ok := v.(json.Number)
		if !ok {
			return wrongType("a number")
		}
		f, err := num.Float64()
		if err != nil {
			return wrongType("a number")
		}
		if s.Type != "double" {
			if _, err := num.Int64(); err != nil {
				return wrongType("an integer")
			}
		}
		if c := s.valueConstraint(f); c != "" {
			return bad(c)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return wrongType("a boolean")
		}
	case "timestamp":
		switch v.(type) {
		case json.Number, string:
		default:
			return wrongType("a timestamp")
		}
	case "blob":
		// The decoded length, estimated without decoding (parts carry up to
		// 20 MiB); the typed decode that follows rejects characters outside
		// the alphabet. A streamed blob was measured as it arrived, the same way.
		var chars, n int64
		switch b := v.(type) {
		case string:
			chars = int64(len(b))
			n = int64(base64.StdEncoding.DecodedLen(len(b)) - strings.Count(b[max(0, len(b)-2):], "="))
		case *streamedBlob:
			chars, n = b.chars, b.estimate
		default:
			return wrongType("a base64 string")
		}
		if chars%4 != 0 {
			return wrongType("a base64 string")
		}
		if s.Min != nil && float64(n) < *s.Min {
			return &violation{value: "blob", constraint: fmt.Sprintf("Member must have length greater than or equal to %v", *s.Min)}
		}
		if s.Max != nil && float64(n) > *s.Max {
			return &violation{value: "blob", constraint: fmt.Sprintf("Member must have length less than or equal to %v", *s.Max)}
		}
	case "list":
		arr, ok := v.([]any)
		if !ok {
			return wrongType("a list")
		}
		if c := s.lengthConstraint(len(arr)); c != "" {
			return bad(c)
		}
		for i, e := range arr {
			if x := c.check(s.member, e); x != nil {
				return x.under(strconv.Itoa(i + 1))
			}
		}
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			return wrongType("a map")
		}
		if c := s.lengthConstraint(len(obj)); c != "" {
			return bad(c)
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys) // report the same violation every time
		for _, k := range keys {
			e := obj[k]
			if x := c.check(s.key, k); x != nil {
				return x
			}
			if x := c.check(s.value, e); x != nil {
				return x.under(k)
			}
		}
	}
	return nil
}

// The checks of one value against its shape's constraints, in AWS's words
// ("" when it satisfies them): the validator words a violation with them,
// and the body readers (jsonread.go) take a value only when they are "".

// lengthConstraint checks a string's length in characters, or a list's or
// map's in entries.
func (s *shapeSpec) lengthConstraint(n int) string {
	if s.Min != nil && float64(n) < *s.Min {
		return fmt.Sprintf("Member must have length greater than or equal to %v", *s.Min)
	}
	if s.Max != nil && float64(n) > *s.Max {
		return fmt.Sprintf("Member must have length less than or equal to %v", *s.Max)
	}
	return ""
}

func (s *shapeSpec) stringConstraint(str string) string {
	// A string of n bytes has from ⌈n/4⌉ to n characters: they are counted
	// only when that is not enough to decide (a manifest is up to 4 MiB).
	if n := len(str); s.Min != nil && float64((n+3)/4) < *s.Min || s.Max != nil && float64(n) > *s.Max {
		if c := s.lengthConstraint(utf8.RuneCountInString(str)); c != "" {
			return c
		}
	}
	if s.Pattern != "" && !s.matches(str) {
		return "Member must satisfy regular expression pattern: " + s.Pattern
	}
	if len(s.Enum) > 0 && !contains(s.Enum, str) {
		return "Member must satisfy enum value set: [" + strings.Join(s.Enum, ", ") + "]"
	}
	return ""
}

// valueConstraint checks a number's value.
func (s *shapeSpec) valueConstraint(f float64) string {
	if s.Min != nil && f < *s.Min {
		return fmt.Sprintf("Member must have value greater than or equal to %v", *s.Min)
	}
	if s.Max != nil && f > *s.Max {
		return fmt.Sprintf("Member must have value less than or equal to %v", *s.Max)
	}
	return ""
}

// prune deletes from a validated document, in place, every object member
// its shape does not declare, at any depth, and reports whether there were
// any. (Unknown members are ignored, as AWS ignores them; only their case
// insensitive matching by encoding/json made them dangerous.)
func prune(s *shapeSpec, v any) bool {
	pruned := false
	switch s.Type {
	case "structure":
		obj, _ := v.(map[string]any)
		for k, e := range obj {
			i := slices.IndexFunc(s.Members, func(m memberSpec) bool { return m.Name == k })
			if i < 0 {
				delete(obj, k)
				pruned = true
				continue
			}
			pruned = prune(s.members[i], e) || pruned
		}
	case "list":
		arr, _ := v.([]any)
		for _, e := range arr {
			pruned = prune(s.member, e) || pruned
		}
	case "map":
		obj, _ := v.(map[string]any)
		for _, e := range obj {
			pruned = prune(s.value, e) || pruned
		}
	}
	return pruned
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
