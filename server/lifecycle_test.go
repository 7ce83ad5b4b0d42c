package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

const expireUntaggedAfter3Days = `{"rules":[{"rulePriority":1,"description":"expire untagged images after 3 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3},"action":{"type":"expire"}}]}`

// pushUntagged pushes a small image by digest through /v2 and returns its digest.
func pushUntagged(t *testing.T, srv *Server, repo, seed string) digest.Digest {
	t.Helper()
	const owner = "000000000000"
	host := "127.0.0.1:4566"
	password := v2Password(t, srv, owner, `["`+owner+`"]`)
	layer, config := []byte("layer of "+seed), []byte(`{"architecture":"amd64","os":"linux","seed":"`+seed+`","rootfs":{"type":"layers","diff_ids":[]}}`)
	for _, b := range [][]byte{layer, config} {
		if rec := v2Do(srv, "POST", host, "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), password, "application/octet-stream", b); rec.Code != http.StatusCreated {
			t.Fatalf("blob upload: %d %s", rec.Code, rec.Body)
		}
	}
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(config), len(config), digest.FromBytes(layer), len(layer))
	dg := digest.FromString(manifest)
	if rec := v2Do(srv, "PUT", host, "/v2/"+repo+"/manifests/"+dg.String(), password, "application/vnd.oci.image.manifest.v1+json", []byte(manifest)); rec.Code != http.StatusCreated {
		t.Fatalf("manifest push: %d %s", rec.Code, rec.Body)
	}
	return dg
}

func waitEvents(t *testing.T, srv *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Registry().Bus().Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// POST /_berth/lifecycle/run enforces every policy now and says what it
// did; with --lifecycle-interval 0 nothing else sweeps.
func TestLifecycleRunEnforcesNowAndReportsWhatItDid(t *testing.T) {
	clock := core.NewManualClock(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
	srv := newTestServer(t, func(c *Config) { c.Clock, c.LifecycleInterval = clock, 0 })
	ecrCall(t, srv, "CreateRepository", `{"repositoryName":"app"}`, "000000000000")
	body, _ := json.Marshal(map[string]string{"repositoryName": "app", "lifecyclePolicyText": expireUntaggedAfter3Days})
	if code, out := ecrCall(t, srv, "PutLifecyclePolicy", string(body), "000000000000"); code != http.StatusOK {
		t.Fatalf("PutLifecyclePolicy: %d %v", code, out)
	}
	pushUntagged(t, srv, "app", "old")
	waitEvents(t, srv)
	clock.Advance(4 * 24 * time.Hour)
	young := pushUntagged(t, srv, "app", "young") // its push enforces the policy too
	waitEvents(t, srv)
	clock.Advance(2 * 24 * time.Hour)
	if code, out := ecrCall(t, srv, "ListImages", `{"repositoryName":"app"}`, "000000000000"); code != http.StatusOK || len(out["imageIds"].([]any)) != 1 {
		t.Fatalf("after the push: %d %v, want the old image expired by the push's enforcement", code, out)
	}
	clock.Advance(2 * 24 * time.Hour) // young is four days old; nothing sweeps
	rec := adminRequest(srv, "POST", "/_berth/lifecycle/run", "127.0.0.1:4566")
	var out struct {
		Repositories []lifecycleRun `json:"repositories"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("run: %d %s", rec.Code, rec.Body)
	}
	if len(out.Repositories) != 1 || out.Repositories[0].RepositoryName != "app" || len(out.Repositories[0].Expired) != 1 || out.Repositories[0].Expired[0] != young.String() {
		t.Fatalf("run answered %s, want app's young image (%s) expired", rec.Body, young)
	}
	code, got := ecrCall(t, srv, "GetLifecyclePolicy", `{"repositoryName":"app"}`, "000000000000")
	if code != http.StatusOK || got["lastEvaluatedAt"] == nil {
		t.Fatalf("GetLifecyclePolicy: %d %v", code, got)
	}
	if at := time.Unix(int64(got["lastEvaluatedAt"].(float64)), 0).UTC(); !at.Equal(clock.Now()) {
		t.Errorf("lastEvaluatedAt %v, want the run's time %v", at, clock.Now())
	}
	if rec := adminRequest(srv, "POST", "/_berth/lifecycle/run", "evil.example"); rec.Code != http.StatusForbidden {
		t.Errorf("run from a foreign host: %d", rec.Code)
	}
}

// The periodic sweep runs on the server's clock, every --lifecycle-interval
// (5 minutes unless set).
func TestLifecycleSweepRunsEveryInterval(t *testing.T) {
	if Defaults().LifecycleInterval != 5*time.Minute {
		t.Fatalf("default interval %v, want 5m", Defaults().LifecycleInterval)
	}
	clock := core.NewManualClock(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
	srv := newTestServer(t, func(c *Config) { c.Clock = clock })
	ecrCall(t, srv, "CreateRepository", `{"repositoryName":"app"}`, "000000000000")
	body, _ := json.Marshal(map[string]string{"repositoryName": "app", "lifecyclePolicyText": expireUntaggedAfter3Days})
	ecrCall(t, srv, "PutLifecyclePolicy", string(body), "000000000000")
	pushUntagged(t, srv, "app", "x")
	waitEvents(t, srv)
	clock.Advance(3*24*time.Hour + 5*time.Minute)
	if code, out := ecrCall(t, srv, "ListImages", `{"repositoryName":"app"}`, "000000000000"); code != http.StatusOK || len(out["imageIds"].([]any)) != 0 {
		t.Fatalf("after three days and a sweep: %d %v", code, out)
	}
}

// POST /_berth/reset forgets lifecycle previews with everything else, even
// when the repository is made again at the same instant of a manual clock.
func TestResetForgetsLifecyclePreviews(t *testing.T) {
	clock := core.NewManualClock(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
	srv := newTestServer(t, func(c *Config) { c.Clock, c.LifecycleInterval = clock, 0 })
	body, _ := json.Marshal(map[string]string{"repositoryName": "app", "lifecyclePolicyText": expireUntaggedAfter3Days})
	ecrCall(t, srv, "CreateRepository", `{"repositoryName":"app"}`, "000000000000")
	if code, out := ecrCall(t, srv, "StartLifecyclePolicyPreview", string(body), "000000000000"); code != http.StatusOK {
		t.Fatalf("StartLifecyclePolicyPreview: %d %v", code, out)
	}
	srv.lifecycle.WaitPreviews()
	if code, out := ecrCall(t, srv, "GetLifecyclePolicyPreview", `{"repositoryName":"app"}`, "000000000000"); code != http.StatusOK || out["status"] != "COMPLETE" {
		t.Fatalf("GetLifecyclePolicyPreview: %d %v", code, out)
	}
	if rec := adminRequest(srv, "POST", "/_berth/reset", "127.0.0.1:4566"); rec.Code != http.StatusOK {
		t.Fatalf("reset: %d %s", rec.Code, rec.Body)
	}
	ecrCall(t, srv, "CreateRepository", `{"repositoryName":"app"}`, "000000000000")
	if code, out := ecrCall(t, srv, "GetLifecyclePolicyPreview", `{"repositoryName":"app"}`, "000000000000"); code != http.StatusBadRequest || out["__type"] != "LifecyclePolicyPreviewNotFoundException" {
		t.Fatalf("GetLifecyclePolicyPreview after a reset: %d %v", code, out)
	}
}
