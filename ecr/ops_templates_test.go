package ecr

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/berth-dev/berth/replication"
	"github.com/berth-dev/berth/templates"
)

// featureFixture is a handler over a coretest registry whose creation
// templates and replication are the ones the handler serves.
func featureFixture(t *testing.T) (*Handler, *coretest.Fixture) {
	tmpl := templates.New(templates.Options{})
	f := coretest.New(t, coretest.Memory, coretest.Options{Templates: tmpl})
	tmpl.Attach(f.Registry())
	repl := replication.Start(f.Registry(), slog.New(slog.DiscardHandler))
	h := New(Config{Registry: f.Registry(), Tokens: core.NewTokens(core.RandomSecret(), f.Clock), DefaultAccount: "000000000000", Region: "us-east-1",
		Templates: tmpl, Replication: repl})
	return h, f
}

// call posts an operation as account 111111111111 in us-east-1.
func callOp(t *testing.T, h *Handler, op string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	rec, out := post(t, h, op, string(b), "111111111111", "us-east-1")
	return rec.Code, out
}

func TestRepositoryCreationTemplateOperations(t *testing.T) {
	h, f := featureFixture(t)
	code, out := callOp(t, h, "CreateRepositoryCreationTemplate", map[string]any{"prefix": "team", "appliedFor": []string{"CREATE_ON_PUSH"},
		"description": "team repositories", "resourceTags": []map[string]string{{"Key": "team", "Value": "a"}},
		"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION", "imageTagMutabilityExclusionFilters": []map[string]string{{"filterType": "WILDCARD", "filter": "latest"}}})
	if code != 200 || out["registryId"] != "111111111111" {
		t.Fatalf("create: %d %v", code, out)
	}
	tmpl := out["repositoryCreationTemplate"].(map[string]any)
	if tmpl["prefix"] != "team" || fmt.Sprint(tmpl["appliedFor"]) != "[CREATE_ON_PUSH]" || tmpl["imageTagMutability"] != "IMMUTABLE_WITH_EXCLUSION" ||
		fmt.Sprint(tmpl["encryptionConfiguration"]) != "map[encryptionType:AES256]" || tmpl["createdAt"] == nil ||
		fmt.Sprint(tmpl["resourceTags"]) != "[map[Key:team Value:a]]" ||
		fmt.Sprint(tmpl["imageTagMutabilityExclusionFilters"]) != "[map[filter:latest filterType:WILDCARD]]" {
		t.Fatalf("created template %v", tmpl)
	}
	code, out = callOp(t, h, "CreateRepositoryCreationTemplate", map[string]any{"prefix": "team/", "appliedFor": []string{"REPLICATION"}})
	if code != 400 || out["__type"] != "TemplateAlreadyExistsException" {
		t.Fatalf("a second template for team/: %d %v", code, out)
	}
	// The model's constraints are the edge's; the rest are the package's.
	for _, c := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"prefix": "Team", "appliedFor": []string{"CREATE_ON_PUSH"}}, "InvalidParameterException"},
		{map[string]any{"prefix": "x", "appliedFor": []string{"ON_PULL"}}, "InvalidParameterException"},
		{map[string]any{"prefix": "x", "appliedFor": []string{}}, "InvalidParameterException"},
		{map[string]any{"prefix": "x", "appliedFor": []string{"REPLICATION"}, "repositoryPolicy": `{"Version":"2012-10-17"}`}, "InvalidParameterException"},
		{map[string]any{"prefix": "x", "appliedFor": []string{"REPLICATION"}, "lifecyclePolicy": `{"rules":[]}`}, "InvalidParameterException"},
		{map[string]any{"prefix": "x", "appliedFor": []string{"REPLICATION"}, "resourceTags": []map[string]string{{"Key": "aws:x", "Value": "y"}}}, "InvalidTagParameterException"},
	} {
		if code, out := callOp(t, h, "CreateRepositoryCreationTemplate", c.body); code != 400 || out["__type"] != c.want {
			t.Errorf("%v: %d %v, want %s", c.body, code, out, c.want)
		}
	}

	// Update replaces the members it gives (an empty description clears
	// it), keeps the others; a new mode comes with its own filters.
	f.Clock.Advance(time.Second)
	code, out = callOp(t, h, "UpdateRepositoryCreationTemplate", map[string]any{"prefix": "team", "description": "", "imageTagMutability": "IMMUTABLE",
		"appliedFor": []string{"CREATE_ON_PUSH", "REPLICATION"}})
	if code != 200 {
		t.Fatalf("update: %d %v", code, out)
	}
	tmpl = out["repositoryCreationTemplate"].(map[string]any)
	if _, ok := tmpl["description"]; ok || tmpl["imageTagMutability"] != "IMMUTABLE" || tmpl["imageTagMutabilityExclusionFilters"] != nil ||
		fmt.Sprint(tmpl["appliedFor"]) != "[REPLICATION CREATE_ON_PUSH]" || fmt.Sprint(tmpl["resourceTags"]) != "[map[Key:team Value:a]]" ||
		tmpl["updatedAt"] == tmpl["createdAt"] {
		t.Fatalf("updated template %v", tmpl)
	}
	code, out = callOp(t, h, "UpdateRepositoryCreationTemplate", map[string]any{"prefix": "team", "imageTagMutabilityExclusionFilters": []map[string]string{{"filterType": "WILDCARD", "filter": "dev-*"}}})
	if code != 400 || out["__type"] != "InvalidParameterException" {
		t.Fatalf("filters for IMMUTABLE: %d %v", code, out)
	}
	code, out = callOp(t, h, "UpdateRepositoryCreationTemplate", map[string]any{"prefix": "nope"})
	if code != 400 || out["__type"] != "TemplateNotFoundException" || !strings.Contains(fmt.Sprint(out["message"]), "'nope'") {
		t.Fatalf("update of a missing template: %d %v", code, out)
	}

	// Describe: every template in prefix order, paged; or those named.
	for _, p := range []string{"ROOT", "apps", "zeta"} {
		if code, out := callOp(t, h, "CreateRepositoryCreationTemplate", map[string]any{"prefix": p, "appliedFor": []string{"PULL_THROUGH_CACHE"}}); code != 200 {
			t.Fatalf("create %s: %d %v", p, code, out)
		}
	}
	var seen []string
	token := ""
	for {
		body := map[string]any{"maxResults": 3}
		if token != "" {
			body["nextToken"] = token
		}
		code, out = callOp(t, h, "DescribeRepositoryCreationTemplates", body)
		if code != 200 {
			t.Fatalf("describe: %d %v", code, out)
		}
		for _, tm := range out["repositoryCreationTemplates"].([]any) {
			seen = append(seen, tm.(map[string]any)["prefix"].(string))
		}
		if token, _ = out["nextToken"].(string); token == "" {
			break
		}
	}
	if fmt.Sprint(seen) != "[ROOT apps team zeta]" {
		t.Fatalf("described over the pages: %v", seen)
	}
	code, out = callOp(t, h, "DescribeRepositoryCreationTemplates", map[string]any{"prefixes": []string{"zeta", "missing"}})
	if code != 200 || len(out["repositoryCreationTemplates"].([]any)) != 1 {
		t.Fatalf("describe by prefix: %d %v", code, out)
	}

	code, out = callOp(t, h, "DeleteRepositoryCreationTemplate", map[string]any{"prefix": "zeta"})
	if code != 200 || out["repositoryCreationTemplate"].(map[string]any)["prefix"] != "zeta" {
		t.Fatalf("delete: %d %v", code, out)
	}
	code, out = callOp(t, h, "DeleteRepositoryCreationTemplate", map[string]any{"prefix": "zeta"})
	if code != 400 || out["__type"] != "TemplateNotFoundException" {
		t.Fatalf("second delete: %d %v", code, out)
	}

	// And the registry uses them: a push to team/app creates it immutable.
	f.PushImage(coretest.RegA, "team/app", "v1", "one")
	code, out = callOp(t, h, "DescribeRepositories", map[string]any{"repositoryNames": []string{"team/app"}})
	if code != 200 || out["repositories"].([]any)[0].(map[string]any)["imageTagMutability"] != "IMMUTABLE" {
		t.Fatalf("the repository a push created: %d %v", code, out)
	}
}
