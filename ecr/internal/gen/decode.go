package main

import "strings"

// The document decoders: for every structure, a method that fills it from
// the input document the dispatcher decoded and validated (map[string]any,
// numbers as json.Number), so that the body is not parsed a second time by
// encoding/json. A decoder takes only what it is sure encoding/json would
// read the same way and reports false on anything else (a null inside a
// list or map, a timestamp written as a string, a number out of range, a
// streamed blob…); the dispatcher then decodes the body with encoding/json,
// which decides. Helpers are in ecr/jsondec.go.

func genDecoders(m model, p func(string, ...any)) {
	p("// decodeDoc methods fill each structure from a validated document (see jsondec.go).\n\n")
	for _, name := range sortedKeys(m.Shapes) {
		s := m.Shapes[name]
		if s.Type != "structure" {
			continue
		}
		p("func (x *%s) decodeDoc(doc map[string]any) bool {\n", name)
		for _, mem := range sortedKeys(s.Members) {
			p("\tif v := doc[%q]; v != nil {\n", mem)
			p("%s", indent(decodeInto(m, s.Members[mem].Shape, "x."+exported(mem), true), "\t\t"))
			p("\t}\n")
		}
		p("\treturn true\n}\n\n")
	}
}

// decodeInto is the code that sets target from v (an any), returning false
// from the method when it cannot; optional members are pointers when ptr.
func decodeInto(m model, shapeName, target string, ptr bool) string {
	s := m.Shapes[shapeName]
	set := func(expr string) string {
		if ptr {
			return target + " = &" + expr + "\n"
		}
		return target + " = " + expr + "\n"
	}
	fail := "if !ok {\n\treturn false\n}\n"
	switch s.Type {
	case "string":
		return "s, ok := v.(string)\n" + fail + target + " = s\n"
	case "boolean":
		return "b, ok := v.(bool)\n" + fail + set("b")
	case "integer":
		return "n, ok := docInt(v, 32)\n" + fail + "i := int32(n)\n" + set("i")
	case "long":
		return "n, ok := docInt(v, 64)\n" + fail + set("n")
	case "double":
		return "f, ok := docFloat(v)\n" + fail + set("f")
	case "timestamp":
		return "t, ok := docTime(v)\n" + fail + set("t")
	case "blob":
		return "b, ok := docBlob(v)\n" + fail + target + " = b\n"
	case "structure":
		if ptr {
			return "o, ok := v.(map[string]any)\n" + fail + target + " = new(" + shapeName + ")\nif !" + target + ".decodeDoc(o) {\n\treturn false\n}\n"
		}
		return "o, ok := v.(map[string]any)\n" + fail + "if !(&" + target + ").decodeDoc(o) {\n\treturn false\n}\n"
	case "list":
		elem := strings.TrimPrefix(goType(m, s.Member.Shape), "*")
		return "l, ok := v.([]any)\n" + fail + target + " = make([]" + elem + ", len(l))\nfor i, v := range l {\n" +
			"\tif v == nil {\n\t\treturn false\n\t}\n" + indent(decodeInto(m, s.Member.Shape, target+"[i]", false), "\t") + "}\n"
	case "map":
		val := strings.TrimPrefix(goType(m, s.Value.Shape), "*")
		return "o, ok := v.(map[string]any)\n" + fail + target + " = make(map[string]" + val + ", len(o))\nfor k, v := range o {\n" +
			"\tif v == nil {\n\t\treturn false\n\t}\n\tvar e " + val + "\n" + indent(decodeInto(m, s.Value.Shape, "e", false), "\t") + "\t" + target + "[k] = e\n}\n"
	}
	panic("unknown shape type " + s.Type)
}
