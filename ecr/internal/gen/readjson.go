package main

import (
	"fmt"
	"strings"
)

// The body readers: for every structure an operation's input reaches, a
// method that reads it straight from the request body, checking the
// model's constraints as it goes (the helpers, in ecr/jsonread.go, apply
// the validator's own checks), so that a valid input is neither built as a
// document of maps nor read twice. A reader takes only what it is sure the
// document path would accept and read the same way: a member it does not
// declare, one given twice, a null, a value of another type or breaking a
// constraint, a shape it does not read (map, double, timestamp, blob)…
// make it report false, and the dispatcher then reads the body as before,
// which decides and words the answer.
//
// For every input structure it also writes the accessors authorization
// reads the input's members through.

func genReaders(m model, p func(string, ...any)) {
	inputs := map[string]bool{}
	for _, o := range m.Operations {
		if o.Input != nil {
			inputs[o.Input.Shape] = true
		}
	}
	reached := map[string]bool{}
	var reach func(string)
	reach = func(name string) {
		s := m.Shapes[name]
		switch s.Type {
		case "structure":
			if reached[name] {
				return
			}
			reached[name] = true
			for _, mem := range s.Members {
				reach(mem.Shape)
			}
		case "list":
			reach(s.Member.Shape)
		}
	}
	for name := range inputs {
		reach(name)
	}

	p("// readJSON methods read each input structure from a body, checking it (see jsonread.go).\n\n")
	for _, name := range sortedKeys(reached) {
		s := m.Shapes[name]
		members := sortedKeys(s.Members)
		if len(members) > 64 {
			panic(name + " has more than 64 members")
		}
		p("var spec%s = shapes[%q]\n\n", name, name)
		p("func (x *%s) readJSON(r *bodyReader) bool {\n", name)
		if len(members) == 0 {
			p("\treturn r.emptyObject()\n}\n\n")
			continue
		}
		var cases strings.Builder
		for i, mem := range members {
			fmt.Fprintf(&cases, "\t\tcase %q:\n", mem)
			fmt.Fprintf(&cases, "\t\t\tif seen&(1<<%d) != 0 {\n\t\t\t\treturn false\n\t\t\t}\n\t\t\tseen |= 1 << %d\n", i, i)
			cases.WriteString(indent(readInto(m, s.Members[mem].Shape, fmt.Sprintf("spec.members[%d]", i), "x."+exported(mem), true), "\t\t\t"))
		}
		if strings.Contains(cases.String(), "spec.") {
			p("\tspec := spec%s\n", name)
		}
		p("\tvar seen uint64\n")
		p("\tif !r.open('{') {\n\t\treturn false\n\t}\n")
		p("\tfor more := !r.close('}'); more; more = r.next('}') {\n")
		p("\t\tkey, ok := r.key()\n\t\tif !ok {\n\t\t\treturn false\n\t\t}\n")
		p("\t\tswitch string(key) {\n")
		p("%s", cases.String())
		p("\t\tdefault:\n\t\t\treturn false\n\t\t}\n\t}\n")
		var required uint64
		for _, req := range s.Required {
			for i, mem := range members {
				if mem == req {
					required |= 1 << i
				}
			}
		}
		if required == 0 {
			p("\treturn r.ok()\n}\n\n")
		} else {
			p("\treturn r.ok() && seen&%#x == %#x\n}\n\n", required, required)
		}
	}

	p("// The members authorization reads, from an input read by its readJSON.\n\n")
	for _, name := range sortedKeys(inputs) {
		s := m.Shapes[name]
		var strs, lists, tags []string
		for _, mem := range sortedKeys(s.Members) {
			t := m.Shapes[s.Members[mem].Shape]
			switch {
			case t.Type == "string":
				strs = append(strs, mem)
			case t.Type == "list" && m.Shapes[t.Member.Shape].Type == "string":
				lists = append(lists, mem)
			case t.Type == "list" && t.Member.Shape == "Tag":
				tags = append(tags, mem)
			}
		}
		accessor := func(method, result string, names []string, zero string) {
			p("func (x *%s) %s(name string) %s {\n", name, method, result)
			if len(names) > 0 {
				p("\tswitch name {\n")
				for _, mem := range names {
					p("\tcase %q:\n\t\treturn x.%s\n", mem, exported(mem))
				}
				p("\t}\n")
			}
			p("\treturn %s\n}\n\n", zero)
		}
		accessor("stringMember", "string", strs, `""`)
		accessor("stringsMember", "[]string", lists, "nil")
		accessor("tagsMember", "[]Tag", tags, "nil")
	}

	p("// inputReaders reads each operation's input from a body.\nvar inputReaders = map[string]func(*bodyReader) (inputMembers, bool){\n")
	for _, name := range sortedKeys(inputs) {
		p("\t%q: readInputAs[%s],\n", name, name)
	}
	p("}\n\n")
}

// readInto is the code that reads a value of shapeName into target (a
// pointer for an optional scalar when ptr), with spec the expression of
// the shape's *shapeSpec, returning false from the method when it cannot.
func readInto(m model, shapeName, spec, target string, ptr bool) string {
	s := m.Shapes[shapeName]
	fail := "if !ok {\n\treturn false\n}\n"
	set := func(expr string) string {
		if ptr {
			return target + " = &" + expr + "\n"
		}
		return target + " = " + expr + "\n"
	}
	switch s.Type {
	case "string":
		return "v, ok := r.str(" + spec + ")\n" + fail + target + " = v\n"
	case "boolean":
		return "v, ok := r.boolean()\n" + fail + set("v")
	case "integer":
		return "n, ok := r.integer(" + spec + ", 32)\n" + fail + "v := int32(n)\n" + set("v")
	case "long":
		return "v, ok := r.integer(" + spec + ", 64)\n" + fail + set("v")
	case "structure":
		if ptr {
			return "v := new(" + shapeName + ")\nif !v.readJSON(r) {\n\treturn false\n}\n" + target + " = v\n"
		}
		return "if !(&" + target + ").readJSON(r) {\n\treturn false\n}\n"
	case "list":
		if m.Shapes[s.Member.Shape].Type == "list" {
			panic(shapeName + ": a list of lists (the readers name their list l)")
		}
		elem := strings.TrimPrefix(goType(m, s.Member.Shape), "*")
		item := readInto(m, s.Member.Shape, spec+".member", "l[len(l)-1]", false)
		return "if !r.open('[') {\n\treturn false\n}\nl := []" + elem + "{}\n" +
			"for more := !r.close(']'); more; more = r.next(']') {\n\tl = append(l, " + zeroOf(m, s.Member.Shape) + ")\n" + indent(item, "\t") + "}\n" +
			"if !r.ok() || !" + spec + ".lengthOK(len(l)) {\n\treturn false\n}\n" + target + " = l\n"
	}
	// map, double, timestamp, blob: the document path reads them.
	return "return false\n"
}

// zeroOf is the zero value of a list element of the shape.
func zeroOf(m model, shapeName string) string {
	switch m.Shapes[shapeName].Type {
	case "structure":
		return shapeName + "{}"
	case "string":
		return `""`
	}
	return "*new(" + strings.TrimPrefix(goType(m, shapeName), "*") + ")"
}
