package berthtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The helper's promise: an SDK client and a /v2 client work out of the box
// against the same in-process registry.
func TestSDKAndRegistryClients(t *testing.T) {
	srv := New(t)
	ctx := context.Background()
	client := ecr.NewFromConfig(srv.AWSConfig)
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")}); err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(srv.Host+"/team/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "AWS", Password: srv.Token()})); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	out, err := client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ImageDetails) != 1 || aws.ToString(out.ImageDetails[0].ImageDigest) != want.String() || out.ImageDetails[0].ImageTags[0] != "v1" {
		t.Fatalf("DescribeImages = %+v, want %s tagged v1", out.ImageDetails, want)
	}
}

// Large responses, no retries: the client configuration must not lose
// connections mid-response (see bodyWithoutWriteTo).
func TestLargePagesWithoutRetries(t *testing.T) {
	srv := New(t)
	ctx := context.Background()
	client := ecr.NewFromConfig(srv.AWSConfig, func(o *ecr.Options) { o.RetryMaxAttempts = 1 })
	for i := 0; i < 400; i++ {
		if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("repo-%03d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 300; i++ {
		out, err := client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(400)})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if len(out.Repositories) != 400 {
			t.Fatalf("call %d: %d repositories", i, len(out.Repositories))
		}
	}
}
