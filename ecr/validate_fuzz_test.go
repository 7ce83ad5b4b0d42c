package ecr

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"
)

// FuzzValidate checks any JSON document against the input shape of any
// operation of the model. validate never panics and gives the same answer
// twice, sees undeclared members exactly where prune deletes them, and a
// document it accepts is still accepted once re-encoded (and pruned). Above
// all, the handlers read an accepted document the way validate read it: they
// decode the body into generated types with encoding/json, which binds
// member names case-insensitively, and authorization reads the validated
// document; so every member the typed decoder fills must hold exactly the
// value validate checked. (A body a generated reader took is held to the
// document path by readAgreement instead.)
func FuzzValidate(f *testing.F) {
	f.Add("ListImages", []byte(`{"repositoryName":"app","maxResults":5,"filter":{"tagStatus":"TAGGED"}}`))
	f.Add("BatchGetImage", []byte(`{"repositoryName":"app","imageIds":[{"imageTag":"v1","ImageTag":"v2"}],"extra":1}`))
	f.Add("PutImage", []byte(`{"repositoryName":"app","imageTag":"v1","imageManifest":"{}","RepositoryName":"other"}`))
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		op = pickOperation(op)
		spec := operations[op]
		if doc, ok := decodeDocument(body); ok {
			v := validate(spec.Input, doc)
			if again := validate(spec.Input, doc); !reflect.DeepEqual(v, again) {
				t.Fatalf("%s %q: %+v, then %+v", spec.Input, body, v, again)
			}
			if v != nil && v.constraint == "" {
				t.Fatalf("%s %q: a violation without a constraint: %+v", spec.Input, body, v)
			}
			if v == nil {
				// What validation saw of undeclared members is what prune
				// deletes: decode prunes only when validation saw some.
				_, unknown := validateDoc(shapes[spec.Input], doc)
				if pruned := prune(shapes[spec.Input], doc); pruned != unknown {
					t.Fatalf("%s %q: validation saw undeclared members: %v; prune deleted some: %v", spec.Input, body, unknown, pruned)
				}
				re, err := json.Marshal(doc)
				if err != nil {
					t.Fatalf("%s %q: accepted document does not encode: %v", spec.Input, body, err)
				}
				if redoc, _ := decodeDocument(re); validate(spec.Input, redoc) != nil {
					t.Fatalf("%s %q: accepted, but not once re-encoded as %s: %+v", spec.Input, body, re, validate(spec.Input, redoc))
				}
			}
		}
		// What the handler acts on: the body readInput hands it to decode,
		// and the document authorization reads.
		in, aerr := readInput(httptest.NewRequest("POST", "/", bytes.NewReader(body)), spec)
		if aerr != nil {
			return // rejected
		}
		defer in.close()
		if in.typed != nil { // read by a generated reader: held to the document path
			if d, _ := readAgreement(op, body); d != "" {
				t.Fatalf("%s %q: %s", spec.Input, body, d)
			}
			return
		}
		if len(in.doc) == 0 || in.blob != nil {
			return // {} or null, which decodes as the zero input; or a streamed blob, which the typed decode never sees
		}
		if d := typedDisagreement(shapes[spec.Input], spec.Input, in.body, in.doc); d != "" {
			t.Fatalf("%s %q: validated, but the typed decoder reads it otherwise: %s", spec.Input, body, d)
		}
	})
}

// decodeDocument decodes a body as readInput does.
func decodeDocument(body []byte) (any, bool) {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&doc) != nil {
		return nil, false
	}
	if doc == nil {
		doc = map[string]any{}
	}
	return doc, true
}

// typedDisagreement decodes raw as a generated type of shape s would be
// decoded — a struct whose fields are tagged with the member names, read by
// encoding/json — and reports the first member whose value differs from
// what the validated document doc holds there ("" if none). Bodies that the
// typed decoder rejects are answered SerializationException, and agree.
func typedDisagreement(s *shapeSpec, path string, raw json.RawMessage, doc any) string {
	var got any
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&got) != nil {
			return ""
		}
	}
	if got == nil || doc == nil {
		if (got == nil) != (doc == nil) {
			return path + ": validated " + show(doc) + ", decoded " + string(raw)
		}
		return ""
	}
	switch s.Type {
	case "structure":
		fields := make([]reflect.StructField, len(s.Members))
		for i, m := range s.Members {
			fields[i] = reflect.StructField{Name: "F" + strconv.Itoa(i), Type: reflect.TypeFor[json.RawMessage](),
				Tag: reflect.StructTag(`json:"` + m.Name + `"`)}
		}
		typed := reflect.New(reflect.StructOf(fields))
		if json.Unmarshal(raw, typed.Interface()) != nil {
			return ""
		}
		obj := doc.(map[string]any)
		for i, m := range s.Members {
			member := typed.Elem().Field(i).Interface().(json.RawMessage)
			if d := typedDisagreement(shapes[m.Shape], join(path, m.Name), member, obj[m.Name]); d != "" {
				return d
			}
		}
	case "list":
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return ""
		}
		list := doc.([]any)
		if len(items) != len(list) {
			return path + ": validated " + show(doc) + ", decoded " + string(raw)
		}
		for i := range items {
			if d := typedDisagreement(shapes[s.Member], path+"."+strconv.Itoa(i+1), items[i], list[i]); d != "" {
				return d
			}
		}
	case "map":
		var entries map[string]json.RawMessage
		if json.Unmarshal(raw, &entries) != nil {
			return ""
		}
		obj := doc.(map[string]any)
		if len(entries) != len(obj) {
			return path + ": validated " + show(doc) + ", decoded " + string(raw)
		}
		for k, e := range entries {
			if d := typedDisagreement(shapes[s.Value], join(path, k), e, obj[k]); d != "" {
				return d
			}
		}
	default:
		if !reflect.DeepEqual(got, doc) {
			return path + ": validated " + show(doc) + ", decoded " + string(raw)
		}
	}
	return ""
}

func show(v any) string {
	if v == nil {
		return "nothing"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func join(path, member string) string {
	if path == "" {
		return member
	}
	return path + "." + member
}
