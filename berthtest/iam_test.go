package berthtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/smithy-go"

	"github.com/berth-dev/berth/berthtest"
)

// A test suite gives berth its identities and acts as one of them.
func TestAConfiguredUserIsLimitedByItsIdentityPolicy(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "iam.yaml")
	if err := os.WriteFile(cfg, []byte(`accounts:
  - id: "111111111111"
    users:
      - name: reader
        access_keys: [AKIAREADER000000001]
        policies:
          - '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:Describe*","Resource":"*"}]}'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := berthtest.New(t, berthtest.WithIAMConfig(cfg))
	ctx := context.Background()
	root := ecr.NewFromConfig(srv.AWSConfigFor("111111111111"))
	if _, err := root.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")}); err != nil {
		t.Fatalf("the account's root: %v", err)
	}
	reader := ecr.NewFromConfig(srv.AWSConfigFor("AKIAREADER000000001"))
	if _, err := reader.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); err != nil {
		t.Fatalf("the reader describes: %v", err)
	}
	_, err := reader.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("app")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" ||
		ae.ErrorMessage() != "User: arn:aws:iam::111111111111:user/reader is not authorized to perform: ecr:DeleteRepository on resource: arn:aws:ecr:us-east-1:111111111111:repository/app because no identity-based policy allows the ecr:DeleteRepository action" {
		t.Fatalf("the reader deletes: %v", err)
	}
}
