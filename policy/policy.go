// Package policy parses and validates IAM policy documents: repository
// policies, the registry policy and identity policies. Validation follows
// IAM's grammar; compilation to Rego and evaluation arrive with the IAM work.
package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Kind says where a policy is attached, which changes what is allowed in it.
type Kind int

const (
	// Repository policies are resource policies: a Principal is required and
	// the resource is implied, so Resource must not appear.
	Repository Kind = iota
	// Registry policies are resource policies with explicit Resources.
	Registry
	// Identity policies are attached to users and roles: no Principal.
	Identity
)

// Document is a parsed policy.
type Document struct {
	Version   string
	Statement []Statement
}

// Statement is one statement; single values are normalized to lists.
type Statement struct {
	Sid          string
	Effect       string
	Principal    map[string][]string // "*" is {"AWS": ["*"]}
	NotPrincipal map[string][]string
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Condition    map[string]map[string][]string
}

// Error is a policy that does not follow the grammar.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

func invalid(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Parse reads and validates a policy of the given kind. Elements are checked
// in the order they appear in the document (and in each statement and
// condition block), so a document with several problems always reports the
// first one.
func Parse(text string, kind Kind) (*Document, error) {
	var whole json.RawMessage
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&whole); err != nil {
		return nil, invalid("policy is not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, invalid("trailing data after the policy document")
	}
	members, err := objectMembers(whole)
	if err != nil {
		return nil, invalid("policy is not a JSON object: %v", err)
	}
	doc := &Document{}
	for _, m := range members {
		k, v := m.key, m.value
		switch k {
		case "Version":
			if err := json.Unmarshal(v, &doc.Version); err != nil || (doc.Version != "2012-10-17" && doc.Version != "2008-10-17") {
				return nil, invalid("Version must be 2012-10-17 or 2008-10-17")
			}
		case "Id":
			var id string
			if json.Unmarshal(v, &id) != nil {
				return nil, invalid("Id must be a string")
			}
		case "Statement":
			stmts, err := oneOrMany[json.RawMessage](v)
			if err != nil || len(stmts) == 0 {
				return nil, invalid("Statement must be a statement or a non-empty list of statements")
			}
			for i, s := range stmts {
				fields, err := objectMembers(s)
				if err != nil {
					return nil, invalid("Statement must be a statement or a non-empty list of statements")
				}
				st, err := parseStatement(fields, kind)
				if err != nil {
					return nil, invalid("Statement %d: %v", i+1, err)
				}
				doc.Statement = append(doc.Statement, st)
			}
		default:
			return nil, invalid("unknown policy element %q", k)
		}
	}
	if len(doc.Statement) == 0 {
		return nil, invalid("missing Statement")
	}
	return doc, nil
}

// member is one key and its raw value in a JSON object.
type member struct {
	key   string
	value json.RawMessage
}

// objectMembers returns a JSON object's members in the order they appear.
// A key that appears more than once keeps its first position and its last
// value, as decoding into a map would. null reads as an empty object, as it
// does when decoding into a map.
func objectMembers(v json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not an object")
	}
	var out []member
	at := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key is not a string")
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		if i, seen := at[key]; seen {
			out[i].value = value
			continue
		}
		at[key] = len(out)
		out = append(out, member{key, value})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

// oneOrMany decodes a JSON value that may be a single T or a list of T.
func oneOrMany[T any](v json.RawMessage) ([]T, error) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '[' {
		var list []T
		err := json.Unmarshal(v, &list)
		return list, err
	}
	var one T
	if err := json.Unmarshal(v, &one); err != nil {
		return nil, err
	}
	return []T{one}, nil
}

func strings1(v json.RawMessage, what string) ([]string, error) {
	list, err := oneOrMany[string](v)
	if err != nil || len(list) == 0 {
		return nil, fmt.Errorf("%s must be a string or a non-empty list of strings", what)
	}
	for _, s := range list {
		if s == "" {
			return nil, fmt.Errorf("%s must not contain empty strings", what)
		}
	}
	return list, nil
}

func parsePrincipal(v json.RawMessage) (map[string][]string, error) {
	var star string
	if json.Unmarshal(v, &star) == nil {
		if star != "*" {
			return nil, fmt.Errorf(`Principal must be "*" or an object`)
		}
		return map[string][]string{"AWS": {"*"}}, nil
	}
	obj, err := objectMembers(v)
	if err != nil || len(obj) == 0 {
		return nil, fmt.Errorf("Principal must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::123456789012:root\"}")
	}
	out := map[string][]string{}
	for _, m := range obj {
		k, raw := m.key, m.value
		switch k {
		case "AWS", "Service", "Federated", "CanonicalUser":
		default:
			return nil, fmt.Errorf("unknown principal type %q", k)
		}
		vals, err := strings1(raw, "Principal."+k)
		if err != nil {
			return nil, err
		}
		if k == "AWS" {
			for _, p := range vals {
				if !validAWSPrincipal(p) {
					return nil, fmt.Errorf("invalid AWS principal %q", p)
				}
			}
		}
		out[k] = vals
	}
	return out, nil
}

func validAWSPrincipal(p string) bool {
	if p == "*" {
		return true
	}
	if len(p) == 12 && strings.Trim(p, "0123456789") == "" {
		return true
	}
	return strings.HasPrefix(p, "arn:aws:iam::") || strings.HasPrefix(p, "arn:aws:sts::")
}

func validAction(a string) bool {
	if a == "*" {
		return true
	}
	svc, name, ok := strings.Cut(a, ":")
	return ok && svc != "" && name != "" && !strings.ContainsAny(a, " \t")
}

func parseStatement(fields []member, kind Kind) (Statement, error) {
	var st Statement
	for _, m := range fields {
		k, v := m.key, m.value
		var err error
		switch k {
		case "Sid":
			if json.Unmarshal(v, &st.Sid) != nil {
				return st, fmt.Errorf("Sid must be a string")
			}
		case "Effect":
			if json.Unmarshal(v, &st.Effect) != nil || (st.Effect != "Allow" && st.Effect != "Deny") {
				return st, fmt.Errorf("Effect must be Allow or Deny")
			}
		case "Principal":
			st.Principal, err = parsePrincipal(v)
		case "NotPrincipal":
			st.NotPrincipal, err = parsePrincipal(v)
		case "Action":
			st.Action, err = strings1(v, "Action")
		case "NotAction":
			st.NotAction, err = strings1(v, "NotAction")
		case "Resource":
			st.Resource, err = strings1(v, "Resource")
		case "NotResource":
			st.NotResource, err = strings1(v, "NotResource")
		case "Condition":
			st.Condition, err = parseCondition(v)
		default:
			return st, fmt.Errorf("unknown statement element %q", k)
		}
		if err != nil {
			return st, err
		}
	}
	if st.Effect == "" {
		return st, fmt.Errorf("missing Effect")
	}
	if (st.Action == nil) == (st.NotAction == nil) {
		return st, fmt.Errorf("exactly one of Action and NotAction is required")
	}
	for _, a := range append(append([]string{}, st.Action...), st.NotAction...) {
		if !validAction(a) {
			return st, fmt.Errorf("invalid action %q", a)
		}
	}
	hasPrincipal := st.Principal != nil || st.NotPrincipal != nil
	hasResource := st.Resource != nil || st.NotResource != nil
	switch kind {
	case Repository:
		if !hasPrincipal {
			return st, fmt.Errorf("a repository policy statement needs a Principal")
		}
		if hasResource {
			return st, fmt.Errorf("a repository policy statement must not contain Resource")
		}
	case Registry:
		if !hasPrincipal {
			return st, fmt.Errorf("a registry policy statement needs a Principal")
		}
	case Identity:
		if hasPrincipal {
			return st, fmt.Errorf("an identity policy statement must not contain Principal")
		}
		if !hasResource {
			return st, fmt.Errorf("an identity policy statement needs a Resource")
		}
	}
	return st, nil
}

func parseCondition(v json.RawMessage) (map[string]map[string][]string, error) {
	ops, err := objectMembers(v)
	if err != nil {
		return nil, fmt.Errorf("Condition must map operators to {key: value(s)}")
	}
	out := map[string]map[string][]string{}
	for _, o := range ops {
		op := o.key
		if _, err := parseOperator(op); err != nil {
			return nil, err
		}
		keys, err := objectMembers(o.value)
		if err != nil {
			return nil, fmt.Errorf("Condition must map operators to {key: value(s)}")
		}
		out[op] = map[string][]string{}
		for _, k := range keys {
			key, raw := k.key, k.value
			vals, err := oneOrMany[any](raw)
			if err != nil {
				return nil, fmt.Errorf("Condition %s %s: values must be scalars or lists of scalars", op, key)
			}
			for _, x := range vals {
				switch x := x.(type) {
				case string:
					out[op][key] = append(out[op][key], x)
				case bool, float64:
					out[op][key] = append(out[op][key], fmt.Sprint(x))
				default:
					return nil, fmt.Errorf("Condition %s %s: values must be scalars", op, key)
				}
			}
		}
	}
	return out, nil
}

// Actions lists every action a document names in Action elements.
func (d *Document) Actions() []string {
	var out []string
	for _, s := range d.Statement {
		out = append(out, s.Action...)
	}
	return out
}
