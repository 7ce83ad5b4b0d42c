package e2e

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// berth --memory keeps its store in slabs it compacts as records die. Through
// real clients: images pushed with go-containerregistry, most of them deleted
// with BatchDeleteImage, a survivor retagged with PutImage (whose answer
// repeats the manifest as sent); then the ECR API lists exactly the survivors
// and /v2 serves each with its digest, and a deleted one not at all.
func TestMemoryModeKeepsWhatSurvivesDeletesAcrossBothSurfaces(t *testing.T) {
	t.Parallel()
	b := Start(t, "--memory")
	s := defaultSDK(t, b)
	ctx := s.ctx
	s.createRepo("mem/churn")
	opts := ggcr(newTransport(t, b), s.token())

	const pushed, kept = 150, 10
	digests := make([]string, pushed)
	for i := range pushed {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref(t, b, fmt.Sprintf("mem/churn:t%d", i)), img, opts...); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		dg, _ := img.Digest()
		digests[i] = dg.String()
	}
	for from := kept; from < pushed; from += 100 {
		var ids []types.ImageIdentifier
		for _, d := range digests[from:min(from+100, pushed)] {
			ids = append(ids, types.ImageIdentifier{ImageDigest: aws.String(d)})
		}
		out, err := s.ecr.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("mem/churn"), ImageIds: ids})
		noErr(t, "BatchDeleteImage", err)
		if len(out.Failures) != 0 || len(out.ImageIds) < len(ids) {
			t.Fatalf("deleted %d of %d, failures %+v", len(out.ImageIds), len(ids), out.Failures)
		}
	}

	got, err := s.ecr.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("mem/churn"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("t0")}}})
	noErr(t, "BatchGetImage", err)
	if len(got.Images) != 1 {
		t.Fatalf("images %+v, failures %+v", got.Images, got.Failures)
	}
	manifest := aws.ToString(got.Images[0].ImageManifest)
	put, err := s.ecr.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("mem/churn"),
		ImageTag: aws.String("retagged"), ImageManifest: aws.String(manifest)})
	noErr(t, "PutImage", err)
	eq(t, "PutImage imageManifest", aws.ToString(put.Image.ImageManifest), manifest)
	eq(t, "PutImage imageDigest", aws.ToString(put.Image.ImageId.ImageDigest), digests[0])

	want := map[string]bool{}
	for _, d := range digests[:kept] {
		want[d] = true
	}
	listed := map[string]bool{}
	p := ecr.NewDescribeImagesPaginator(s.ecr, &ecr.DescribeImagesInput{RepositoryName: aws.String("mem/churn"), MaxResults: aws.Int32(4)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		noErr(t, "DescribeImages", err)
		for _, d := range page.ImageDetails {
			listed[aws.ToString(d.ImageDigest)] = true
		}
	}
	if len(listed) != kept {
		t.Fatalf("DescribeImages lists %d images, want the %d kept", len(listed), kept)
	}
	for d := range listed {
		if !want[d] {
			t.Fatalf("DescribeImages lists %s, which was deleted", d)
		}
	}

	for i, d := range digests[:kept] {
		desc, err := remote.Get(ref(t, b, "mem/churn@"+d), opts...)
		if err != nil {
			t.Fatalf("pull of kept image %d: %v", i, err)
		}
		eq(t, "pulled digest", desc.Digest.String(), d)
	}
	if _, err := remote.Get(ref(t, b, "mem/churn@"+digests[kept]), opts...); err == nil {
		t.Fatal("a deleted image is still served over /v2")
	}
	if desc, err := remote.Get(ref(t, b, "mem/churn:retagged"), opts...); err != nil || desc.Digest.String() != digests[0] {
		t.Fatalf("pull by the PutImage tag: %v, %v", desc, err)
	}
}
