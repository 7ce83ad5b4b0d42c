package policy

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParse reads any text as a policy of any kind. Parse never panics and
// is deterministic (the same text gives the same document or the same
// error); a document it accepts follows the grammar's invariants, and
// written back as IAM JSON it parses again to the same document, so that
// what berth stores and evaluates is what the author wrote.
func FuzzParse(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}`, uint8(Repository))
	f.Fuzz(func(t *testing.T, text string, k uint8) {
		kind := Kind(k % 3)
		doc, err := Parse(text, kind)
		again, err2 := Parse(text, kind)
		if !reflect.DeepEqual(doc, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("Parse(%q, %d) gave %+v, %v, then %+v, %v", text, kind, doc, err, again, err2)
		}
		if err != nil {
			if _, ok := err.(*Error); !ok || err.Error() == "" {
				t.Fatalf("Parse(%q, %d): error %T %q is not a grammar error", text, kind, err, err)
			}
			return
		}
		if len(doc.Statement) == 0 {
			t.Fatalf("Parse(%q, %d): accepted without statements", text, kind)
		}
		for i, st := range doc.Statement {
			if st.Effect != "Allow" && st.Effect != "Deny" {
				t.Fatalf("Parse(%q, %d): statement %d has Effect %q", text, kind, i+1, st.Effect)
			}
			if (st.Action == nil) == (st.NotAction == nil) {
				t.Fatalf("Parse(%q, %d): statement %d has Action %q and NotAction %q", text, kind, i+1, st.Action, st.NotAction)
			}
		}
		written := encodePolicy(doc)
		reparsed, err := Parse(written, kind)
		if err != nil {
			t.Fatalf("Parse(%q, %d) = %+v, written back as %s, which does not parse: %v", text, kind, doc, written, err)
		}
		if !reflect.DeepEqual(doc, reparsed) {
			t.Fatalf("Parse(%q, %d) = %+v, written back as %s, which parses to %+v", text, kind, doc, written, reparsed)
		}
	})
}

// encodePolicy writes a document as IAM JSON, with every element the
// document has and lists for the multi-valued ones.
func encodePolicy(d *Document) string {
	var stmts []map[string]any
	for _, st := range d.Statement {
		s := map[string]any{"Effect": st.Effect}
		if st.Sid != "" {
			s["Sid"] = st.Sid
		}
		for name, v := range map[string]map[string][]string{"Principal": st.Principal, "NotPrincipal": st.NotPrincipal} {
			if v != nil {
				s[name] = v
			}
		}
		for name, v := range map[string][]string{"Action": st.Action, "NotAction": st.NotAction, "Resource": st.Resource, "NotResource": st.NotResource} {
			if v != nil {
				s[name] = v
			}
		}
		if st.Condition != nil {
			s["Condition"] = st.Condition
		}
		stmts = append(stmts, s)
	}
	doc := map[string]any{"Statement": stmts}
	if d.Version != "" {
		doc["Version"] = d.Version
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // strings, lists and maps of strings always encode
	}
	return string(b)
}

// FuzzCompile compiles every policy Parse accepts: the module is valid Rego
// that OPA compiles with the library, whatever the policy's strings hold
// (no text of a policy can change the module's structure), and a decision
// with it is one of the three effects.
func FuzzCompile(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":[{"Sid":"\"}} x if {","Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:Batch*","Condition":{"StringLike":{"aws:PrincipalTag/team":"${aws:username}-*"}}}]}`, uint8(Repository))
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"ecr:Put*","NotResource":"arn:aws:ecr:*:*:repository/${aws:PrincipalTag/t, 'x'}/*"}}`, uint8(Identity))
	f.Fuzz(func(t *testing.T, text string, k uint8) {
		kind := Kind(k % 3)
		if _, err := Parse(text, kind); err != nil {
			return
		}
		id, module, err := Compile(text, kind)
		if err != nil {
			t.Fatalf("Compile(%q, %d): %v", text, kind, err)
		}
		r := Request{Principal: rootA, Action: "ecr:BatchGetImage", Resource: repoARN, ResourceAccount: acctA, ResourceRegion: "us-east-1"}
		switch kind {
		case Identity:
			r.Principal = user(acctA, "alice")
			r.Principal.Policies = []string{text}
		case Repository:
			r.ResourcePolicy = text
		case Registry:
			r.RegistryPolicy = text
		}
		d, err := NewEngine().decide(context.Background(), r)
		if err != nil {
			t.Fatalf("policy %q (%s) compiled to a module OPA refuses: %v\n%s", text, id, err, module)
		}
		if d.Effect != Allow && d.Effect != ExplicitDeny && d.Effect != ImplicitDeny {
			t.Fatalf("effect %q", d.Effect)
		}
	})
}
