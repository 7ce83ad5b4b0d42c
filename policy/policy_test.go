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
