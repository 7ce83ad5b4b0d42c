package ecr

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/berth-dev/berth/pullthrough"
	"github.com/opencontainers/go-digest"
)

// newPullThroughHandler is a handler whose registry pulls through a
// pullthrough.Service.
func newPullThroughHandler(t *testing.T) *Handler {
	svc, err := pullthrough.New(pullthrough.Options{Refresh: pullthrough.DefaultRefresh})
	if err != nil {
		t.Fatal(err)
	}
	reg := core.New(core.Options{KV: kv.NewMem(), Blobs: blob.NewMem(), Upstream: svc, Log: slog.New(slog.DiscardHandler)})
	svc.Bind(reg)
	t.Cleanup(func() { reg.Close() })
	return New(Config{Registry: reg, Tokens: core.NewTokens(core.RandomSecret(), nil), DefaultAccount: "000000000000", Region: "us-east-1", PullThrough: svc})
}

func wantType(t *testing.T, what string, rec *httptest.ResponseRecorder, out map[string]any, code string) {
	t.Helper()
	if out["__type"] != code {
		t.Fatalf("%s: %d %v, want %s", what, rec.Code, out, code)
	}
}

// Create, Describe (filtered, paged), Update, Validate and Delete, with
// ECR's response members and exceptions.
func TestPullThroughCacheRuleOperations(t *testing.T) {
	h := newPullThroughHandler(t)
	rec, out := post(t, h, "CreatePullThroughCacheRule", `{"ecrRepositoryPrefix":"ecr-public","upstreamRegistryUrl":"public.ecr.aws"}`, "", "")
	if rec.Code != 200 || out["upstreamRegistry"] != "ecr-public" || out["registryId"] != "000000000000" || out["createdAt"] == nil {
		t.Fatalf("Create: %d %v", rec.Code, out)
	}
	rec, out = post(t, h, "CreatePullThroughCacheRule", `{"ecrRepositoryPrefix":"ecr-public","upstreamRegistryUrl":"quay.io"}`, "", "")
	wantType(t, "a second rule for a prefix", rec, out, "PullThroughCacheRuleAlreadyExistsException")
	rec, out = post(t, h, "CreatePullThroughCacheRule", `{"ecrRepositoryPrefix":"mine","upstreamRegistryUrl":"registry.example.com"}`, "", "")
	wantType(t, "an unsupported upstream", rec, out, "UnsupportedUpstreamRegistryException")
	rec, out = post(t, h, "CreatePullThroughCacheRule", `{"ecrRepositoryPrefix":"hub","upstreamRegistryUrl":"registry-1.docker.io","credentialArn":"arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/hub"}`, "", "")
	wantType(t, "a secret berth does not have", rec, out, "SecretNotFoundException")
	rec, out = post(t, h, "CreatePullThroughCacheRule", `{"ecrRepositoryPrefix":"hub","upstreamRegistryUrl":"registry-1.docker.io"}`, "", "")
	wantType(t, "docker hub without a secret", rec, out, "InvalidParameterException")
	rec, out = post(t, h, "CreatePullThroughCacheRule", `{"ecrRepositoryPrefix":"ROOT","upstreamRegistryUrl":"000000000000.dkr.ecr.us-west-2.amazonaws.com"}`, "", "")
	if rec.Code != 200 || out["upstreamRegistry"] != "ecr" || out["upstreamRepositoryPrefix"] != "ROOT" {
		t.Fatalf("Create ROOT: %d %v", rec.Code, out)
	}

	rec, out = post(t, h, "DescribePullThroughCacheRules", `{"maxResults":1}`, "", "")
	rules, _ := out["pullThroughCacheRules"].([]any)
	if rec.Code != 200 || len(rules) != 1 || rules[0].(map[string]any)["ecrRepositoryPrefix"] != "ROOT" || out["nextToken"] == nil {
		t.Fatalf("Describe, first page: %d %v", rec.Code, out)
	}
	rec, out = post(t, h, "DescribePullThroughCacheRules", `{"maxResults":1,"nextToken":"`+out["nextToken"].(string)+`"}`, "", "")
	rules, _ = out["pullThroughCacheRules"].([]any)
	if rec.Code != 200 || len(rules) != 1 || rules[0].(map[string]any)["ecrRepositoryPrefix"] != "ecr-public" || out["nextToken"] != nil {
		t.Fatalf("Describe, second page: %d %v", rec.Code, out)
	}
	rec, out = post(t, h, "DescribePullThroughCacheRules", `{"ecrRepositoryPrefixes":["ecr-public","nope"]}`, "", "")
	wantType(t, "Describe of a missing prefix", rec, out, "PullThroughCacheRuleNotFoundException")
	if !strings.Contains(out["message"].(string), "'nope'") {
		t.Fatalf("message: %v", out["message"])
	}

	rec, out = post(t, h, "UpdatePullThroughCacheRule", `{"ecrRepositoryPrefix":"ROOT","customRoleArn":"arn:aws:iam::000000000000:role/ptc"}`, "", "")
	if rec.Code != 200 || out["customRoleArn"] != "arn:aws:iam::000000000000:role/ptc" || out["updatedAt"] == nil || out["upstreamRepositoryPrefix"] != "ROOT" {
		t.Fatalf("Update: %d %v", rec.Code, out)
	}
	rec, out = post(t, h, "UpdatePullThroughCacheRule", `{"ecrRepositoryPrefix":"nope","customRoleArn":"arn:aws:iam::000000000000:role/ptc"}`, "", "")
	wantType(t, "Update of a missing rule", rec, out, "PullThroughCacheRuleNotFoundException")

	// The same account's registry, as the role: the default authorizer
	// allows a principal of the account.
	rec, out = post(t, h, "ValidatePullThroughCacheRule", `{"ecrRepositoryPrefix":"ROOT"}`, "", "")
	if rec.Code != 200 || out["isValid"] != true || out["failure"] != nil {
		t.Fatalf("Validate: %d %v", rec.Code, out)
	}

	rec, out = post(t, h, "DeletePullThroughCacheRule", `{"ecrRepositoryPrefix":"ecr-public"}`, "", "")
	if rec.Code != 200 || out["upstreamRegistryUrl"] != "public.ecr.aws" || out["createdAt"] == nil {
		t.Fatalf("Delete: %d %v", rec.Code, out)
	}
	rec, out = post(t, h, "DeletePullThroughCacheRule", `{"ecrRepositoryPrefix":"ecr-public"}`, "", "")
	wantType(t, "a second Delete", rec, out, "PullThroughCacheRuleNotFoundException")

	// A handler without a pull-through cache does not pretend to have one.
	rec, out = post(t, newTestHandler(t), "DescribePullThroughCacheRules", `{}`, "", "")
	wantType(t, "no pull-through cache", rec, out, "UnknownOperationException")
}

// A failing upstream is UnableToGetUpstreamImageException for an image and
// UnableToGetUpstreamLayerException for a layer, with the upstream's
// reason; ValidatePullThroughCacheRule says isValid false, and why.
func TestUpstreamFailuresOnTheAPI(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	h := newPullThroughHandler(t)
	rec, out := post(t, h, "CreatePullThroughCacheRule", `{"ecrRepositoryPrefix":"down","upstreamRegistryUrl":"`+down.URL+`"}`, "", "")
	if rec.Code != 200 || out["upstreamRegistry"] != nil {
		t.Fatalf("Create with berth's http:// upstream: %d %v", rec.Code, out)
	}
	rec, out = post(t, h, "BatchGetImage", `{"repositoryName":"down/app","imageIds":[{"imageTag":"v1"}]}`, "", "")
	wantType(t, "BatchGetImage", rec, out, "UnableToGetUpstreamImageException")
	if !strings.Contains(out["message"].(string), "503") {
		t.Fatalf("the upstream's reason is missing: %v", out["message"])
	}
	rec, out = post(t, h, "GetDownloadUrlForLayer", `{"repositoryName":"down/app","layerDigest":"`+digest.FromString("layer").String()+`"}`, "", "")
	wantType(t, "GetDownloadUrlForLayer", rec, out, "UnableToGetUpstreamLayerException")
	rec, out = post(t, h, "ValidatePullThroughCacheRule", `{"ecrRepositoryPrefix":"down"}`, "", "")
	if rec.Code != 200 || out["isValid"] != false || !strings.Contains(out["failure"].(string), "503") {
		t.Fatalf("Validate of a failing upstream: %d %v", rec.Code, out)
	}
}
