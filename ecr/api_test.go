package ecr

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
)

func newTestHandler(t testing.TB) *Handler {
	reg := core.New(core.Options{KV: kv.NewMem(), Blobs: blob.NewMem(), Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { reg.Close() })
	return New(Config{Registry: reg, Tokens: core.NewTokens(core.RandomSecret(), nil), DefaultAccount: "000000000000", Region: "us-east-1"})
}

// call posts one JSON 1.1 request signed with the given access key and region.
func post(t testing.TB, h http.Handler, op, body, accessKey, region string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "http://127.0.0.1:4566/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", TargetPrefix+"."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if accessKey != "" {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/20261122/"+region+"/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out
}

func TestProtocolErrors(t *testing.T) {
	h := newTestHandler(t)
	rec, out := post(t, h, "NoSuchOperation", `{}`, "", "")
	if rec.Code != 400 || out["__type"] != "UnknownOperationException" {
		t.Errorf("unknown op: %d %v", rec.Code, out)
	}
	// Modelled but not implemented yet: validated and authorized like any
	// operation, then unknown — never a fake success.
	rec, out = post(t, h, "CreatePullThroughCacheRule", `{"ecrRepositoryPrefix":"a","upstreamRegistryUrl":"public.ecr.aws"}`, "", "")
	if rec.Code != 400 || out["__type"] != "InvalidParameterException" {
		t.Errorf("unimplemented op, invalid input: %d %v", rec.Code, out)
	}
	rec, out = post(t, h, "CreatePullThroughCacheRule", `{"ecrRepositoryPrefix":"ecr-public","upstreamRegistryUrl":"public.ecr.aws"}`, "", "")
	if rec.Code != 400 || out["__type"] != "UnknownOperationException" {
		t.Errorf("unimplemented op: %d %v", rec.Code, out)
	}
	rec, out = post(t, h, "CreateRepository", `{"repositoryName":`, "", "")
	if rec.Code != 400 || out["__type"] != "SerializationException" {
		t.Errorf("malformed JSON: %d %v", rec.Code, out)
	}
	rec, out = post(t, h, "CreateRepository", `{"repositoryName":"UPPER"}`, "", "")
	if rec.Code != 400 || out["__type"] != "InvalidParameterException" || rec.Header().Get("X-Amzn-Errortype") != "InvalidParameterException" {
		t.Errorf("invalid name: %d %v %v", rec.Code, out, rec.Header())
	}
	if !strings.HasPrefix(out["message"].(string), "Invalid parameter at 'repositoryName' failed to satisfy constraint:") {
		t.Errorf("message: %q", out["message"])
	}
	rec, out = post(t, h, "DescribeRepositories", `{"repositoryNames":["missing"]}`, "", "")
	if rec.Code != 400 || out["__type"] != "RepositoryNotFoundException" ||
		out["message"] != "The repository with name 'missing' does not exist in the registry with id '000000000000'" {
		t.Errorf("not found: %d %v", rec.Code, out)
	}
}

func TestIdentityFromSigV4(t *testing.T) {
	h := newTestHandler(t)
	_, out := post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "123456789012", "eu-west-1")
	repo := out["repository"].(map[string]any)
	if repo["registryId"] != "123456789012" || repo["repositoryArn"] != "arn:aws:ecr:eu-west-1:123456789012:repository/app" {
		t.Errorf("12-digit key: %v", repo)
	}
	if repo["repositoryUri"] != "localhost:4566/app" {
		t.Errorf("repositoryUri = %v", repo["repositoryUri"])
	}
	// Another key is the default account; it does not see account 123456789012's repository.
	rec, out := post(t, h, "DescribeRepositories", `{"repositoryNames":["app"]}`, "AKIAEXAMPLE", "eu-west-1")
	if out["__type"] != "RepositoryNotFoundException" {
		t.Errorf("default account sees another account's repository: %d %v", rec.Code, out)
	}
	// Addressing another account's registry is denied by the default
	// Authorizer, naming the resource as AWS does: the registry's
	// repository/* for a listing, the repository itself otherwise.
	for _, c := range []struct{ op, body, arn string }{
		{"DescribeRepositories", `{"registryId":"123456789012"}`, "arn:aws:ecr:eu-west-1:123456789012:repository/*"},
		{"DescribeImages", `{"registryId":"123456789012","repositoryName":"app"}`, "arn:aws:ecr:eu-west-1:123456789012:repository/app"},
		{"DescribeImages", `{"registryId":"123456789012","repositoryName":"never-was"}`, "arn:aws:ecr:eu-west-1:123456789012:repository/never-was"},
		{"ListTagsForResource", `{"resourceArn":"arn:aws:ecr:eu-west-1:123456789012:repository/app"}`, "arn:aws:ecr:eu-west-1:123456789012:repository/app"},
	} {
		_, out = post(t, h, c.op, c.body, "AKIAEXAMPLE", "eu-west-1")
		want := "User: arn:aws:iam::000000000000:root is not authorized to perform: ecr:" + c.op + " on resource: " + c.arn + " because no resource-based policy allows the ecr:" + c.op + " action"
		if out["__type"] != "AccessDeniedException" || out["message"] != want {
			t.Errorf("cross-account %s %s: %v, want %q", c.op, c.body, out, want)
		}
	}
}

func TestTimestampsAreEpochSeconds(t *testing.T) {
	h := newTestHandler(t)
	rec, _ := post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "", "")
	var raw map[string]map[string]json.RawMessage
	json.Unmarshal(rec.Body.Bytes(), &raw)
	created := string(raw["repository"]["createdAt"])
	if strings.ContainsAny(created, `"TZ-`) || len(created) < 10 {
		t.Errorf("createdAt = %s, want epoch seconds", created)
	}
}

func TestURIs(t *testing.T) {
	reg := core.RegistryID{Account: "123456789012", Region: "eu-west-1"}
	for _, c := range []struct {
		u    URIs
		want string
	}{
		{URIs{Port: "4566"}, "localhost:4566"},
		{URIs{Style: "ecr", Port: "4566"}, "123456789012.dkr.ecr.eu-west-1.localhost:4566"},
		{URIs{Hostname: "berth", Port: "4566"}, "berth:4566"},
	} {
		if got := c.u.Host(reg); got != c.want {
			t.Errorf("%+v: %s, want %s", c.u, got, c.want)
		}
	}
}

// Result lists are present even when empty, as ECR sends them; optional
// lists with nothing in them (an untagged image's imageTags) are left out.
func TestEmptyResultListsAreSent(t *testing.T) {
	h := newTestHandler(t)
	rec, _ := post(t, h, "DescribeRepositories", `{}`, "", "")
	if got := strings.TrimSpace(rec.Body.String()); got != `{"repositories":[]}` {
		t.Errorf("DescribeRepositories on an empty registry = %s", got)
	}
	post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "", "")
	rec, _ = post(t, h, "BatchCheckLayerAvailability", `{"repositoryName":"app","layerDigests":["sha256:`+strings.Repeat("a", 64)+`"]}`, "", "")
	if got := strings.TrimSpace(rec.Body.String()); !strings.Contains(got, `"layers":[]`) || !strings.Contains(got, `"failureCode":"MissingLayerDigest"`) {
		t.Errorf("BatchCheckLayerAvailability = %s", got)
	}
	rec, _ = post(t, h, "ListImages", `{"repositoryName":"app"}`, "", "")
	if got := strings.TrimSpace(rec.Body.String()); got != `{"imageIds":[]}` {
		t.Errorf("ListImages on an empty repository = %s", got)
	}
}

func TestInvalidBase64IsASerializationError(t *testing.T) {
	h := newTestHandler(t)
	post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "", "")
	_, out := post(t, h, "InitiateLayerUpload", `{"repositoryName":"app"}`, "", "")
	id := out["uploadId"].(string)
	for _, blob := range []string{"***", "****"} {
		rec, out := post(t, h, "UploadLayerPart", `{"repositoryName":"app","uploadId":"`+id+`","partFirstByte":0,"partLastByte":2,"layerPartBlob":"`+blob+`"}`, "", "")
		if rec.Code != 400 || out["__type"] != "SerializationException" {
			t.Errorf("layerPartBlob %q: %d %v", blob, rec.Code, out)
		}
	}
}

// A CompleteLayerUpload rejected with LayerAlreadyExistsException leaves the
// upload session as it was.
func TestRejectedCompleteKeepsTheSession(t *testing.T) {
	h := newTestHandler(t)
	post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "", "")
	upload := func() string {
		_, out := post(t, h, "InitiateLayerUpload", `{"repositoryName":"app"}`, "", "")
		id := out["uploadId"].(string)
		post(t, h, "UploadLayerPart", `{"repositoryName":"app","uploadId":"`+id+`","partFirstByte":0,"partLastByte":2,"layerPartBlob":"YWJj"}`, "", "")
		return id
	}
	complete := `","layerDigests":["sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]}`
	first := upload()
	if rec, out := post(t, h, "CompleteLayerUpload", `{"repositoryName":"app","uploadId":"`+first+complete, "", ""); rec.Code != 200 {
		t.Fatalf("first complete: %d %v", rec.Code, out)
	}
	second := upload()
	if _, out := post(t, h, "CompleteLayerUpload", `{"repositoryName":"app","uploadId":"`+second+complete, "", ""); out["__type"] != "LayerAlreadyExistsException" {
		t.Fatalf("second complete: %v", out)
	}
	rec, out := post(t, h, "UploadLayerPart", `{"repositoryName":"app","uploadId":"`+second+`","partFirstByte":3,"partLastByte":3,"layerPartBlob":"ZA=="}`, "", "")
	if rec.Code != 200 || out["lastByteReceived"] != float64(3) {
		t.Errorf("the session did not survive the rejected request: %d %v", rec.Code, out)
	}
}

// The credential scope's region becomes the registry's, in ARNs, repository
// URIs and /v2 tokens: only a region's name is accepted, and anything else
// is answered as AWS answers a credential scoped to no region.
func TestCredentialScopeMustNameARegion(t *testing.T) {
	h := newTestHandler(t)
	for _, region := range []string{"not|a|region", "evil.example#", "", "aws-global", "US-EAST-1", "us-east-1a", "us-east", "us_east_1", "u-east-1", "local"} {
		rec, out := post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "AKIAEXAMPLE", region)
		want := "Credential should be scoped to a valid region, not '" + region + "'. "
		if rec.Code != 400 || out["__type"] != "InvalidSignatureException" || out["message"] != want {
			t.Errorf("region %q: %d %v, want InvalidSignatureException %q", region, rec.Code, out, want)
		}
	}
	rec, out := post(t, h, "DescribeRepositories", `{}`, "AKIAEXAMPLE", "us-east-1")
	if rec.Code != 200 || len(out["repositories"].([]any)) != 0 {
		t.Errorf("a repository was created: %v", out)
	}
	for _, region := range []string{"us-east-1", "ap-southeast-5", "us-gov-west-1", "cn-northwest-1", "us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1", "eusc-de-east-1", "mx-central-1"} {
		rec, out := post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "AKIAEXAMPLE", region)
		if repo, _ := out["repository"].(map[string]any); rec.Code != 200 || repo["repositoryArn"] != "arn:aws:ecr:"+region+":000000000000:repository/app" {
			t.Errorf("region %q: %d %v", region, rec.Code, out)
		}
	}
	// Without a credential scope, the configured region.
	if rec, out := post(t, h, "DescribeRepositories", `{"repositoryNames":["app"]}`, "", ""); rec.Code != 200 {
		t.Errorf("no Authorization header: %d %v", rec.Code, out)
	}
}
