package berthtest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/berth-dev/berth/berthtest"
	"github.com/berth-dev/berth/core"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pushRandom pushes a random image to repo under ref (":tag", or "" for by
// digest) with ggcr and returns its digest.
func pushRandom(t *testing.T, srv *berthtest.Server, repo, tag string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	r := srv.Host + "/" + repo + "@" + d.String()
	if tag != "" {
		r = srv.Host + "/" + repo + ":" + tag
	}
	ref, err := name.ParseReference(r, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "AWS", Password: srv.Token()})); err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func imagesIn(t *testing.T, client *ecr.Client, repo string) map[string]types.ImageDetail {
	t.Helper()
	out, err := client.DescribeImages(context.Background(), &ecr.DescribeImagesInput{RepositoryName: aws.String(repo),
		Filter: &types.DescribeImagesFilter{ImageStatus: types.ImageStatusFilterAny}})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]types.ImageDetail{}
	for _, d := range out.ImageDetails {
		m[aws.ToString(d.ImageDigest)] = d
	}
	return m
}

// "Expire untagged images after N days", aged by advancing the server's
// clock: the periodic sweep (every 5 minutes on that clock) expires the
// untagged image once it is more than seven days old, and only then.
func TestLifecycleExpiresUntaggedImagesAsTheClockAdvances(t *testing.T) {
	clock := core.NewManualClock(start)
	srv := berthtest.New(t, berthtest.WithClock(clock))
	ctx := context.Background()
	client := ecr.NewFromConfig(srv.AWSConfig)
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	const policy = `{"rules":[{"rulePriority":1,"description":"expire untagged images after 7 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}`
	if _, err := client.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("app"), LifecyclePolicyText: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	tagged := pushRandom(t, srv, "app", "v1")
	untagged := pushRandom(t, srv, "app", "")
	clock.Advance(7 * 24 * time.Hour)
	if err := srv.WaitForEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := imagesIn(t, client, "app")[untagged]; !ok {
		t.Fatal("the untagged image expired at exactly seven days")
	}
	clock.Advance(10 * time.Minute)
	if err := srv.WaitForEvents(ctx); err != nil {
		t.Fatal(err)
	}
	left := imagesIn(t, client, "app")
	if _, ok := left[untagged]; ok || len(left) != 1 {
		t.Fatalf("images left %v, want only the tagged one", left)
	}
	if _, ok := left[tagged]; !ok {
		t.Fatal("the tagged image went too")
	}
	got, err := client.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	if at := aws.ToTime(got.LastEvaluatedAt); at.Before(start.Add(7*24*time.Hour)) || at.After(clock.Now()) {
		t.Errorf("lastEvaluatedAt %v, want a sweep's time after the seventh day", at)
	}
}

// A transition to ARCHIVE makes the image unpullable on /v2 (404
// MANIFEST_UNKNOWN) until UpdateImageStorageClass restores it.
func TestLifecycleArchivesUnpulledImages(t *testing.T) {
	clock := core.NewManualClock(start)
	srv := berthtest.New(t, berthtest.WithClock(clock))
	ctx := context.Background()
	client := ecr.NewFromConfig(srv.AWSConfig)
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	cold := pushRandom(t, srv, "app", "cold")
	hot := pushRandom(t, srv, "app", "hot")
	clock.Advance(31 * 24 * time.Hour)
	if resp := v2(t, srv, "GET", "/v2/app/manifests/hot", srv.Token(), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("pull of hot: %d", resp.StatusCode)
	}
	clock.Advance(time.Second)
	const policy = `{"rules":[{"rulePriority":1,"description":"archive images nobody pulled for 30 days","selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}}]}`
	if _, err := client.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("app"), LifecyclePolicyText: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitForEvents(ctx); err != nil {
		t.Fatal(err)
	}
	images := imagesIn(t, client, "app")
	if images[cold].ImageStatus != types.ImageStatusArchived || images[hot].ImageStatus != types.ImageStatusActive {
		t.Fatalf("statuses cold %s, hot %s; want ARCHIVED and ACTIVE", images[cold].ImageStatus, images[hot].ImageStatus)
	}
	resp := v2(t, srv, "GET", "/v2/app/manifests/cold", srv.Token(), "")
	if resp.StatusCode != http.StatusNotFound || ociErrorCode(t, resp) != "MANIFEST_UNKNOWN" {
		t.Fatalf("pull of an archived image: %d", resp.StatusCode)
	}
	if _, err := client.UpdateImageStorageClass(ctx, &ecr.UpdateImageStorageClassInput{RepositoryName: aws.String("app"),
		ImageId: &types.ImageIdentifier{ImageTag: aws.String("cold")}, TargetStorageClass: types.TargetStorageClassStandard}); err != nil {
		t.Fatal(err)
	}
	if resp := v2(t, srv, "GET", "/v2/app/manifests/cold", srv.Token(), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("pull after the restore: %d", resp.StatusCode)
	}
}
