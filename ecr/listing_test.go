package ecr

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// repoWithConfig creates repo holding one config blob and returns its digest.
func repoWithConfig(t *testing.T, h *Handler, repo string) string {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	post(t, h, "CreateRepository", fmt.Sprintf(`{"repositoryName":%q}`, repo), "", "")
	_, out := post(t, h, "InitiateLayerUpload", fmt.Sprintf(`{"repositoryName":%q}`, repo), "", "")
	id := out["uploadId"].(string)
	post(t, h, "UploadLayerPart", fmt.Sprintf(`{"repositoryName":%q,"uploadId":%q,"partFirstByte":0,"partLastByte":%d,"layerPartBlob":%q}`,
		repo, id, len(cfg)-1, base64.StdEncoding.EncodeToString(cfg)), "", "")
	rec, out := post(t, h, "CompleteLayerUpload", fmt.Sprintf(`{"repositoryName":%q,"uploadId":%q,"layerDigests":[%q]}`, repo, id, digest.FromBytes(cfg)), "", "")
	if rec.Code != 200 {
		t.Fatalf("CompleteLayerUpload: %d %v", rec.Code, out)
	}
	return digest.FromBytes(cfg).String()
}

// putImage puts manifest under tag (none if empty) and returns its digest.
func putImage(t *testing.T, h *Handler, repo, tag, manifest string) string {
	t.Helper()
	body := fmt.Sprintf(`{"repositoryName":%q,"imageManifest":%q}`, repo, manifest)
	if tag != "" {
		body = fmt.Sprintf(`{"repositoryName":%q,"imageTag":%q,"imageManifest":%q}`, repo, tag, manifest)
	}
	rec, out := post(t, h, "PutImage", body, "", "")
	if rec.Code != 200 {
		t.Fatalf("PutImage: %d %v", rec.Code, out)
	}
	return digest.FromString(manifest).String()
}

// archiveImage moves the image dg to the ARCHIVE storage class.
func archiveImage(t *testing.T, h *Handler, repo, dg string) {
	t.Helper()
	rec, out := post(t, h, "UpdateImageStorageClass", fmt.Sprintf(`{"repositoryName":%q,"imageId":{"imageDigest":%q},"targetStorageClass":"ARCHIVE"}`, repo, dg), "", "")
	if rec.Code != 200 {
		t.Fatalf("UpdateImageStorageClass: %d %v", rec.Code, out)
	}
}

// DescribeRepositories returns up to 100 repositories when maxResults is not given.
func TestDescribeRepositoriesDefaultPageIs100(t *testing.T) {
	h := newTestHandler(t)
	for i := range 101 {
		post(t, h, "CreateRepository", fmt.Sprintf(`{"repositoryName":"r%03d"}`, i), "", "")
	}
	_, out := post(t, h, "DescribeRepositories", `{}`, "", "")
	if n := len(out["repositories"].([]any)); n != 100 || out["nextToken"] == nil {
		t.Fatalf("first page: %d repositories, nextToken %v; want 100 and a token", n, out["nextToken"])
	}
	_, out = post(t, h, "DescribeRepositories", fmt.Sprintf(`{"nextToken":%q}`, out["nextToken"]), "", "")
	if n := len(out["repositories"].([]any)); n != 1 || out["nextToken"] != nil {
		t.Fatalf("second page: %d repositories, nextToken %v", n, out["nextToken"])
	}
}

// putReferrers puts n artifacts whose subject is an image tagged app, and
// returns the subject's digest and the artifacts' digests.
func putReferrers(t *testing.T, h *Handler, repo string, n int) (string, []string) {
	t.Helper()
	cfg := repoWithConfig(t, h, repo)
	subject := manifestFor(cfg, 0)
	sd := putImage(t, h, repo, "app", subject)
	var arts []string
	for i := range n {
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sbom","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":37},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d},"annotations":{"n":"%d"}}`,
			cfg, sd, len(subject), i)
		arts = append(arts, putImage(t, h, repo, "", m))
	}
	return sd, arts
}

// ListImageReferrers returns up to 20 referrers when maxResults is not given.
func TestListImageReferrersDefaultPageIs20(t *testing.T) {
	h := newTestHandler(t)
	sd, _ := putReferrers(t, h, "refs", 21)
	_, out := post(t, h, "ListImageReferrers", fmt.Sprintf(`{"repositoryName":"refs","subjectId":{"imageDigest":%q}}`, sd), "", "")
	if n := len(out["referrers"].([]any)); n != 20 || out["nextToken"] == nil {
		t.Fatalf("first page: %d referrers, nextToken %v; want 20 and a token", n, out["nextToken"])
	}
}

// Without an imageStatus (artifactStatus) filter, DescribeImages, ListImages
// and ListImageReferrers list ACTIVE images only.
func TestArchivedImagesHiddenByDefault(t *testing.T) {
	h := newTestHandler(t)
	sd, arts := putReferrers(t, h, "arch", 2)
	cfg := repoWithConfig(t, h, "plain")
	cold := putImage(t, h, "plain", "cold", manifestFor(cfg, 1))
	warm := putImage(t, h, "plain", "warm", manifestFor(cfg, 2))
	archiveImage(t, h, "plain", cold)
	archiveImage(t, h, "arch", arts[0])

	digests := func(list []any, key string) []string {
		var ds []string
		for _, x := range list {
			ds = append(ds, x.(map[string]any)[key].(string))
		}
		return ds
	}
	for _, c := range []struct{ filter, want string }{{``, warm}, {`,"filter":{}`, warm}, {`,"filter":{"tagStatus":"TAGGED"}`, warm}, {`,"filter":{"imageStatus":"ARCHIVED"}`, cold}} {
		_, out := post(t, h, "DescribeImages", `{"repositoryName":"plain"`+c.filter+`}`, "", "")
		if got := digests(out["imageDetails"].([]any), "imageDigest"); len(got) != 1 || got[0] != c.want {
			t.Errorf("DescribeImages%s: %v, want [%s]", c.filter, got, c.want)
		}
		_, out = post(t, h, "ListImages", `{"repositoryName":"plain"`+c.filter+`}`, "", "")
		if got := digests(out["imageIds"].([]any), "imageDigest"); len(got) != 1 || got[0] != c.want {
			t.Errorf("ListImages%s: %v, want [%s]", c.filter, got, c.want)
		}
	}
	_, out := post(t, h, "DescribeImages", `{"repositoryName":"plain","filter":{"imageStatus":"ANY"}}`, "", "")
	if n := len(out["imageDetails"].([]any)); n != 2 {
		t.Errorf("DescribeImages ANY: %d images, want 2", n)
	}
	for _, c := range []struct{ filter, want string }{{``, arts[1]}, {`,"filter":{"artifactTypes":["application/vnd.example.sbom"]}`, arts[1]}, {`,"filter":{"artifactStatus":"ARCHIVED"}`, arts[0]}} {
		_, out := post(t, h, "ListImageReferrers", fmt.Sprintf(`{"repositoryName":"arch","subjectId":{"imageDigest":%q}%s}`, sd, c.filter), "", "")
		if got := digests(out["referrers"].([]any), "digest"); len(got) != 1 || got[0] != c.want {
			t.Errorf("ListImageReferrers%s: %v, want [%s]", c.filter, got, c.want)
		}
	}
}

// maxResults and nextToken cannot be used with imageIds in DescribeImages, as
// in DescribeRepositories with repositoryNames.
func TestDescribeImagesRejectsImageIDsWithPagination(t *testing.T) {
	h := newTestHandler(t)
	cfg := repoWithConfig(t, h, "app")
	putImage(t, h, "app", "v1", manifestFor(cfg, 0))
	for _, extra := range []string{`"maxResults":5`, `"nextToken":"eA"`} {
		rec, out := post(t, h, "DescribeImages", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}],`+extra+`}`, "", "")
		if rec.Code != 400 || out["__type"] != "InvalidParameterException" {
			t.Errorf("DescribeImages imageIds with %s: %d %v", extra, rec.Code, out)
		}
	}
}

// ListImages pages through (digest, tag) pairs in order, untagged images as
// one pair each: every page size, a page that ends inside an image's tags,
// and an image deleted between pages give every pair exactly once.
func TestListImagesPagesThroughEveryPairOnce(t *testing.T) {
	h := newTestHandler(t)
	cfg := repoWithConfig(t, h, "app")
	manifest := func(i int) string {
		return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":37},"layers":[],"annotations":{"n":"%d"}}`, cfg, i)
	}
	want := map[string]bool{}
	for i := range 12 {
		m := manifest(i)
		d := ""
		switch i % 3 {
		case 0: // untagged
			d = putImage(t, h, "app", "", m)
			want[d+" "] = true
		default: // several tags
			for j := range i % 3 * 2 {
				tag := fmt.Sprintf("t%d-%d", i, j)
				d = putImage(t, h, "app", tag, m)
				want[d+" "+tag] = true
			}
		}
	}
	list := func(size int, between func()) []string {
		t.Helper()
		var got []string
		token := ""
		for range 100 {
			body := fmt.Sprintf(`{"repositoryName":"app","maxResults":%d}`, size)
			if token != "" {
				body = fmt.Sprintf(`{"repositoryName":"app","maxResults":%d,"nextToken":%q}`, size, token)
			}
			rec, out := post(t, h, "ListImages", body, "", "")
			if rec.Code != 200 {
				t.Fatalf("ListImages: %d %v", rec.Code, out)
			}
			ids := out["imageIds"].([]any)
			if len(ids) > size {
				t.Fatalf("a page of %d for maxResults %d", len(ids), size)
			}
			for _, id := range ids {
				m := id.(map[string]any)
				tag, _ := m["imageTag"].(string)
				got = append(got, m["imageDigest"].(string)+" "+tag)
			}
			next, _ := out["nextToken"].(string)
			if next == "" {
				return got
			}
			token = next
			if between != nil {
				between()
				between = nil
			}
		}
		t.Fatal("ListImages never ended")
		return nil
	}
	for _, size := range []int{1, 2, 3, 5, 7, 100} {
		got := list(size, nil)
		seen := map[string]bool{}
		for i, p := range got {
			if seen[p] || !want[p] {
				t.Fatalf("maxResults %d: pair %q repeated or unknown", size, p)
			}
			seen[p] = true
			if i > 0 && got[i-1] >= p {
				t.Fatalf("maxResults %d: %q after %q: out of order", size, p, got[i-1])
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("maxResults %d: %d pairs, want %d", size, len(seen), len(want))
		}
	}
	// The image a page ended in is deleted before the next page: the rest still come.
	first := list(1, nil)[0]
	got := list(1, func() {
		d, _, _ := strings.Cut(first, " ")
		post(t, h, "BatchDeleteImage", fmt.Sprintf(`{"repositoryName":"app","imageIds":[{"imageDigest":%q}]}`, d), "", "")
	})
	if len(got) < 2 || got[0] != first || got[1] <= first {
		t.Fatalf("after a deletion between pages: %v", got)
	}
}
