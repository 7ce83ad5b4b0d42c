package main

import (
	"bytes"
	"os"
	"testing"
)

// The committed list must be what the committed model produces: run
// `go generate ./policy` after changing either.
func TestGeneratedActionsAreCurrent(t *testing.T) {
	model, err := os.ReadFile("../../../ecr/model/ecr.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(model)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../zz_actions.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("policy/zz_actions.go is stale: run go generate ./policy")
	}
}

// AWS's full model, where it is beside the repository, gives the same list.
func TestSharedModelGivesTheSameActions(t *testing.T) {
	full, err := os.ReadFile("../../../../shared/aws-models/ecr/service-2.json")
	if err != nil {
		t.Skip("shared model not beside the repository")
	}
	stripped, err := os.ReadFile("../../../ecr/model/ecr.json")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Generate(full)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(stripped)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the shared AWS model and ecr/model/ecr.json list different operations")
	}
}

func TestGenerateRejectsAnEmptyModel(t *testing.T) {
	if _, err := Generate([]byte(`{"operations":{}}`)); err == nil {
		t.Fatal("accepted a model without operations")
	}
}
