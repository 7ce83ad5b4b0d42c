package identity

import (
	"errors"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// lineError is a refusal at a line of the config file; Load adds the file.
type lineError struct {
	line   int
	reason string
}

func (e *lineError) Error() string { return e.reason }

// lineOf is the line a node starts on (0 when unknown).
func lineOf(n ast.Node) int {
	if tok := n.GetToken(); tok != nil && tok.Position != nil {
		return tok.Position.Line
	}
	return 0
}

// decode reads YAML into v, refusing fields v does not have, and turns the
// parser's errors into a lineError.
func decode(node ast.Node, v any) error {
	return asLineError(yaml.NodeToValue(node, v, yaml.Strict()))
}

func asLineError(err error) error {
	var le *lineError
	var ye yaml.Error
	switch {
	case err == nil, errors.As(err, &le):
		return err
	case errors.As(err, &ye):
		line := 0
		if tok := ye.GetToken(); tok != nil && tok.Position != nil {
			line = tok.Position.Line
		}
		return &lineError{line: line, reason: ye.GetMessage()}
	}
	return &lineError{reason: err.Error()}
}

// scalar is a YAML scalar as written, with its line. The text is kept as
// written because YAML would read an account id such as 000000000000 as the
// number 0.
type scalar struct {
	text string
	line int
}

func (s *scalar) UnmarshalYAML(n ast.Node) error {
	s.line = lineOf(n)
	switch n := n.(type) {
	case *ast.StringNode:
		s.text = n.Value
	case *ast.LiteralNode:
		s.text = n.Value.Value
	case *ast.NullNode:
		s.text = ""
	case *ast.TagNode: // !!str 000000000000
		return s.UnmarshalYAML(n.Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		s.text = n.GetToken().Value
	default:
		return &lineError{line: s.line, reason: "expected a string, found " + kindOf(n)}
	}
	return nil
}

func kindOf(n ast.Node) string {
	switch n.Type() {
	case ast.MappingType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	}
	return strings.ToLower(n.Type().String())
}

// tags is a mapping of tag keys to values, in the order written, each with
// its line (YAML's own duplicate check would not see keys that differ only
// in case, which IAM refuses).
type tags []tag

type tag struct {
	key, value string
	line       int
}

func (t *tags) UnmarshalYAML(n ast.Node) error {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		if _, null := n.(*ast.NullNode); null {
			return nil
		}
		return &lineError{line: lineOf(n), reason: "tags must be a mapping of keys to values, found " + kindOf(n)}
	}
	for it := m.MapRange(); it.Next(); {
		var k, v scalar
		if err := k.UnmarshalYAML(it.Key()); err != nil {
			return err
		}
		if err := v.UnmarshalYAML(it.Value()); err != nil {
			return err
		}
		*t = append(*t, tag{key: k.text, value: v.text, line: k.line})
	}
	return nil
}

// policySource is one identity policy as the config gives it: the JSON
// text itself (a block scalar, or any string), or a file, as "file:PATH"
// or {file: PATH}, relative to the config file.
type policySource struct {
	text string
	file string
	line int
}

func (p *policySource) UnmarshalYAML(n ast.Node) error {
	p.line = lineOf(n)
	if m, ok := n.(*ast.MappingNode); ok {
		if len(m.Values) != 1 {
			return p.notASource()
		}
		if k, ok := m.Values[0].Key.(*ast.StringNode); !ok || k.Value != "file" {
			return p.notASource()
		}
		var f scalar
		if err := f.UnmarshalYAML(m.Values[0].Value); err != nil {
			return err
		}
		p.file = f.text
		if p.file == "" {
			return &lineError{line: p.line, reason: "file: needs the path of a policy document"}
		}
		return nil
	}
	var s scalar
	if err := s.UnmarshalYAML(n); err != nil {
		return p.notASource()
	}
	if file, ok := strings.CutPrefix(s.text, "file:"); ok {
		p.file = strings.TrimSpace(file)
		if p.file == "" {
			return &lineError{line: p.line, reason: "file: needs the path of a policy document"}
		}
		return nil
	}
	p.text = s.text
	return nil
}

func (p *policySource) notASource() error {
	return &lineError{line: p.line, reason: "a policy is its JSON text (as a string or a block scalar: - |) or file: PATH " +
		"(relative to the config file); a policy written as YAML is not read"}
}
