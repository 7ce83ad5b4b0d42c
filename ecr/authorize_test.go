package ecr

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"maps"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
)

// recordingAuthorizer records every question it is asked, and allows or
// denies all of them.
type recordingAuthorizer struct {
	mu    sync.Mutex
	deny  bool
	asked []core.AuthRequest
}

const denyReason = "an explicit deny in an identity-based policy"

func (a *recordingAuthorizer) Authorize(_ context.Context, req core.AuthRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, req)
	if len(req.Resources) == 0 {
		return core.Denied("a request without resources")
	}
	if a.deny {
		return core.AccessDenied(req, req.Resources[0], denyReason)
	}
	return nil
}

func (a *recordingAuthorizer) setDeny(deny bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.deny = deny
}

// take returns the questions asked since the last take.
func (a *recordingAuthorizer) take() []core.AuthRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.asked
	a.asked = nil
	return out
}

func newAuthzHandler(t *testing.T) (*Handler, *recordingAuthorizer) {
	t.Helper()
	authz := &recordingAuthorizer{}
	reg := core.New(core.Options{KV: kv.NewMem(), Blobs: blob.NewMem(), Log: slog.New(slog.DiscardHandler), Authorizer: authz})
	t.Cleanup(func() { reg.Close() })
	return New(Config{Registry: reg, Tokens: core.NewTokens(core.RandomSecret(), nil), DefaultAccount: "000000000000", Region: "us-east-1"}), authz
}

// The caller of every request below: account callerAccount, in callerRegion.
const (
	callerAccount = "123456789012"
	callerRegion  = "eu-west-1"
	otherAccount  = "210987654321"
)

var callerRegistry = core.RegistryID{Account: callerAccount, Region: callerRegion}

func repoARN(account, name string) string {
	return "arn:aws:ecr:" + callerRegion + ":" + account + ":repository/" + name
}

var (
	appARN       = repoARN(callerAccount, "app")
	aDigest      = "sha256:" + strings.Repeat("a", 64)
	anUploadID   = "0f0e0d0c-0b0a-4908-8706-050403020100"
	aPrincipal   = "arn:aws:iam::" + callerAccount + ":role/ci"
	lifecyclePol = `{\"rules\":[{\"rulePriority\":1,\"selection\":{\"tagStatus\":\"untagged\",\"countType\":\"sinceImagePushed\",\"countUnit\":\"days\",\"countNumber\":14},\"action\":{\"type\":\"expire\"}}]}`
)

// authzCase is one request and the authorization question it must ask.
type authzCase struct {
	body        string
	resources   []string         // the resource ARNs, in order
	registry    *core.RegistryID // the registry of every resource; nil: the caller's
	requestTags map[string]string
	tagKeys     []string
	context     map[string]string
}

// minimalRequests holds a minimal valid request for every operation of the
// model. An operation missing here fails TestEveryOperationIsAuthorizedOnce,
// so that a new operation cannot reach a handler unexamined.
var minimalRequests = map[string]authzCase{
	"BatchCheckLayerAvailability":             {body: `{"repositoryName":"app","layerDigests":["` + aDigest + `"]}`, resources: []string{appARN}},
	"BatchDeleteImage":                        {body: `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}]}`, resources: []string{appARN}},
	"BatchGetImage":                           {body: `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}]}`, resources: []string{appARN}},
	"BatchGetRepositoryScanningConfiguration": {body: `{"repositoryNames":["app","web"]}`, resources: []string{appARN, repoARN(callerAccount, "web")}},
	"CompleteLayerUpload":                     {body: `{"repositoryName":"app","uploadId":"` + anUploadID + `","layerDigests":["` + aDigest + `"]}`, resources: []string{appARN}},
	"CreatePullThroughCacheRule":              {body: `{"ecrRepositoryPrefix":"hub","upstreamRegistryUrl":"registry-1.docker.io"}`, resources: []string{"*"}},
	"CreateRepository": {body: `{"repositoryName":"app","tags":[{"Key":"team","Value":"a"},{"Key":"cost","Value":"42"}]}`, resources: []string{appARN},
		requestTags: map[string]string{"team": "a", "cost": "42"}, tagKeys: []string{"team", "cost"}},
	"CreateRepositoryCreationTemplate":    {body: `{"prefix":"team","appliedFor":["CREATE_ON_PUSH"]}`, resources: []string{"*"}},
	"DeleteLifecyclePolicy":               {body: `{"repositoryName":"app"}`, resources: []string{appARN}},
	"DeletePullThroughCacheRule":          {body: `{"ecrRepositoryPrefix":"hub"}`, resources: []string{"*"}},
	"DeleteRegistryPolicy":                {body: `{}`, resources: []string{"*"}},
	"DeleteRepository":                    {body: `{"repositoryName":"app"}`, resources: []string{appARN}},
	"DeleteRepositoryCreationTemplate":    {body: `{"prefix":"team"}`, resources: []string{"*"}},
	"DeleteRepositoryPolicy":              {body: `{"repositoryName":"app"}`, resources: []string{appARN}},
	"DeleteSigningConfiguration":          {body: `{}`, resources: []string{"*"}},
	"DeregisterPullTimeUpdateExclusion":   {body: `{"principalArn":"` + aPrincipal + `"}`, resources: []string{"*"}},
	"DescribeImageReplicationStatus":      {body: `{"repositoryName":"app","imageId":{"imageTag":"v1"}}`, resources: []string{appARN}},
	"DescribeImageScanFindings":           {body: `{"repositoryName":"app","imageId":{"imageTag":"v1"}}`, resources: []string{appARN}},
	"DescribeImageSigningStatus":          {body: `{"repositoryName":"app","imageId":{"imageTag":"v1"}}`, resources: []string{appARN}},
	"DescribeImages":                      {body: `{"repositoryName":"app"}`, resources: []string{appARN}},
	"DescribePullThroughCacheRules":       {body: `{}`, resources: []string{"*"}},
	"DescribeRegistry":                    {body: `{}`, resources: []string{"*"}},
	"DescribeRepositories":                {body: `{}`, resources: []string{repoARN(callerAccount, "*")}},
	"DescribeRepositoryCreationTemplates": {body: `{}`, resources: []string{"*"}},
	"GetAccountSetting": {body: `{"name":"BASIC_SCAN_TYPE_VERSION"}`, resources: []string{"*"},
		context: map[string]string{"ecr:AccountSetting": "BASIC_SCAN_TYPE_VERSION"}},
	"GetAuthorizationToken":            {body: `{}`, resources: []string{"*"}},
	"GetDownloadUrlForLayer":           {body: `{"repositoryName":"app","layerDigest":"` + aDigest + `"}`, resources: []string{appARN}},
	"GetLifecyclePolicy":               {body: `{"repositoryName":"app"}`, resources: []string{appARN}},
	"GetLifecyclePolicyPreview":        {body: `{"repositoryName":"app"}`, resources: []string{appARN}},
	"GetRegistryPolicy":                {body: `{}`, resources: []string{"*"}},
	"GetRegistryScanningConfiguration": {body: `{}`, resources: []string{"*"}},
	"GetRepositoryPolicy":              {body: `{"repositoryName":"app"}`, resources: []string{appARN}},
	"GetSigningConfiguration":          {body: `{}`, resources: []string{"*"}},
	"InitiateLayerUpload":              {body: `{"repositoryName":"app"}`, resources: []string{appARN}},
	"ListImageReferrers":               {body: `{"repositoryName":"app","subjectId":{"imageDigest":"` + aDigest + `"}}`, resources: []string{appARN}},
	"ListImages":                       {body: `{"repositoryName":"app"}`, resources: []string{appARN}},
	"ListPullTimeUpdateExclusions":     {body: `{}`, resources: []string{"*"}},
	"ListTagsForResource":              {body: `{"resourceArn":"` + appARN + `"}`, resources: []string{appARN}},
	"PutAccountSetting": {body: `{"name":"BLOB_MOUNTING","value":"DISABLED"}`, resources: []string{"*"},
		context: map[string]string{"ecr:AccountSetting": "BLOB_MOUNTING"}},
	"PutImage":                         {body: `{"repositoryName":"app","imageManifest":"{}"}`, resources: []string{appARN}},
	"PutImageScanningConfiguration":    {body: `{"repositoryName":"app","imageScanningConfiguration":{"scanOnPush":true}}`, resources: []string{appARN}},
	"PutImageTagMutability":            {body: `{"repositoryName":"app","imageTagMutability":"IMMUTABLE"}`, resources: []string{appARN}},
	"PutLifecyclePolicy":               {body: `{"repositoryName":"app","lifecyclePolicyText":"` + lifecyclePol + `"}`, resources: []string{appARN}},
	"PutRegistryPolicy":                {body: `{"policyText":"{}"}`, resources: []string{"*"}},
	"PutRegistryScanningConfiguration": {body: `{}`, resources: []string{"*"}},
	"PutReplicationConfiguration":      {body: `{"replicationConfiguration":{"rules":[]}}`, resources: []string{"*"}},
	"PutSigningConfiguration":          {body: `{"signingConfiguration":{"rules":[]}}`, resources: []string{"*"}},
	"RegisterPullTimeUpdateExclusion":  {body: `{"principalArn":"` + aPrincipal + `"}`, resources: []string{"*"}},
	"SetRepositoryPolicy":              {body: `{"repositoryName":"app","policyText":"{}"}`, resources: []string{appARN}},
	"StartImageScan":                   {body: `{"repositoryName":"app","imageId":{"imageTag":"v1"}}`, resources: []string{appARN}},
	"StartLifecyclePolicyPreview":      {body: `{"repositoryName":"app"}`, resources: []string{appARN}},
	"TagResource": {body: `{"resourceArn":"` + appARN + `","tags":[{"Key":"team","Value":"b"}]}`, resources: []string{appARN},
		requestTags: map[string]string{"team": "b"}, tagKeys: []string{"team"}},
	"UntagResource": {body: `{"resourceArn":"` + appARN + `","tagKeys":["team","cost"]}`, resources: []string{appARN},
		tagKeys: []string{"team", "cost"}},
	"UpdateImageStorageClass":          {body: `{"repositoryName":"app","imageId":{"imageTag":"v1"},"targetStorageClass":"ARCHIVE"}`, resources: []string{appARN}},
	"UpdatePullThroughCacheRule":       {body: `{"ecrRepositoryPrefix":"hub"}`, resources: []string{"*"}},
	"UpdateRepositoryCreationTemplate": {body: `{"prefix":"team"}`, resources: []string{"*"}},
	"UploadLayerPart":                  {body: `{"repositoryName":"app","uploadId":"` + anUploadID + `","partFirstByte":0,"partLastByte":2,"layerPartBlob":"YWJj"}`, resources: []string{appARN}},
	"ValidatePullThroughCacheRule":     {body: `{"ecrRepositoryPrefix":"hub"}`, resources: []string{"*"}},
}

// checkAsked checks that exactly one question was asked and that it is the
// one c describes for op.
func checkAsked(t *testing.T, what, op string, c authzCase, asked []core.AuthRequest) {
	t.Helper()
	if len(asked) != 1 {
		t.Errorf("%s: the authorizer was asked %d times, want once: %+v", what, len(asked), asked)
		return
	}
	req := asked[0]
	if req.Action != "ecr:"+op {
		t.Errorf("%s: action %q, want ecr:%s", what, req.Action, op)
	}
	var arns []string
	for _, r := range req.Resources {
		arns = append(arns, r.ARN)
	}
	if !slices.Equal(arns, c.resources) {
		t.Errorf("%s: resources %v, want %v", what, arns, c.resources)
	}
	wantReg := callerRegistry
	if c.registry != nil {
		wantReg = *c.registry
	}
	for _, r := range req.Resources {
		if r.Registry != wantReg {
			t.Errorf("%s: resource %s in registry %v, want %v", what, r.ARN, r.Registry, wantReg)
		}
		if name, ok := strings.CutPrefix(r.ARN, "arn:aws:ecr:"+wantReg.Region+":"+wantReg.Account+":repository/"); ok && name != "*" && r.Repository != name {
			t.Errorf("%s: resource %s names repository %q", what, r.ARN, r.Repository)
		}
	}
	if req.Principal != core.RootPrincipal(callerAccount) || req.PrincipalAccount != callerAccount {
		t.Errorf("%s: principal %q account %q", what, req.Principal, req.PrincipalAccount)
	}
	if req.SourceIP != "192.0.2.1" || req.SecureTransport {
		t.Errorf("%s: source %q secure %v, want httptest's 192.0.2.1 over plain HTTP", what, req.SourceIP, req.SecureTransport)
	}
	if !reflect.DeepEqual(req.RequestTags, c.requestTags) || !slices.Equal(req.TagKeys, c.tagKeys) || !reflect.DeepEqual(req.Context, c.context) {
		t.Errorf("%s: request tags %v, tag keys %v, context %v; want %v, %v, %v", what, req.RequestTags, req.TagKeys, req.Context, c.requestTags, c.tagKeys, c.context)
	}
}

// Every operation of the model — implemented or not — asks the Authorizer
// exactly once, for its own action on the resources its input names, before
// its handler runs or it is answered as not implemented.
func TestEveryOperationIsAuthorizedOnce(t *testing.T) {
	h, authz := newAuthzHandler(t)
	if len(operations) != 58 {
		t.Errorf("the model has %d operations, want ECR's 58", len(operations))
	}
	for _, op := range slices.Sorted(maps.Keys(operations)) {
		c, ok := minimalRequests[op]
		if !ok {
			t.Errorf("%s: no minimal request; add one to minimalRequests", op)
			continue
		}
		authz.take()
		_, out := post(t, h, op, c.body, callerAccount, callerRegion)
		checkAsked(t, op, op, c, authz.take())
		_, implemented := h.ops[op]
		if unknown := out["__type"] == "UnknownOperationException"; unknown == implemented {
			t.Errorf("%s (implemented: %v): answered %v", op, implemented, out)
		}
	}
	for op := range minimalRequests {
		if _, ok := operations[op]; !ok {
			t.Errorf("minimalRequests has %s, which the model does not", op)
		}
	}

	other := core.RegistryID{Account: otherAccount, Region: callerRegion}
	elsewhere := core.RegistryID{Account: otherAccount, Region: "ap-south-1"}
	for _, c := range []struct {
		what, op string
		authzCase
	}{
		{"another account's repository", "DescribeImages",
			authzCase{body: `{"registryId":"` + otherAccount + `","repositoryName":"app"}`, resources: []string{repoARN(otherAccount, "app")}, registry: &other}},
		{"a repository created in another account's registry, with tags", "CreateRepository",
			authzCase{body: `{"registryId":"` + otherAccount + `","repositoryName":"team/app","tags":[{"Key":"k","Value":"v"}]}`, resources: []string{repoARN(otherAccount, "team/app")}, registry: &other,
				requestTags: map[string]string{"k": "v"}, tagKeys: []string{"k"}}},
		{"every repository of another account's registry", "DescribeRepositories",
			authzCase{body: `{"registryId":"` + otherAccount + `"}`, resources: []string{repoARN(otherAccount, "*")}, registry: &other}},
		{"named repositories", "DescribeRepositories",
			authzCase{body: `{"repositoryNames":["app","team/web"]}`, resources: []string{appARN, repoARN(callerAccount, "team/web")}}},
		{"the caller's own registryId", "ListImages",
			authzCase{body: `{"registryId":"` + callerAccount + `","repositoryName":"app"}`, resources: []string{appARN}}},
		{"a resourceArn in another account and region", "TagResource",
			authzCase{body: `{"resourceArn":"arn:aws:ecr:ap-south-1:` + otherAccount + `:repository/team/app","tags":[]}`, resources: []string{"arn:aws:ecr:ap-south-1:" + otherAccount + ":repository/team/app"}, registry: &elsewhere}},
		{"a registry-wide action on another account's registry", "DescribePullThroughCacheRules",
			authzCase{body: `{"registryId":"` + otherAccount + `"}`, resources: []string{"*"}, registry: &other}},
		{"tokens for other registries are the caller's question", "GetAuthorizationToken",
			authzCase{body: `{"registryIds":["` + otherAccount + `"]}`, resources: []string{"*"}}},
	} {
		authz.take()
		post(t, h, c.op, c.body, callerAccount, callerRegion)
		checkAsked(t, c.what, c.op, c.authzCase, authz.take())
	}
}

// A denied caller gets AccessDeniedException from every operation, worded by
// the Authorizer; a repository that does not exist is denied like one that
// does, so the caller learns nothing; and nothing changes.
func TestDeniedCallerLearnsNothingAndChangesNothing(t *testing.T) {
	h, authz := newAuthzHandler(t)
	ctx := context.Background()
	denyAll := func(round string) {
		t.Helper()
		authz.setDeny(true)
		defer authz.setDeny(false)
		for op, c := range minimalRequests {
			rec, out := post(t, h, op, c.body, callerAccount, callerRegion)
			want := "User: " + core.RootPrincipal(callerAccount) + " is not authorized to perform: ecr:" + op + " on resource: " + c.resources[0] + " because " + denyReason
			if rec.Code != 400 || out["__type"] != "AccessDeniedException" || out["message"] != want {
				t.Errorf("%s: %s denied: %d %v, want AccessDeniedException %q", round, op, rec.Code, out, want)
			}
		}
	}

	// Allowed, the caller would learn that app does not exist; denied, it does not.
	if _, out := post(t, h, "DescribeImages", `{"repositoryName":"app"}`, callerAccount, callerRegion); out["__type"] != "RepositoryNotFoundException" {
		t.Fatalf("allowed DescribeImages of a missing repository: %v", out)
	}
	denyAll("no repository")
	if repos, _, err := h.reg.ListRepositories(ctx, callerRegistry, core.Page{}); err != nil || len(repos) != 0 {
		t.Fatalf("denied requests created %v (%v)", repos, err)
	}

	// With state in place, denied requests change none of it.
	for _, setup := range []struct{ op, body string }{
		{"CreateRepository", `{"repositoryName":"app","tags":[{"Key":"team","Value":"a"}]}`},
		{"SetRepositoryPolicy", `{"repositoryName":"app","policyText":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::210987654321:root\"},\"Action\":\"ecr:BatchGetImage\"}]}"}`},
		{"PutAccountSetting", `{"name":"BLOB_MOUNTING","value":"ENABLED"}`},
		{"RegisterPullTimeUpdateExclusion", `{"principalArn":"` + aPrincipal + `"}`},
	} {
		if rec, out := post(t, h, setup.op, setup.body, callerAccount, callerRegion); rec.Code != 200 {
			t.Fatalf("setup %s: %d %v", setup.op, rec.Code, out)
		}
	}
	type state struct {
		repos    []core.Repository
		settings core.RegistrySettings
	}
	snapshot := func() state {
		t.Helper()
		repos, _, err := h.reg.ListRepositories(ctx, callerRegistry, core.Page{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := h.reg.Settings(ctx, callerRegistry)
		if err != nil {
			t.Fatal(err)
		}
		return state{repos, s}
	}
	before := snapshot()
	if len(before.repos) != 1 || before.repos[0].Policy == "" || len(before.repos[0].Tags) != 1 || len(before.settings.PullTimeExclusions) != 1 {
		t.Fatalf("setup state: %+v", before)
	}
	denyAll("existing repository")
	if after := snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatalf("denied requests changed the registry:\nbefore %+v\nafter  %+v", before, after)
	}
}

// A request the model rejects is answered before the Authorizer is asked:
// there is nothing to authorize in a request that cannot be performed.
func TestInvalidRequestsNeverReachTheAuthorizer(t *testing.T) {
	h, authz := newAuthzHandler(t)
	authz.setDeny(true) // were it asked, the answer would be AccessDeniedException
	check := func(what, op, body, wantType string) {
		t.Helper()
		rec, out := post(t, h, op, body, callerAccount, callerRegion)
		if rec.Code != 400 || out["__type"] != wantType {
			t.Errorf("%s: %d %v, want %s", what, rec.Code, out, wantType)
		}
		if asked := authz.take(); len(asked) != 0 {
			t.Errorf("%s: the authorizer was asked %+v", what, asked)
		}
	}
	for op, spec := range operations {
		if len(shapes[spec.Input].Required) == 0 {
			continue
		}
		want := "ValidationException"
		if spec.declares("InvalidParameterException") {
			want = "InvalidParameterException"
		}
		check(op+" without its required members", op, `{}`, want)
	}
	check("an invalid repository name", "CreateRepository", `{"repositoryName":"UPPER"}`, "InvalidParameterException")
	check("an empty repositoryNames", "DescribeRepositories", `{"repositoryNames":[]}`, "InvalidParameterException")
	check("an invalid registryId", "DescribeRepositories", `{"registryId":"12"}`, "InvalidParameterException")
	check("maxResults out of range", "DescribeRepositories", `{"maxResults":0}`, "InvalidParameterException")
	check("a mistyped member", "CreateRepository", `{"repositoryName":5}`, "SerializationException")
	check("malformed JSON", "CreateRepository", `{"repositoryName":`, "SerializationException")
	check("an unknown operation", "NoSuchOperation", `{}`, "UnknownOperationException")
	// A resourceArn that names no repository is a parameter error: nothing
	// is read to know it.
	check("a resourceArn of another service", "ListTagsForResource", `{"resourceArn":"arn:aws:s3:::bucket"}`, "InvalidParameterException")
	check("a resourceArn with an invalid name", "TagResource", `{"resourceArn":"arn:aws:ecr:eu-west-1:123456789012:repository/UPPER","tags":[]}`, "InvalidParameterException")
	check("not an ARN", "UntagResource", `{"resourceArn":"app","tagKeys":["k"]}`, "InvalidParameterException")
}

// The caller's transport reaches the Authorizer: aws:SourceIp is the client's
// address without its port, aws:SecureTransport whether it came over TLS.
func TestCallerCarriesTheTransport(t *testing.T) {
	h, authz := newAuthzHandler(t)
	for _, c := range []struct {
		remote string
		tls    bool
		wantIP string
	}{
		{"198.51.100.7:50123", false, "198.51.100.7"},
		{"[2001:db8::1]:443", true, "2001:db8::1"},
	} {
		req := httptest.NewRequest("POST", "https://127.0.0.1:4566/", strings.NewReader(`{}`))
		req.Header.Set("X-Amz-Target", TargetPrefix+".DescribeRegistry")
		req.RemoteAddr = c.remote
		req.TLS = nil
		if c.tls {
			req.TLS = &tls.ConnectionState{}
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		asked := authz.take()
		if len(asked) != 1 || asked[0].SourceIP != c.wantIP || asked[0].SecureTransport != c.tls {
			t.Errorf("%s (TLS %v): %+v", c.remote, c.tls, asked)
		}
	}
}

// GetAuthorizationToken issues, for each registryId (another account's too),
// a token whose principal is the caller; the registry only addresses /v2.
func TestGetAuthorizationTokenIsTheCallersForAnyRegistry(t *testing.T) {
	h := newTestHandler(t)
	_, out := post(t, h, "GetAuthorizationToken", `{"registryIds":["`+otherAccount+`","`+callerAccount+`"]}`, callerAccount, callerRegion)
	data, _ := out["authorizationData"].([]any)
	if len(data) != 2 {
		t.Fatalf("GetAuthorizationToken: %v", out)
	}
	for i, account := range []string{otherAccount, callerAccount} {
		d := data[i].(map[string]any)
		tok, _ := d["authorizationToken"].(string)
		claims, err := h.tokens.Verify(strings.TrimPrefix(decodeBase64(t, tok), "AWS:"))
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		want := core.TokenClaims{Registry: core.RegistryID{Account: account, Region: callerRegion}, Principal: core.RootPrincipal(callerAccount)}
		if claims != want {
			t.Errorf("token %d: claims %+v, want %+v", i, claims, want)
		}
	}
}

func decodeBase64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("%q is not base64: %v", s, err)
	}
	return string(b)
}

// Member names are matched exactly, as AWS matches them. encoding/json, which
// decodes a handler's typed input, binds "RepositoryName" to repositoryName
// too: such a member used to reach the handler past validation and
// authorization (FuzzValidate found it), so that a caller allowed on one
// repository acted on another. Members the model does not name are ignored.
func TestMemberNamesAreMatchedExactly(t *testing.T) {
	h, authz := newAuthzHandler(t)
	for _, name := range []string{"open", "secret"} {
		post(t, h, "CreateRepository", `{"repositoryName":"`+name+`"}`, callerAccount, callerRegion)
	}
	authz.take()
	rec, out := post(t, h, "DeleteRepository", `{"repositoryName":"open","RepositoryName":"secret"}`, callerAccount, callerRegion)
	deleted, _ := out["repository"].(map[string]any)
	if rec.Code != 200 || deleted["repositoryName"] != "open" {
		t.Fatalf("DeleteRepository authorized on open: %d %v", rec.Code, out)
	}
	if asked := authz.take(); len(asked) != 1 || asked[0].Resources[0].Repository != "open" {
		t.Fatalf("authorized %+v", asked)
	}
	if _, out := post(t, h, "DescribeRepositories", `{"repositoryNames":["secret"]}`, callerAccount, callerRegion); out["repositories"] == nil {
		t.Fatalf("secret is gone: %v", out)
	}
	// A constraint is not escaped by the case of a name either: maxResults
	// must be at least 1, and MaxResults is not maxResults.
	for _, c := range []struct{ op, body string }{
		{"DescribeImages", `{"repositoryName":"secret","MaxResults":0}`},
		{"ListImages", `{"repositoryName":"secret","MaxResults":0}`},
		{"ListPullTimeUpdateExclusions", `{"MaxResults":-1}`},
		{"DescribeRepositories", `{"repositoryNames":["secret"],"REPOSITORYNAMES":[]}`},
	} {
		if rec, out := post(t, h, c.op, c.body, callerAccount, callerRegion); rec.Code != 200 {
			t.Errorf("%s %s: %d %v", c.op, c.body, rec.Code, out)
		}
	}
}
