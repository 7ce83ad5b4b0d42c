package ecr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// readAgreement holds the generated body reader of op's input to the
// document path it stands in for: a body the reader takes must be one the
// document path accepts (validated, nothing pruned) and decodes into the
// very same typed input, with the same members for authorization. A body it
// declines goes down the document path, so there is nothing to compare. It
// returns "" when they agree, and whether the reader took the body.
func readAgreement(op string, body []byte) (string, bool) {
	spec := operations[op]
	if spec.read == nil {
		return "", false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if checkText(body) != nil {
		return "", false // refused before either path
	}
	r := bodyReader{docParser: docParser{b: body}}
	typed, ok := spec.read(&r)
	if !ok {
		return "", false
	}
	in := &input{body: bytes.Clone(body)}
	if aerr := in.readDocument(spec, ""); aerr != nil {
		return fmt.Sprintf("the reader took a body the document path refuses: %v", aerr), true
	}
	if !bytes.Equal(in.body, body) {
		return "the reader took a body the document path prunes to " + string(in.body), true
	}
	want := reflect.New(reflect.TypeOf(typed).Elem())
	if d, ok := want.Interface().(docDecoder); !ok || !d.decodeDoc(in.doc) {
		want = reflect.New(want.Type().Elem())
		if err := json.Unmarshal(in.body, want.Interface()); err != nil {
			return fmt.Sprintf("the reader took a body the typed decode refuses: %v", err), true
		}
	}
	if !reflect.DeepEqual(typed, want.Interface()) {
		return fmt.Sprintf("read %+v, the document path %+v", typed, want.Interface()), true
	}
	doc := docMembers(in.doc)
	for _, name := range []string{"registryId", "repositoryName", "resourceArn", "name", "repositoryNames", "tagKeys", "tags"} {
		if a, b := typed.stringMember(name), doc.stringMember(name); a != b {
			return fmt.Sprintf("member %s: read %q, document %q", name, a, b), true
		}
		if a, b := typed.stringsMember(name), doc.stringsMember(name); !reflect.DeepEqual(a, b) && len(a)+len(b) > 0 {
			return fmt.Sprintf("member %s: read %q, document %q", name, a, b), true
		}
		if a, b := typed.tagsMember(name), doc.tagsMember(name); !reflect.DeepEqual(a, b) && len(a)+len(b) > 0 {
			return fmt.Sprintf("member %s: read %+v, document %+v", name, a, b), true
		}
	}
	return "", true
}

// validBodies are bodies of valid inputs, as clients send them.
var validBodies = []struct{ op, body string }{
	{"PutImage", `{"repositoryName":"bench/raw-put","imageTag":"p12345","imageManifest":"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"digest\":\"sha256:aa\",\"size\":1},\"annotations\":{\"a\":\"\\u003c\\u00e9\\ud83d\\ude00\"}}"}`},
	{"PutImage", `{"registryId":"123456789012","repositoryName":"app","imageManifest":"{}","imageManifestMediaType":"application/vnd.oci.image.manifest.v1+json","imageDigest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}`},
	{"BatchGetImage", `{"repositoryName":"bench/raw","imageIds":[{"imageTag":"base"}]}`},
	{"BatchGetImage", ` { "repositoryName" : "app" , "imageIds" : [ { "imageTag" : "v1" } , { "imageDigest" : "sha256:ab" } ] , "acceptedMediaTypes" : [ "application/vnd.oci.image.manifest.v1+json" ] } `},
	{"DescribeImages", `{"repositoryName":"bench/raw","imageIds":[{"imageTag":"base"}]}`},
	{"DescribeImages", `{"repositoryName":"bench/raw-big","maxResults":100,"nextToken":"abc","filter":{"tagStatus":"TAGGED"}}`},
	{"DescribeRepositories", `{"repositoryNames":["bench/raw"]}`},
	{"DescribeRepositories", `{}`},
	{"DescribeRepositories", `{"maxResults":1000}`},
	{"ListImages", `{"repositoryName":"bench/raw-big","maxResults":100}`},
	{"CreateRepository", `{"repositoryName":"team/app","tags":[{"Key":"team","Value":"a"},{"Key":"env","Value":""}],"imageTagMutability":"IMMUTABLE","imageScanningConfiguration":{"scanOnPush":true}}`},
	{"TagResource", `{"resourceArn":"arn:aws:ecr:us-east-1:123456789012:repository/app","tags":[{"Key":"k","Value":"v"}]}`},
	{"UntagResource", `{"resourceArn":"arn:aws:ecr:us-east-1:123456789012:repository/app","tagKeys":["k","l"]}`},
	{"GetAccountSetting", `{"name":"BASIC_SCAN_TYPE_VERSION"}`},
	{"BatchCheckLayerAvailability", `{"repositoryName":"app","layerDigests":["sha256:ab"]}`},
	{"InitiateLayerUpload", `{"repositoryName":"app"}`},
	{"CompleteLayerUpload", `{"repositoryName":"app","uploadId":"0f0e0d0c-0b0a-4908-8706-050403020100","layerDigests":["sha256:ab"]}`},
	{"GetAuthorizationToken", `{}`},
	{"BatchDeleteImage", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}]}`},
}

// The common bodies are read by the generated readers, not the document
// path (else the readers would be dead code that only ever declines).
func TestReadJSONTakesValidBodies(t *testing.T) {
	for _, c := range validBodies {
		if d, took := readAgreement(c.op, []byte(c.body)); d != "" || !took {
			t.Errorf("%s %s: took %v; %s", c.op, c.body, took, d)
		}
	}
}

// What the readers leave to the document path, whose answer stands: each
// of these is either refused there or needs what only it does (pruning an
// undeclared member, reading a name's escapes, a null, a repeated member,
// a map, a number written otherwise).
func TestReadJSONDeclines(t *testing.T) {
	for _, c := range []struct{ op, body string }{
		{"BatchGetImage", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}],"extra":1}`},
		{"BatchGetImage", `{"RepositoryName":"app","imageIds":[{"imageTag":"v1"}]}`},
		{"BatchGetImage", `{"repository\u004eame":"app","imageIds":[{"imageTag":"v1"}]}`},
		{"BatchGetImage", `{"repositoryName":"app","repositoryName":"other","imageIds":[{"imageTag":"v1"}]}`},
		{"BatchGetImage", `{"repositoryName":"app","imageIds":[null]}`},
		{"BatchGetImage", `{"repositoryName":"app","registryId":null,"imageIds":[{"imageTag":"v1"}]}`},
		{"BatchGetImage", `{"repositoryName":"app","imageIds":[]}`},
		{"BatchGetImage", `{"repositoryName":"app"}`},
		{"BatchGetImage", `{"repositoryName":"App","imageIds":[{"imageTag":"v1"}]}`},
		{"BatchGetImage", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}]} x`},
		{"BatchGetImage", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"},]}`},
		{"BatchGetImage", `null`},
		{"DescribeRepositories", `{"maxResults":1e2}`},
		{"DescribeRepositories", `{"maxResults":100.0}`},
		{"DescribeRepositories", `{"maxResults":0}`},
		{"DescribeRepositories", `{"maxResults":"5"}`},
		{"DescribeRepositories", `{"maxResults":99999999999999999999}`},
		{"CreateRepository", `{"repositoryName":"team/app","tags":[{"Key":"team"}]}`},
		{"PutImage", `{"repositoryName":"app","imageManifest":""}`},
		{"PutImage", `{"repositoryName":"app","imageManifest":"{}","registryId":"12"}`},
	} {
		d, took := readAgreement(c.op, []byte(c.body))
		if took || d != "" {
			t.Errorf("%s %s: took %v; %s", c.op, c.body, took, d)
		}
	}
}

// Every body of the fuzz corpora, the valid bodies above, and variations of
// them (members dropped, repeated or nulled, values of other types, strings
// that break or nearly break their constraints, escapes, space) is read
// alike by the reader and the document path, or declined.
func TestReadJSONAgrees(t *testing.T) {
	bodies := corpusBodies(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range validBodies {
		for range 300 {
			bodies = append(bodies, corpusBody{c.op, mutate(rng, []byte(c.body))})
		}
	}
	took := 0
	for _, b := range bodies {
		d, ok := readAgreement(b.op, b.body)
		if d != "" {
			t.Fatalf("%s %q: %s", b.op, b.body, d)
		}
		if ok {
			took++
		}
	}
	t.Logf("%d bodies, %d read by the generated readers", len(bodies), took)
	if took < len(validBodies) {
		t.Fatalf("the readers took only %d bodies", took)
	}
}

// FuzzReadJSON is TestReadJSONAgrees on any body.
func FuzzReadJSON(f *testing.F) {
	for _, c := range validBodies {
		f.Add(c.op, []byte(c.body))
	}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		op = pickOperation(op)
		if d, _ := readAgreement(op, body); d != "" {
			t.Fatalf("%s %q: %s", op, body, d)
		}
	})
}

type corpusBody struct {
	op   string
	body []byte
}

// corpusBodies reads the (operation, body) pairs of the fuzz corpora.
func corpusBodies(t *testing.T) []corpusBody {
	var out []corpusBody
	for _, dir := range []string{"FuzzValidate", "FuzzECRRequest", "FuzzReadJSON"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", dir, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[1], "string(") || !strings.HasPrefix(lines[2], "[]byte(") {
				continue
			}
			op, err1 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
			body, err2 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "[]byte("), ")"))
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: %v %v", f, err1, err2)
			}
			out = append(out, corpusBody{pickOperation(op), []byte(body)})
		}
	}
	if len(out) == 0 {
		t.Fatal("no fuzz corpus")
	}
	return out
}

// mutate changes a JSON body in one of the ways that matter to a reader.
func mutate(rng *rand.Rand, body []byte) []byte {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&doc) != nil || len(doc) == 0 {
		return body
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	k := keys[rng.IntN(len(keys))]
	values := []any{nil, "", "a", "A", "app", "sha256:ab", "v1", strings.Repeat("a", 256), "\u00e9", "x\u2028", json.Number("0"), json.Number("-1"),
		json.Number("1000"), json.Number("1001"), json.Number("2147483648"), json.Number("1.5"), true, []any{}, []any{nil}, []any{"a"},
		[]any{map[string]any{"imageTag": "v1"}}, map[string]any{}, map[string]any{"Key": "k", "Value": "v"}}
	switch rng.IntN(7) {
	case 0:
		delete(doc, k)
	case 1:
		doc[k] = values[rng.IntN(len(values))]
	case 2:
		// A repeated member: encoding/json writes a map's keys once, so by hand.
		b, _ := json.Marshal(doc)
		v, _ := json.Marshal(values[rng.IntN(len(values))])
		return append(append(append(b[:len(b)-1:len(b)-1], fmt.Sprintf(`,%q:`, k)...), v...), '}')
	case 3:
		doc[strings.ToUpper(k[:1])+k[1:]] = doc[k]
	case 4:
		// Escapes where a client may write them.
		b, _ := json.Marshal(doc)
		return bytes.ReplaceAll(b, []byte("a"), []byte(`\u0061`))
	case 5:
		b, _ := json.MarshalIndent(doc, " ", "\t")
		return b
	case 6:
		if s, ok := doc[k].(string); ok && len(s) > 0 {
			doc[k] = s[:rng.IntN(len(s))] + string(rune('!'+rng.IntN(90))) + s[rng.IntN(len(s)):]
		}
	}
	b, _ := json.Marshal(doc)
	return b
}
