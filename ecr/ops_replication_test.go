package ecr

import (
	"fmt"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core/coretest"
)

func TestReplicationOperations(t *testing.T) {
	h, f := featureFixture(t)
	code, out := callOp(t, h, "DescribeRegistry", map[string]any{})
	if code != 200 || fmt.Sprint(out["replicationConfiguration"]) != "map[rules:[]]" {
		t.Fatalf("DescribeRegistry before any: %d %v", code, out)
	}
	self := map[string]any{"rules": []any{map[string]any{"destinations": []any{map[string]string{"region": "us-east-1", "registryId": "111111111111"}}}}}
	code, out = callOp(t, h, "PutReplicationConfiguration", map[string]any{"replicationConfiguration": self})
	if code != 400 || out["__type"] != "InvalidParameterException" ||
		out["message"] != "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: 'Replication destination cannot be the same as the source registry'" {
		t.Fatalf("replicating to itself: %d %v", code, out)
	}
	cfg := map[string]any{"rules": []any{map[string]any{
		"destinations":      []any{map[string]string{"region": "eu-west-1", "registryId": "111111111111"}},
		"repositoryFilters": []any{map[string]string{"filter": "app", "filterType": "PREFIX_MATCH"}}}}}
	code, out = callOp(t, h, "PutReplicationConfiguration", map[string]any{"replicationConfiguration": cfg})
	if code != 200 || fmt.Sprint(out["replicationConfiguration"]) != fmt.Sprint(cfg) {
		t.Fatalf("PutReplicationConfiguration: %d %v", code, out)
	}
	code, out = callOp(t, h, "DescribeRegistry", map[string]any{})
	if code != 200 || out["registryId"] != "111111111111" || fmt.Sprint(out["replicationConfiguration"]) != fmt.Sprint(cfg) {
		t.Fatalf("DescribeRegistry: %d %v", code, out)
	}

	f.CreateRepository(coretest.RegA, "app")
	img := f.PushImage(coretest.RegA, "app", "v1", "one")
	f.Wait()
	code, out = callOp(t, h, "DescribeImageReplicationStatus", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}})
	if code != 200 || out["repositoryName"] != "app" || fmt.Sprint(out["imageId"]) != fmt.Sprintf("map[imageDigest:%s imageTag:v1]", img.Digest) ||
		fmt.Sprint(out["replicationStatuses"]) != "[map[region:eu-west-1 registryId:111111111111 status:COMPLETE]]" {
		t.Fatalf("DescribeImageReplicationStatus: %d %v", code, out)
	}
	code, out = callOp(t, h, "DescribeImageReplicationStatus", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v9"}})
	if code != 400 || out["__type"] != "ImageNotFoundException" || !strings.Contains(fmt.Sprint(out["message"]), "imageTag:'v9'") {
		t.Fatalf("an unknown image: %d %v", code, out)
	}
	code, out = callOp(t, h, "DescribeImageReplicationStatus", map[string]any{"repositoryName": "nope", "imageId": map[string]string{"imageTag": "v1"}})
	if code != 400 || out["__type"] != "RepositoryNotFoundException" {
		t.Fatalf("an unknown repository: %d %v", code, out)
	}
	code, out = callOp(t, h, "DescribeImageReplicationStatus", map[string]any{"repositoryName": "app", "imageId": map[string]string{}})
	if code != 400 || out["__type"] != "InvalidParameterException" {
		t.Fatalf("an empty image id: %d %v", code, out)
	}
	// Clearing the configuration: no rules.
	code, out = callOp(t, h, "PutReplicationConfiguration", map[string]any{"replicationConfiguration": map[string]any{"rules": []any{}}})
	if code != 200 {
		t.Fatalf("clearing: %d %v", code, out)
	}
	if _, out = callOp(t, h, "DescribeRegistry", map[string]any{}); fmt.Sprint(out["replicationConfiguration"]) != "map[rules:[]]" {
		t.Fatalf("after clearing: %v", out)
	}
}
