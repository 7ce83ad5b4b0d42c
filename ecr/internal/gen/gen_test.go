package main

import (
	"bytes"
	"os"
	"testing"
)

// The committed generated code must be what the committed model produces:
// run `go generate ./ecr` after changing either.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	m, err := Load("../../model/ecr.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../zz_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("ecr/zz_generated.go is stale: run go generate ./ecr")
	}
	if len(m.Operations) != 58 {
		t.Errorf("model has %d operations, want the 58 of ECR's API", len(m.Operations))
	}
}

// The stripped model keeps every constraint of AWS's full model.
func TestStrippedModelMatchesShared(t *testing.T) {
	const full = "../../../../shared/aws-models/ecr/service-2.json"
	if _, err := os.Stat(full); err != nil {
		t.Skip("shared model not beside the repository")
	}
	a, err := Load(full)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load("../../model/ecr.json")
	if err != nil {
		t.Fatal(err)
	}
	ga, _ := Generate(a)
	gb, _ := Generate(b)
	if !bytes.Equal(ga, gb) {
		t.Fatal("model/ecr.json differs from the shared AWS model: refresh it with -strip")
	}
}
