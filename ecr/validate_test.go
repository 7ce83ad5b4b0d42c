package ecr

import (
	"encoding/json"
	"strings"
	"testing"
)

func doc(t *testing.T, s string) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidate(t *testing.T) {
	cases := []struct {
		shape, body string
		path        string // "" means valid
		constraint  string
		serial      bool
	}{
		{"CreateRepositoryRequest", `{"repositoryName":"team/app"}`, "", "", false},
		{"CreateRepositoryRequest", `{}`, "repositoryName", "Member must not be null", false},
		{"CreateRepositoryRequest", `{"repositoryName":"Team"}`, "repositoryName", "regular expression", false},
		{"CreateRepositoryRequest", `{"repositoryName":"a"}`, "repositoryName", "length greater than or equal to 2", false},
		{"CreateRepositoryRequest", `{"repositoryName":"ok","imageTagMutability":"SOMETIMES"}`, "imageTagMutability", "enum value set", false},
		{"CreateRepositoryRequest", `{"repositoryName":"ok","registryId":"12"}`, "registryId", "regular expression", false},
		{"CreateRepositoryRequest", `{"repositoryName":5}`, "repositoryName", "", true},
		{"CreateRepositoryRequest", `{"repositoryName":"ok","encryptionConfiguration":{}}`, "encryptionConfiguration.encryptionType", "not be null", false},
		{"DescribeRepositoriesRequest", `{"maxResults":0}`, "maxResults", "greater than or equal to 1", false},
		{"DescribeRepositoriesRequest", `{"maxResults":1001}`, "maxResults", "less than or equal to 1000", false},
		{"DescribeRepositoriesRequest", `{"maxResults":1.5}`, "maxResults", "", true},
		{"BatchGetImageRequest", `{"repositoryName":"ok","imageIds":[]}`, "imageIds", "length greater than or equal to 1", false},
		{"BatchGetImageRequest", `{"repositoryName":"ok","imageIds":[{"imageTag":""}]}`, "imageIds.1.imageTag", "length greater than or equal to 1", false},
		{"UploadLayerPartRequest", `{"repositoryName":"ok","uploadId":"not-a-uuid","partFirstByte":0,"partLastByte":0,"layerPartBlob":"AA=="}`, "uploadId", "regular expression", false},
		{"UploadLayerPartRequest", `{"repositoryName":"ok","uploadId":"0f0e0d0c-0b0a-4908-8706-050403020100","partFirstByte":0,"partLastByte":0,"layerPartBlob":"***"}`, "layerPartBlob", "", true},
		{"TagResourceRequest", `{"resourceArn":"arn","tags":[{"Key":"k"}]}`, "tags.1.Value", "not be null", false},
		{"DescribeRepositoriesRequest", `null`, "", "", false},
	}
	for _, c := range cases {
		v := validate(c.shape, doc(t, c.body))
		switch {
		case c.path == "" && !c.serial:
			if v != nil {
				t.Errorf("%s %s: unexpected violation %+v", c.shape, c.body, v)
			}
		case v == nil:
			t.Errorf("%s %s: accepted", c.shape, c.body)
		case v.serialization != c.serial || v.path != c.path || !strings.Contains(v.constraint, c.constraint):
			t.Errorf("%s %s: got %+v, want path %q constraint containing %q serialization %v", c.shape, c.body, v, c.path, c.constraint, c.serial)
		}
	}
}

// Every shape a member or operation names exists, and every pattern compiles.
func TestConstraintTableIsComplete(t *testing.T) {
	for name, s := range shapes {
		for _, m := range s.Members {
			if shapes[m.Shape] == nil {
				t.Errorf("%s.%s names unknown shape %s", name, m.Name, m.Shape)
			}
		}
		if s.Pattern != "" {
			s.regexp()
		}
	}
	for name, o := range operations {
		if o.Input != "" && shapes[o.Input] == nil {
			t.Errorf("%s input %s missing", name, o.Input)
		}
	}
}

func TestViolationWording(t *testing.T) {
	v := &violation{path: "repositoryName", value: "X", constraint: "Member must satisfy regular expression pattern: p"}
	e := violationError(operations["CreateRepository"], v)
	if e.Code != "InvalidParameterException" || e.Message != "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'Member must satisfy regular expression pattern: p'" {
		t.Errorf("CreateRepository: %s %q", e.Code, e.Message)
	}
	// An operation that declares only ValidationException words it the Coral way.
	e = violationError(operationSpec{Errors: []string{"ServerException", "ValidationException"}}, v)
	if e.Code != "ValidationException" || !strings.HasPrefix(e.Message, "1 validation error detected: Value 'X' at 'repositoryName'") {
		t.Errorf("ValidationException wording: %s %q", e.Code, e.Message)
	}
}

// A JSON null body is an absent input: required members are reported
// missing; the handler never dereferences a nil member.
func TestNullBodyIsValidated(t *testing.T) {
	h := newTestHandler(t)
	post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "", "")
	for _, op := range []string{"UpdateImageStorageClass", "ListImageReferrers", "PutImageScanningConfiguration", "CompleteLayerUpload", "UploadLayerPart", "PutImage"} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s with a null body panics: %v", op, p)
				}
			}()
			rec, out := post(t, h, op, `null`, "", "")
			if rec.Code != 400 || out["__type"] != "InvalidParameterException" {
				t.Errorf("%s with a null body: %d %v", op, rec.Code, out)
			}
		}()
	}
}

// A pattern's answer is the regexp's whether or not a value is remembered,
// and only values that matched are remembered, at most maxMatched of them.
func TestPatternMatchesAreRememberedBounded(t *testing.T) {
	s := &shapeSpec{Type: "string", Pattern: "[a-z]+"}
	for range 2 {
		if !s.matches("abc") || s.matches("ABC") || s.matches("") {
			t.Fatal("wrong answer")
		}
	}
	for i := range 2 * maxMatched {
		s.matches("x" + strings.Repeat("y", i%50) + string(rune('a'+i%26)) + strings.Repeat("z", i/50))
	}
	n := 0
	s.matched.Range(func(k, _ any) bool {
		n++
		if !s.regexp().MatchString(k.(string)) {
			t.Errorf("remembered %q, which does not match", k)
		}
		return true
	})
	if n > maxMatched || n == 0 {
		t.Fatalf("%d values remembered", n)
	}
}
