package main

import (
	"fmt"
	"strings"
)

// The JSON encoders: for every structure, a method that appends it as
// encoding/json's Marshal would (members in field order, omitempty and
// omitzero as tagged, map keys sorted, strings HTML-escaped), without
// reflection. The helpers they call (the jsonw type) are in ecr/jsonenc.go.

// genEncoders renders encodeJSON for every structure of m.
func genEncoders(m model, p func(string, ...any)) {
	p("// encodeJSON methods append each structure as encoding/json does (see jsonenc.go).\n\n")
	p("// newStructures returns a zero value of every structure, for the tests that\n// compare the generated encoders with encoding/json.\nfunc newStructures() []encoder {\n\treturn []encoder{\n")
	for _, name := range sortedKeys(m.Shapes) {
		if m.Shapes[name].Type == "structure" {
			p("\t\tnew(%s),\n", name)
		}
	}
	p("\t}\n}\n\n")
	for _, name := range sortedKeys(m.Shapes) {
		s := m.Shapes[name]
		if s.Type != "structure" {
			continue
		}
		p("func (x *%s) encodeJSON(w *jsonw) {\n", name)
		if len(s.Members) == 0 {
			p("\tw.b = append(w.b, \"{}\"...)\n}\n\n")
			continue
		}
		p("\tc := byte('{')\n")
		for _, mem := range sortedKeys(s.Members) {
			field := "x." + exported(mem)
			key := fmt.Sprintf("%q", `"`+mem+`":`)
			t := m.Shapes[s.Members[mem].Shape].Type
			var cond string
			switch t {
			case "string":
				cond = field + ` != ""`
			case "blob":
				cond = "len(" + field + ") > 0"
			default: // pointers, and lists and maps (omitzero: nil)
				cond = field + " != nil"
			}
			p("\tif %s {\n\t\tw.b = append(append(w.b, c), %s...)\n\t\tc = ','\n", cond, key)
			p("%s", indent(encodeValue(m, s.Members[mem].Shape, field, true), "\t\t"))
			p("\t}\n")
		}
		p("\tif c == '{' {\n\t\tw.b = append(w.b, '{')\n\t}\n\tw.b = append(w.b, '}')\n}\n\n")
	}
}

// encodeValue is the code that appends expr, a value of the given shape:
// through a pointer when ptr (optional members), else a value (list elements,
// map values).
func encodeValue(m model, shapeName, expr string, ptr bool) string {
	s := m.Shapes[shapeName]
	deref := expr
	if ptr && s.Type != "string" && s.Type != "blob" && s.Type != "list" && s.Type != "map" && s.Type != "structure" {
		deref = "*" + expr
	}
	switch s.Type {
	case "structure":
		if ptr {
			return expr + ".encodeJSON(w)\n"
		}
		return "(&" + expr + ").encodeJSON(w)\n"
	case "string":
		return "w.str(" + expr + ")\n"
	case "integer", "long":
		return "w.int(int64(" + deref + "))\n"
	case "boolean":
		return "w.bool(" + deref + ")\n"
	case "double":
		return "w.float(" + deref + ")\n"
	case "timestamp":
		return "w.time(" + deref + ")\n"
	case "blob":
		return "w.blob(" + expr + ")\n"
	case "list":
		elem := encodeValue(m, s.Member.Shape, "e", false)
		if m.Shapes[s.Member.Shape].Type == "structure" {
			elem = "(&" + expr + "[i]).encodeJSON(w)\n" // not copied
		} else {
			elem = "e := " + expr + "[i]\n" + elem
		}
		return "w.b = append(w.b, '[')\nfor i := range " + expr + " {\n\tif i > 0 {\n\t\tw.b = append(w.b, ',')\n\t}\n" +
			indent(elem, "\t") + "}\nw.b = append(w.b, ']')\n"
	case "map":
		val := encodeValue(m, s.Value.Shape, expr+"[k]", false)
		if vs := m.Shapes[s.Value.Shape]; vs.Type == "structure" {
			val = "e := " + expr + "[k]\n" + encodeValue(m, s.Value.Shape, "e", false)
		}
		return "w.b = append(w.b, '{')\nfor i, k := range sortedKeys(" + expr + ") {\n\tif i > 0 {\n\t\tw.b = append(w.b, ',')\n\t}\n\tw.str(k)\n\tw.b = append(w.b, ':')\n" +
			indent(val, "\t") + "}\nw.b = append(w.b, '}')\n"
	}
	panic("unknown shape type " + s.Type)
}

func indent(code, by string) string {
	lines := strings.SplitAfter(code, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + l
		}
	}
	return strings.Join(lines, "")
}
