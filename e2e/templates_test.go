package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

const (
	templatePolicy    = `{"Version":"2012-10-17","Statement":[{"Sid":"PullFromB","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	templateLifecycle = `{"rules":[{"rulePriority":1,"description":"expire untagged after 14 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`
)

// ecrRef is a reference to repo:tag through account's registry host in
// region, on b's port.
func ecrRef(t testing.TB, b *Berth, account, region, repoTag string) name.Reference {
	t.Helper()
	_, port, _ := strings.Cut(b.Addr, ":")
	r, err := name.ParseReference(ecrHost(account, region)+":"+port+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushRandom pushes a random image to ref.
func pushRandom(t testing.TB, tr http.RoundTripper, token string, ref name.Reference) {
	t.Helper()
	if err := remote.Write(ref, mustRandom(t), ggcr(tr, token)...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func wantNameUnknown(t testing.TB, what string, err error) {
	t.Helper()
	if code, status := transportCode(err); code != transport.NameUnknownErrorCode || status != http.StatusNotFound {
		t.Fatalf("%s: %v (code %q, status %d), want NAME_UNKNOWN 404", what, err, code, status)
	}
}

// A push to a missing repository creates it from the CREATE_ON_PUSH
// template whose prefix matches, with every setting the template carries —
// visible through DescribeRepositories, GetRepositoryPolicy,
// GetLifecyclePolicy and ListTagsForResource — and a push outside every
// template is NAME_UNKNOWN, as without templates.
func TestCreateOnPushThroughATemplate(t *testing.T) {
	t.Parallel()
	b := Start(t)
	a := newSDK(t, b, ownerAccount, "us-east-1")
	tr := newTransport(t, b)
	token := a.token()

	created, err := a.ecr.CreateRepositoryCreationTemplate(a.ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("team"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForCreateOnPush},
		Description:             aws.String("team repositories"),
		ImageTagMutability:      types.ImageTagMutabilityImmutable,
		EncryptionConfiguration: &types.EncryptionConfigurationForRepositoryCreationTemplate{EncryptionType: types.EncryptionTypeKms},
		ResourceTags:            []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}},
		RepositoryPolicy:        aws.String(templatePolicy), LifecyclePolicy: aws.String(templateLifecycle),
	})
	noErr(t, "CreateRepositoryCreationTemplate", err)
	eq(t, "registryId", aws.ToString(created.RegistryId), ownerAccount)
	eq(t, "template prefix", aws.ToString(created.RepositoryCreationTemplate.Prefix), "team")
	_, err = a.ecr.CreateRepositoryCreationTemplate(a.ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("team"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForReplication}})
	wantErr[*types.TemplateAlreadyExistsException](t, err)
	_, err = a.ecr.CreateRepositoryCreationTemplate(a.ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("bad"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForCreateOnPush}, RepositoryPolicy: aws.String(`{"Statement":"no"}`)})
	wantErr[*types.InvalidParameterException](t, err)

	pushRandom(t, tr, token, ecrRef(t, b, ownerAccount, "us-east-1", "team/app:v1"))
	err = remote.Write(ecrRef(t, b, ownerAccount, "us-east-1", "other/app:v1"), mustRandom(t), ggcr(tr, token)...)
	wantNameUnknown(t, "a push outside every template", err)

	repos, err := a.ecr.DescribeRepositories(a.ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/app"}})
	noErr(t, "DescribeRepositories", err)
	repo := repos.Repositories[0]
	eq(t, "imageTagMutability", repo.ImageTagMutability, types.ImageTagMutabilityImmutable)
	eq(t, "encryptionType", repo.EncryptionConfiguration.EncryptionType, types.EncryptionTypeKms)
	if key := aws.ToString(repo.EncryptionConfiguration.KmsKey); !strings.HasPrefix(key, "arn:aws:kms:us-east-1:"+ownerAccount+":key/") {
		t.Fatalf("kmsKey %q, want the account's AWS-managed key", key)
	}
	pol, err := a.ecr.GetRepositoryPolicy(a.ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("team/app")})
	noErr(t, "GetRepositoryPolicy", err)
	eq(t, "repository policy", aws.ToString(pol.PolicyText), templatePolicy)
	lc, err := a.ecr.GetLifecyclePolicy(a.ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("team/app")})
	noErr(t, "GetLifecyclePolicy", err)
	eq(t, "lifecycle policy", aws.ToString(lc.LifecyclePolicyText), templateLifecycle)
	tags, err := a.ecr.ListTagsForResource(a.ctx, &ecr.ListTagsForResourceInput{ResourceArn: repo.RepositoryArn})
	noErr(t, "ListTagsForResource", err)
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" || aws.ToString(tags.Tags[0].Value) != "payments" {
		t.Fatalf("tags %+v", tags.Tags)
	}
	// The template's repository policy is in force: B may pull.
	bToken := newSDK(t, b, callerAccount, "us-east-1").token()
	if _, err := remote.Image(ecrRef(t, b, ownerAccount, "us-east-1", "team/app:v1"), ggcr(tr, bToken)...); err != nil {
		t.Fatalf("B pulls under the template's policy: %v", err)
	}

	// Describe, update (a member left out keeps its value), delete.
	up, err := a.ecr.UpdateRepositoryCreationTemplate(a.ctx, &ecr.UpdateRepositoryCreationTemplateInput{Prefix: aws.String("team"),
		ImageTagMutability: types.ImageTagMutabilityMutable})
	noErr(t, "UpdateRepositoryCreationTemplate", err)
	eq(t, "updated mutability", up.RepositoryCreationTemplate.ImageTagMutability, types.ImageTagMutabilityMutable)
	eq(t, "kept description", aws.ToString(up.RepositoryCreationTemplate.Description), "team repositories")
	list, err := a.ecr.DescribeRepositoryCreationTemplates(a.ctx, &ecr.DescribeRepositoryCreationTemplatesInput{})
	noErr(t, "DescribeRepositoryCreationTemplates", err)
	if len(list.RepositoryCreationTemplates) != 1 || !slices.Equal(list.RepositoryCreationTemplates[0].AppliedFor, []types.RCTAppliedFor{types.RCTAppliedForCreateOnPush}) {
		t.Fatalf("templates %+v", list.RepositoryCreationTemplates)
	}
	pushRandom(t, tr, token, ecrRef(t, b, ownerAccount, "us-east-1", "team/web:v1"))
	web, err := a.ecr.DescribeRepositories(a.ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/web"}})
	noErr(t, "DescribeRepositories team/web", err)
	eq(t, "team/web mutability", web.Repositories[0].ImageTagMutability, types.ImageTagMutabilityMutable)
	_, err = a.ecr.DeleteRepositoryCreationTemplate(a.ctx, &ecr.DeleteRepositoryCreationTemplateInput{Prefix: aws.String("team")})
	noErr(t, "DeleteRepositoryCreationTemplate", err)
	_, err = a.ecr.DeleteRepositoryCreationTemplate(a.ctx, &ecr.DeleteRepositoryCreationTemplateInput{Prefix: aws.String("team")})
	wantErr[*types.TemplateNotFoundException](t, err)
	err = remote.Write(ecrRef(t, b, ownerAccount, "us-east-1", "team/api:v1"), mustRandom(t), ggcr(tr, token)...)
	wantNameUnknown(t, "a push after the template was deleted", err)
}

// --create-on-push is an implicit ROOT template: with it, a push outside
// every template creates the repository with defaults, and a stored
// template still wins where it applies.
func TestCreateOnPushFlagYieldsToTemplates(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	a := newSDK(t, b, ownerAccount, "us-east-1")
	tr := newTransport(t, b)
	token := a.token()
	_, err := a.ecr.CreateRepositoryCreationTemplate(a.ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("locked"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForCreateOnPush}, ImageTagMutability: types.ImageTagMutabilityImmutable})
	noErr(t, "CreateRepositoryCreationTemplate", err)
	pushRandom(t, tr, token, ecrRef(t, b, ownerAccount, "us-east-1", "locked/app:v1"))
	pushRandom(t, tr, token, ecrRef(t, b, ownerAccount, "us-east-1", "free/app:v1"))
	out, err := a.ecr.DescribeRepositories(a.ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"free/app", "locked/app"}})
	noErr(t, "DescribeRepositories", err)
	eq(t, "free/app", out.Repositories[0].ImageTagMutability, types.ImageTagMutabilityMutable)
	eq(t, "locked/app", out.Repositories[1].ImageTagMutability, types.ImageTagMutabilityImmutable)
}

func mustRandom(t testing.TB) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
