package rego

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// The library's Rego unit tests run here: a failing Rego test fails go test
// and is named.
func TestRegoUnitTests(t *testing.T) {
	modules := map[string]*ast.Module{}
	for name, src := range Library() {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		modules[name] = m
	}
	tests := Tests()
	if len(tests) == 0 {
		t.Fatal("no Rego tests embedded")
	}
	for name, src := range tests {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		modules[name] = m
	}
	ch, err := tester.NewRunner().
		SetModules(modules).
		SetDefaultRegoVersion(ast.RegoV1).
		// As in evaluation, a failing builtin (to_number("x")) is undefined, not an error.
		RaiseBuiltinErrors(false).
		RunTests(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	passed, failed := 0, 0
	for r := range ch {
		switch {
		case r.Error != nil:
			failed++
			t.Errorf("%s.%s: error: %v", r.Package, r.Name, r.Error)
		case r.Fail:
			failed++
			t.Errorf("%s.%s: FAIL", r.Package, r.Name)
		case r.Skip:
			t.Logf("%s.%s: skipped", r.Package, r.Name)
		default:
			passed++
		}
	}
	t.Logf("%d Rego tests passed, %d failed", passed, failed)
	if passed == 0 {
		t.Fatal("no Rego test ran")
	}
}
