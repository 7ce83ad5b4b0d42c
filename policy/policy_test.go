package policy

import "testing"

func TestParse(t *testing.T) {
	good := `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:root","222222222222"]},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}`
	doc, err := Parse(good, Repository)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Statement) != 1 || doc.Statement[0].Principal["AWS"][1] != "222222222222" || len(doc.Actions()) != 2 {
		t.Fatalf("parsed %+v", doc)
	}
	single := `{"Statement":{"Effect":"Deny","Principal":"*","Action":"ecr:*"}}`
	if _, err := Parse(single, Repository); err != nil {
		t.Fatalf("single statement: %v", err)
	}
	for name, c := range map[string]struct {
		text string
		kind Kind
	}{
		"not json":             {`{`, Repository},
		"no statement":         {`{"Version":"2012-10-17"}`, Repository},
		"bad effect":           {`{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"ecr:*"}]}`, Repository},
		"no action":            {`{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, Repository},
		"resource in repo":     {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"*"}]}`, Repository},
		"no principal":         {`{"Statement":[{"Effect":"Allow","Action":"ecr:*"}]}`, Registry},
		"principal identity":   {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"*"}]}`, Identity},
		"bad action":           {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"pull"}]}`, Repository},
		"bad version":          {`{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`, Repository},
		"unknown element":      {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Foo":1}]}`, Repository},
		"bad principal":        {`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"ecr:*"}]}`, Repository},
		"action and notaction": {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","NotAction":"ecr:X"}]}`, Repository},
	} {
		if _, err := Parse(c.text, c.kind); err == nil {
			t.Errorf("%s: accepted %s", name, c.text)
		}
	}
}

// A document with several problems reports the first one in document order,
// every time: in the document, in a statement, in a principal and in a
// condition block.
func TestParseReportsFirstProblemInDocumentOrder(t *testing.T) {
	for name, c := range map[string]struct {
		text string
		want string
	}{
		"document": {
			`{"Version":"2020-01-01","Foo":1,"Bar":2,"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`,
			"Version must be 2012-10-17 or 2008-10-17",
		},
		"document unknown elements": {
			`{"Zeta":1,"Alpha":2,"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"}]}`,
			`unknown policy element "Zeta"`,
		},
		"statement": {
			`{"Statement":[{"Foo":1,"Effect":"Maybe","Principal":"*","Action":"ecr:*","Bar":2}]}`,
			`Statement 1: unknown statement element "Foo"`,
		},
		"statement elements": {
			`{"Statement":[{"Principal":"*","Effect":"Maybe","Action":"","Sid":1}]}`,
			"Statement 1: Effect must be Allow or Deny",
		},
		"principal": {
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob","Nobody":"x"},"Action":"ecr:*"}]}`,
			`Statement 1: invalid AWS principal "bob"`,
		},
		"condition": {
			`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"b":{},"a":[[]]},"StringLike":{"c":{}}}}]}`,
			"Statement 1: Condition StringEquals b: values must be scalars",
		},
	} {
		for i := range 100 {
			_, err := Parse(c.text, Repository)
			if err == nil || err.Error() != c.want {
				t.Fatalf("%s: run %d: got %v, want %q", name, i+1, err, c.want)
			}
		}
	}
}

// Objects read in document order keep what decoding into a map kept: a
// repeated key takes its last value, and null is an empty object.
func TestParseKeepsMapSemanticsForRepeatedKeysAndNull(t *testing.T) {
	doc, err := Parse(`{"Statement":{"Effect":"Deny","Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":null}}`, Repository)
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Statement[0].Effect; got != "Allow" {
		t.Fatalf("Effect = %q, want the last value", got)
	}
	if _, err := Parse(`{"Statement":null}`, Repository); err == nil || err.Error() != "Statement 1: missing Effect" {
		t.Fatalf("null statement: %v", err)
	}
}
