package berthtest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/berth-dev/berth/berthtest"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Create a repository through the ECR API, push an image to it and pull it
// back through /v2. In a test, berthtest.New(t) replaces Start and Close.
func Example() {
	srv, err := berthtest.Start() // in-process, in-memory, on a free loopback port
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	// aws-sdk-go-v2, as the default account
	client := ecr.NewFromConfig(srv.AWSConfig)
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")}); err != nil {
		log.Fatal(err)
	}

	// go-containerregistry, with a /v2 password for user AWS
	ref, err := name.ParseReference(srv.Host+"/team/app:v1", name.Insecure)
	if err != nil {
		log.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "AWS", Password: srv.Token()})
	img, err := random.Image(1024, 2)
	if err != nil {
		log.Fatal(err)
	}
	if err := remote.Write(ref, img, auth); err != nil {
		log.Fatal(err)
	}
	pulled, err := remote.Image(ref, auth)
	if err != nil {
		log.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		log.Fatal(err)
	}
	got, err := pulled.Digest()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pulled what was pushed:", got == want)

	out, err := client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tags:", out.ImageDetails[0].ImageTags)
	// Output:
	// pulled what was pushed: true
	// tags: [v1]
}
