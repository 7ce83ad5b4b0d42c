package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/policy"
	"github.com/opencontainers/go-digest"
)

// pullBy is a repository policy letting account's principals pull.
func pullBy(account string) string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"PullBy` + account + `","Effect":"Allow",` +
		`"Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:ListImages"]}]}`
}

// With no --iam-config, repository policies decide: another account is
// refused until the repository's policy lets it in, on the ECR API and on
// /v2 alike, and then only for what the policy names.
func TestARepositoryPolicyGrantsACrossAccountPullWithoutConfig(t *testing.T) {
	srv := newTestServer(t, nil)
	const owner, puller = "111111111111", "222222222222"
	if code, out := ecrCall(t, srv, "CreateRepository", `{"repositoryName":"app"}`, owner); code != http.StatusOK {
		t.Fatalf("CreateRepository: %d %v", code, out)
	}
	list := `{"registryId":"` + owner + `","repositoryName":"app"}`
	password := v2Password(t, srv, puller, `["`+owner+`"]`)

	code, out := ecrCall(t, srv, "ListImages", list, puller)
	want := "User: arn:aws:iam::" + puller + ":root is not authorized to perform: ecr:ListImages on resource: " +
		"arn:aws:ecr:us-east-1:" + owner + ":repository/app because no resource-based policy allows the ecr:ListImages action"
	if code != http.StatusBadRequest || out["__type"] != "AccessDeniedException" || out["message"] != want {
		t.Errorf("ListImages before the policy: %d %v\nwant AccessDeniedException %q", code, out, want)
	}
	if rec := v2Get(srv, "/v2/app/tags/list", password); rec.Code != http.StatusForbidden {
		t.Errorf("/v2 tags/list before the policy: %d %s", rec.Code, rec.Body)
	}

	policyJSON, _ := json.Marshal(pullBy(puller))
	if code, out := ecrCall(t, srv, "SetRepositoryPolicy", `{"repositoryName":"app","policyText":`+string(policyJSON)+`}`, owner); code != http.StatusOK {
		t.Fatalf("SetRepositoryPolicy: %d %v", code, out)
	}
	if code, out := ecrCall(t, srv, "ListImages", list, puller); code != http.StatusOK {
		t.Errorf("ListImages allowed by the repository policy: %d %v", code, out)
	}
	if rec := v2Get(srv, "/v2/app/tags/list", password); rec.Code != http.StatusOK {
		t.Errorf("/v2 tags/list allowed by the repository policy: %d %s", rec.Code, rec.Body)
	}
	if code, out := ecrCall(t, srv, "DeleteRepository", list, puller); out["__type"] != "AccessDeniedException" {
		t.Errorf("DeleteRepository, which the policy does not grant: %d %v", code, out)
	}
	// A third account is not in the policy.
	if code, out := ecrCall(t, srv, "ListImages", list, "333333333333"); out["__type"] != "AccessDeniedException" {
		t.Errorf("ListImages by an account the policy does not name: %d %v", code, out)
	}
}

// v2Do sends one /v2 request to host with the password.
func v2Do(srv *Server, method, host, path, password, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://"+host+path, bytes.NewReader(body))
	req.Host = host
	req.SetBasicAuth("AWS", password)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec
}

// A pull of another account's image through its registry host, as docker
// and crane do it, is what a repository policy grants with no config.
func TestARepositoryPolicyGrantsACrossAccountImagePullOnV2(t *testing.T) {
	srv := newTestServer(t, nil)
	const owner, puller = "111111111111", "222222222222"
	host := owner + ".dkr.ecr.us-east-1.localhost:4566"
	ecrCall(t, srv, "CreateRepository", `{"repositoryName":"app"}`, owner)
	ownerPassword := v2Password(t, srv, owner, `["`+owner+`"]`)
	layer, config := []byte("layer bytes"), []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	for _, b := range [][]byte{layer, config} {
		if rec := v2Do(srv, "POST", host, "/v2/app/blobs/uploads/?digest="+digest.FromBytes(b).String(), ownerPassword, "application/octet-stream", b); rec.Code != http.StatusCreated {
			t.Fatalf("owner's blob upload: %d %s", rec.Code, rec.Body)
		}
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(config), len(config), digest.FromBytes(layer), len(layer))
	const manifestType = "application/vnd.oci.image.manifest.v1+json"
	if rec := v2Do(srv, "PUT", host, "/v2/app/manifests/v1", ownerPassword, manifestType, []byte(manifest)); rec.Code != http.StatusCreated {
		t.Fatalf("owner's manifest push: %d %s", rec.Code, rec.Body)
	}

	// The puller's token is for its own registry; the host names the owner's.
	password := v2Password(t, srv, puller, `["`+puller+`"]`)
	layerPath := "/v2/app/blobs/" + digest.FromBytes(layer).String()
	if rec := v2Do(srv, "GET", host, "/v2/app/manifests/v1", password, "", nil); rec.Code != http.StatusForbidden {
		t.Errorf("manifest GET before the policy: %d %s", rec.Code, rec.Body)
	}
	policyJSON, _ := json.Marshal(pullBy(puller))
	if code, out := ecrCall(t, srv, "SetRepositoryPolicy", `{"repositoryName":"app","policyText":`+string(policyJSON)+`}`, owner); code != http.StatusOK {
		t.Fatalf("SetRepositoryPolicy: %d %v", code, out)
	}
	if rec := v2Do(srv, "GET", host, "/v2/app/manifests/v1", password, "", nil); rec.Code != http.StatusOK || rec.Body.String() != manifest {
		t.Errorf("manifest GET allowed by the policy: %d %s", rec.Code, rec.Body)
	}
	if rec := v2Do(srv, "GET", host, layerPath, password, "", nil); rec.Code != http.StatusOK || rec.Body.String() != string(layer) {
		t.Errorf("layer GET allowed by the policy: %d %s", rec.Code, rec.Body)
	}
	if rec := v2Do(srv, "PUT", host, "/v2/app/manifests/v2", password, manifestType, []byte(manifest)); rec.Code != http.StatusForbidden {
		t.Errorf("manifest PUT, which the policy does not grant: %d %s", rec.Code, rec.Body)
	}
}

// An identity policy limits a configured user in its own account, where
// its root may do anything.
func TestAnIdentityPolicyLimitsAConfiguredUser(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.IAMConfig = writeIAMConfig(t, iamTestConfig) })
	if code, out := ecrCall(t, srv, "CreateRepository", `{"repositoryName":"app"}`, "AKIAROOT1"); code != http.StatusOK {
		t.Fatalf("CreateRepository as the root: %d %v", code, out)
	}
	if code, out := ecrCall(t, srv, "DescribeRepositories", `{}`, "AKIAALICE"); code != http.StatusOK {
		t.Errorf("DescribeRepositories, which alice's policy allows: %d %v", code, out)
	}
	_, out := ecrCall(t, srv, "CreateRepository", `{"repositoryName":"mine"}`, "AKIAALICE")
	want := "User: arn:aws:iam::111111111111:user/alice is not authorized to perform: ecr:CreateRepository on resource: " +
		"arn:aws:ecr:us-east-1:111111111111:repository/mine because no identity-based policy allows the ecr:CreateRepository action"
	if out["message"] != want {
		t.Errorf("CreateRepository as alice: %v\nwant %q", out, want)
	}
}

func getDecisions(t *testing.T, srv *Server) []policy.DecisionRecord {
	t.Helper()
	rec := adminRequest(srv, "GET", "/_berth/decisions", "127.0.0.1:4566")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /_berth/decisions: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var out []policy.DecisionRecord
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out == nil {
		t.Fatalf("GET /_berth/decisions: %q is not a JSON list: %v", rec.Body, err)
	}
	return out
}

// GET /_berth/decisions lists the recent decisions, oldest first, timed by
// the server's clock.
func TestDecisionsAreListedOnTheAdminSurface(t *testing.T) {
	start := time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)
	clock := core.NewManualClock(start)
	srv := newTestServer(t, func(c *Config) { c.Clock = clock })
	if got := getDecisions(t, srv); len(got) != 0 {
		t.Fatalf("decisions before any request: %v", got)
	}
	const owner = "111111111111"
	ecrCall(t, srv, "CreateRepository", `{"repositoryName":"app"}`, owner)
	clock.Advance(time.Minute)
	ecrCall(t, srv, "ListImages", `{"registryId":"`+owner+`","repositoryName":"app"}`, "222222222222")

	got := getDecisions(t, srv)
	app := "arn:aws:ecr:us-east-1:" + owner + ":repository/app"
	want := []policy.DecisionRecord{
		{Time: start, Principal: "arn:aws:iam::" + owner + ":root", Action: "ecr:CreateRepository", Resource: app, Effect: policy.Allow},
		{Time: start.Add(time.Minute), Principal: "arn:aws:iam::222222222222:root", Action: "ecr:ListImages", Resource: app, Effect: policy.ImplicitDeny},
	}
	if len(got) != len(want) {
		t.Fatalf("decisions: %+v\nwant %+v", got, want)
	}
	for i := range want {
		g := got[i]
		if !g.Time.Equal(want[i].Time) || g.Principal != want[i].Principal || g.Action != want[i].Action || g.Resource != want[i].Resource || g.Effect != want[i].Effect {
			t.Errorf("decision %d: %+v\nwant %+v", i, g, want[i])
		}
	}
	if !strings.Contains(got[1].Reason, "no resource-based policy allows") {
		t.Errorf("the denial's reason: %q", got[1].Reason)
	}

	// The deciding statement is named.
	policyJSON, _ := json.Marshal(pullBy("222222222222"))
	ecrCall(t, srv, "SetRepositoryPolicy", `{"repositoryName":"app","policyText":`+string(policyJSON)+`}`, owner)
	ecrCall(t, srv, "ListImages", `{"registryId":"`+owner+`","repositoryName":"app"}`, "222222222222")
	got = getDecisions(t, srv)
	if last := got[len(got)-1]; last.Effect != policy.Allow || !slices.Contains(last.Sids, "PullBy222222222222") {
		t.Errorf("the allowed pull's decision: %+v, want Allow by PullBy222222222222", last)
	}
}

// /_berth/decisions and /_berth/policies are admin endpoints: switched off
// with --admin=false, refused to web pages.
func TestDecisionsAndPoliciesHaveTheAdminGuards(t *testing.T) {
	srv := newTestServer(t, nil)
	off := newTestServer(t, func(c *Config) { c.NoAdmin = true })
	for _, path := range []string{"/_berth/decisions", "/_berth/policies"} {
		if rec := adminRequest(srv, "GET", path, "127.0.0.1:4566"); rec.Code != http.StatusOK {
			t.Errorf("%s from this machine: %d %s", path, rec.Code, rec.Body)
		}
		if rec := adminRequest(srv, "GET", path, "127.0.0.1:4566", "Origin: https://evil.example"); rec.Code != http.StatusForbidden {
			t.Errorf("%s from another origin: %d %s", path, rec.Code, rec.Body)
		}
		if rec := adminRequest(srv, "GET", path, "evil.example:4566"); rec.Code != http.StatusForbidden {
			t.Errorf("%s addressed to another host: %d %s", path, rec.Code, rec.Body)
		}
		if rec := adminRequest(off, "GET", path, "127.0.0.1:4566"); rec.Code != http.StatusNotFound {
			t.Errorf("%s with --admin=false: %d %s", path, rec.Code, rec.Body)
		}
	}
}

// The decision log keeps the most recent decisions only.
func TestDecisionsKeepTheMostRecent(t *testing.T) {
	srv := newTestServer(t, nil)
	for i := range 250 {
		ecrCall(t, srv, "DescribeRepositories", `{"repositoryNames":["r`+strconv.Itoa(i)+`"]}`, "111111111111")
	}
	got := getDecisions(t, srv)
	if len(got) != 200 || got[len(got)-1].Resource != "arn:aws:ecr:us-east-1:111111111111:repository/r249" ||
		got[0].Resource != "arn:aws:ecr:us-east-1:111111111111:repository/r50" {
		t.Errorf("%d decisions, from %+v to %+v; want the last 200", len(got), got[0], got[len(got)-1])
	}
}
