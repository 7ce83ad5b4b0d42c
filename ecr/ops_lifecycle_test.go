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
	"github.com/berth-dev/berth/lifecycle"
)

// lifecycleFixture is a handler over a coretest registry (account
// 111111111111) with repository "app", and the lifecycle service it uses.
func lifecycleFixture(t *testing.T) (*Handler, *coretest.Fixture, *lifecycle.Service) {
	f := coretest.New(t, coretest.Memory, coretest.Options{})
	f.CreateRepository(coretest.RegA, "app")
	lc := lifecycle.New(f.Registry(), f.Clock, slog.New(slog.DiscardHandler))
	h := New(Config{Registry: f.Registry(), Tokens: core.NewTokens(core.RandomSecret(), f.Clock), DefaultAccount: "000000000000", Region: "us-east-1", Lifecycle: lc})
	return h, f, lc
}

func lifecyclePost(t *testing.T, h *Handler, op string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	rec, out := post(t, h, op, string(b), "111111111111", "us-east-1")
	return rec.Code, out
}

const keepThreeReleases = `{"rules":[{"rulePriority":1,"description":"keep three releases","selection":{"tagStatus":"tagged","tagPatternList":["release-*"],"countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}`

func TestLifecyclePolicyOperations(t *testing.T) {
	h, _, _ := lifecycleFixture(t)
	bad := strings.Replace(keepThreeReleases, `"countNumber":3`, `"countNumber":0`, 1)
	code, out := lifecyclePost(t, h, "PutLifecyclePolicy", map[string]string{"repositoryName": "app", "lifecyclePolicyText": bad})
	if code != 400 || out["__type"] != "InvalidParameterException" || !strings.Contains(fmt.Sprint(out["message"]), "countNumber must be an integer of at least 1") {
		t.Fatalf("invalid policy: %d %v", code, out)
	}
	code, out = lifecyclePost(t, h, "GetLifecyclePolicy", map[string]string{"repositoryName": "app"})
	if code != 400 || out["__type"] != "LifecyclePolicyNotFoundException" {
		t.Fatalf("an invalid policy was stored: %d %v", code, out)
	}
	code, out = lifecyclePost(t, h, "PutLifecyclePolicy", map[string]string{"repositoryName": "nope", "lifecyclePolicyText": keepThreeReleases})
	if code != 400 || out["__type"] != "RepositoryNotFoundException" {
		t.Fatalf("missing repository: %d %v", code, out)
	}
	code, out = lifecyclePost(t, h, "PutLifecyclePolicy", map[string]string{"repositoryName": "app", "lifecyclePolicyText": keepThreeReleases})
	if code != 200 || out["lifecyclePolicyText"] != keepThreeReleases || out["repositoryName"] != "app" || out["registryId"] != "111111111111" {
		t.Fatalf("PutLifecyclePolicy: %d %v", code, out)
	}
	code, out = lifecyclePost(t, h, "GetLifecyclePolicy", map[string]string{"repositoryName": "app"})
	if code != 200 || out["lifecyclePolicyText"] != keepThreeReleases {
		t.Fatalf("GetLifecyclePolicy: %d %v", code, out)
	}
	if _, ok := out["lastEvaluatedAt"]; ok {
		t.Errorf("lastEvaluatedAt %v before any enforcement (none is wired here)", out["lastEvaluatedAt"])
	}
	code, out = lifecyclePost(t, h, "DeleteLifecyclePolicy", map[string]string{"repositoryName": "app"})
	if code != 200 || out["lifecyclePolicyText"] != keepThreeReleases {
		t.Fatalf("DeleteLifecyclePolicy: %d %v", code, out)
	}
	code, out = lifecyclePost(t, h, "DeleteLifecyclePolicy", map[string]string{"repositoryName": "app"})
	if code != 400 || out["__type"] != "LifecyclePolicyNotFoundException" || !strings.Contains(fmt.Sprint(out["message"]), "'app'") {
		t.Fatalf("second DeleteLifecyclePolicy: %d %v", code, out)
	}
	code, out = lifecyclePost(t, h, "GetLifecyclePolicy", map[string]string{"repositoryName": "nope"})
	if code != 400 || out["__type"] != "RepositoryNotFoundException" {
		t.Fatalf("GetLifecyclePolicy of a missing repository: %d %v", code, out)
	}
}

func TestLifecyclePolicyPreviewPagesResultsWithASummary(t *testing.T) {
	h, f, lc := lifecycleFixture(t)
	reg := coretest.RegA
	for i := range 8 {
		f.PushImage(reg, "app", fmt.Sprintf("release-%d", i), fmt.Sprint("release ", i))
		f.Clock.Advance(time.Hour)
	}
	f.PushImage(reg, "app", "", "untagged")
	code, out := lifecyclePost(t, h, "GetLifecyclePolicyPreview", map[string]string{"repositoryName": "app"})
	if code != 400 || out["__type"] != "LifecyclePolicyPreviewNotFoundException" {
		t.Fatalf("before any preview: %d %v", code, out)
	}
	code, out = lifecyclePost(t, h, "StartLifecyclePolicyPreview", map[string]string{"repositoryName": "app"})
	if code != 400 || out["__type"] != "LifecyclePolicyNotFoundException" {
		t.Fatalf("preview without a policy: %d %v", code, out)
	}
	policy := strings.Replace(keepThreeReleases, `]}`, `,{"rulePriority":2,"description":"archive untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"transition","targetStorageClass":"archive"}}]}`, 1)
	f.Clock.Advance(2 * 24 * time.Hour)
	code, out = lifecyclePost(t, h, "StartLifecyclePolicyPreview", map[string]string{"repositoryName": "app", "lifecyclePolicyText": policy})
	if code != 200 || out["status"] != "IN_PROGRESS" || out["lifecyclePolicyText"] != policy {
		t.Fatalf("StartLifecyclePolicyPreview: %d %v", code, out)
	}
	lc.WaitPreviews()
	var digests []string
	token := ""
	for page := 0; ; page++ {
		body := map[string]any{"repositoryName": "app", "maxResults": 2}
		if token != "" {
			body["nextToken"] = token
		}
		code, out = lifecyclePost(t, h, "GetLifecyclePolicyPreview", body)
		if code != 200 || out["status"] != "COMPLETE" {
			t.Fatalf("GetLifecyclePolicyPreview page %d: %d %v", page, code, out)
		}
		summary := out["summary"].(map[string]any)
		if summary["expiringImageTotalCount"] != 5.0 || fmt.Sprint(summary["transitioningImageTotalCounts"]) != "[map[imageTotalCount:1 targetStorageClass:ARCHIVE]]" {
			t.Fatalf("summary %v, want 5 expiring and 1 transitioning", summary)
		}
		for _, r := range out["previewResults"].([]any) {
			r := r.(map[string]any)
			digests = append(digests, r["imageDigest"].(string))
			action := r["action"].(map[string]any)
			switch {
			case action["type"] == "EXPIRE" && r["appliedRulePriority"] == 1.0 && len(r["imageTags"].([]any)) == 1 && r["storageClass"] == "STANDARD" && r["imagePushedAt"] != nil:
			case action["type"] == "TRANSITION" && action["targetStorageClass"] == "ARCHIVE" && r["appliedRulePriority"] == 2.0 && r["imageTags"] == nil:
			default:
				t.Fatalf("result %v", r)
			}
		}
		token, _ = out["nextToken"].(string)
		if token == "" {
			break
		}
	}
	if len(digests) != 6 {
		t.Fatalf("%d results over the pages, want 6: %v", len(digests), digests)
	}
	code, out = lifecyclePost(t, h, "GetLifecyclePolicyPreview", map[string]any{"repositoryName": "app", "filter": map[string]string{"tagStatus": "UNTAGGED"}})
	if code != 200 || len(out["previewResults"].([]any)) != 1 {
		t.Fatalf("filtered to untagged: %d %v", code, out)
	}
	if n := len(f.Images(reg, "app")); n != 9 {
		t.Fatalf("a preview changed the repository: %d images left of 9", n)
	}
	code, out = lifecyclePost(t, h, "GetLifecyclePolicy", map[string]string{"repositoryName": "app"})
	if code != 400 || out["__type"] != "LifecyclePolicyNotFoundException" {
		t.Fatalf("the previewed text was stored: %d %v", code, out)
	}
}
