package ecr

import (
	"encoding/json"
	"strings"
	"testing"
)

// The ECR API has no Content-Type to give a manifest's media type: a
// manifest without a mediaType needs imageManifestMediaType, as in ECR,
// rather than a guess.
func TestPutImageNeedsAMediaType(t *testing.T) {
	h := newTestHandler(t)
	post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "", "")
	put := func(manifest, mediaType, tag string) (int, map[string]any) {
		in := map[string]string{"repositoryName": "app", "imageTag": tag, "imageManifest": manifest}
		if mediaType != "" {
			in["imageManifestMediaType"] = mediaType
		}
		body, _ := json.Marshal(in)
		rec, out := post(t, h, "PutImage", string(body), "", "")
		return rec.Code, out
	}
	const index = `{"schemaVersion":2,"manifests":[]}`
	for _, m := range []string{index, `{"schemaVersion":2,"mediaType":"","manifests":[]}`} {
		code, out := put(m, "", "guessed")
		if code != 400 || out["__type"] != "InvalidParameterException" ||
			out["message"] != "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'" {
			t.Errorf("%s without imageManifestMediaType: %d %v", m, code, out)
		}
	}
	if code, out := post(t, h, "ListImages", `{"repositoryName":"app"}`, "", ""); code.Code != 200 || len(out["imageIds"].([]any)) != 0 {
		t.Errorf("an image was stored: %v", out)
	}

	code, out := put(index, "application/vnd.oci.image.index.v1+json", "declared")
	if img, _ := out["image"].(map[string]any); code != 200 || img["imageManifestMediaType"] != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("with imageManifestMediaType: %d %v", code, out)
	}
	code, out = put(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, "", "in-manifest")
	if code != 200 {
		t.Errorf("with a mediaType in the manifest: %d %v", code, out)
	}
	// A manifest that is not JSON is judged by core, as before.
	if code, out := put(`not json`, "", "broken"); code != 400 || out["__type"] != "InvalidParameterException" {
		t.Errorf("not JSON: %d %v", code, out)
	}
}

// DescribeImages by id answers RepositoryNotFoundException for a missing
// repository whatever its ids (a malformed one first too), and, in a
// repository that is there, ImageNotFoundException for an image that is not
// and InvalidParameterException for a malformed id.
func TestDescribeImagesByIDTellsAMissingRepositoryFromAMissingImage(t *testing.T) {
	h := newTestHandler(t)
	ids := []string{
		`[{"imageTag":"v1"}]`,
		`[{"imageDigest":"sha256:` + strings.Repeat("a", 64) + `"}]`,
		`[{"imageDigest":"nodigest"}]`,
		`[{"imageDigest":"nodigest"},{"imageTag":"v1"}]`,
		`[{}]`,
	}
	describe := func(ids string) map[string]any {
		_, out := post(t, h, "DescribeImages", `{"repositoryName":"app","imageIds":`+ids+`}`, "", "")
		return out
	}
	for _, id := range ids {
		if out := describe(id); out["__type"] != "RepositoryNotFoundException" {
			t.Errorf("missing repository, ids %s: %v", id, out)
		}
	}
	post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "", "")
	for i, want := range []string{"ImageNotFoundException", "ImageNotFoundException", "InvalidParameterException", "InvalidParameterException", "InvalidParameterException"} {
		if out := describe(ids[i]); out["__type"] != want {
			t.Errorf("repository there, ids %s: %v, want %s", ids[i], out, want)
		}
	}
}
