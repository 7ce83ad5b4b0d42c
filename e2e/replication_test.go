package e2e

import (
	"io"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const thirdAccount = "333333333333"

// replicationStatuses waits until no destination of the image is
// IN_PROGRESS (or 10 s pass) and returns the statuses by "account/region".
func replicationStatuses(t *testing.T, s *sdk, repo, tag string) map[string]types.ImageReplicationStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := s.ecr.DescribeImageReplicationStatus(s.ctx, &ecr.DescribeImageReplicationStatusInput{RepositoryName: aws.String(repo),
			ImageId: &types.ImageIdentifier{ImageTag: aws.String(tag)}})
		noErr(t, "DescribeImageReplicationStatus", err)
		byDest := map[string]types.ImageReplicationStatus{}
		pending := len(out.ReplicationStatuses) == 0
		for _, st := range out.ReplicationStatuses {
			byDest[aws.ToString(st.RegistryId)+"/"+aws.ToString(st.Region)] = st
			pending = pending || st.Status == types.ReplicationStatusInProgress
		}
		if !pending || time.Now().After(deadline) {
			return byDest
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantStatus(t *testing.T, got map[string]types.ImageReplicationStatus, dest string, status types.ReplicationStatus, code string) {
	t.Helper()
	st, ok := got[dest]
	if !ok || st.Status != status || aws.ToString(st.FailureCode) != code {
		t.Fatalf("status in %s: %+v (present %v), want %s %q; all: %+v", dest, st, ok, status, code, got)
	}
}

// A multi-architecture index pushed in account A's us-east-1 registry is
// replicated to A's us-west-2 registry and to account B, whose registry
// policy allows it (the user guide's cross-account example): both list it
// in DescribeImages and serve it, children and layers included, through
// their own /v2 hosts. Account C, whose registry has no policy, gets
// nothing: its status is FAILED. A later push shows the statuses again.
func TestReplicationAcrossRegionsAndAccounts(t *testing.T) {
	t.Parallel()
	b := Start(t)
	tr := newTransport(t, b)
	a := newSDK(t, b, ownerAccount, "us-east-1")
	aWest := newSDK(t, b, ownerAccount, "us-west-2")
	bSDK := newSDK(t, b, callerAccount, "us-east-1")
	cSDK := newSDK(t, b, thirdAccount, "us-east-1")

	_, err := bSDK.ecr.PutRegistryPolicy(bSDK.ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(`{"Version":"2012-10-17","Statement":[{
		"Sid":"ReplicationAccessCrossAccount","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + ownerAccount + `:root"},
		"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:` + callerAccount + `:repository/*"}]}`)})
	noErr(t, "B's PutRegistryPolicy", err)

	_, err = a.ecr.PutReplicationConfiguration(a.ctx, &ecr.PutReplicationConfigurationInput{ReplicationConfiguration: &types.ReplicationConfiguration{
		Rules: []types.ReplicationRule{{Destinations: []types.ReplicationDestination{{Region: aws.String("us-east-1"), RegistryId: aws.String(ownerAccount)}}}}}})
	wantErr[*types.InvalidParameterException](t, err)
	cfg := &types.ReplicationConfiguration{Rules: []types.ReplicationRule{{
		Destinations: []types.ReplicationDestination{
			{Region: aws.String("us-west-2"), RegistryId: aws.String(ownerAccount)},
			{Region: aws.String("us-east-1"), RegistryId: aws.String(callerAccount)},
			{Region: aws.String("us-east-1"), RegistryId: aws.String(thirdAccount)},
		},
		RepositoryFilters: []types.RepositoryFilter{{Filter: aws.String("app"), FilterType: types.RepositoryFilterTypePrefixMatch}},
	}}}
	_, err = a.ecr.PutReplicationConfiguration(a.ctx, &ecr.PutReplicationConfigurationInput{ReplicationConfiguration: cfg})
	noErr(t, "PutReplicationConfiguration", err)
	reg, err := a.ecr.DescribeRegistry(a.ctx, &ecr.DescribeRegistryInput{})
	noErr(t, "DescribeRegistry", err)
	if rules := reg.ReplicationConfiguration.Rules; len(rules) != 1 || len(rules[0].Destinations) != 3 || aws.ToString(rules[0].RepositoryFilters[0].Filter) != "app" {
		t.Fatalf("DescribeRegistry: %+v", reg.ReplicationConfiguration)
	}

	a.createRepo("app")
	idx, err := random.Index(1024, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ecrRef(t, b, ownerAccount, "us-east-1", "app:v1"), idx, ggcr(tr, a.token())...); err != nil {
		t.Fatalf("A pushes app:v1: %v", err)
	}
	idxDigest, _ := idx.Digest()

	st := replicationStatuses(t, a, "app", "v1")
	wantStatus(t, st, ownerAccount+"/us-west-2", types.ReplicationStatusComplete, "")
	wantStatus(t, st, callerAccount+"/us-east-1", types.ReplicationStatusComplete, "")
	wantStatus(t, st, thirdAccount+"/us-east-1", types.ReplicationStatusFailed, "ACCESS_DENIED")

	for _, dest := range []struct {
		s       *sdk
		account string
		region  string
	}{{aWest, ownerAccount, "us-west-2"}, {bSDK, callerAccount, "us-east-1"}} {
		detail := dest.s.describeImage("app", types.ImageIdentifier{ImageTag: aws.String("v1")})
		eq(t, dest.account+" replica digest", aws.ToString(detail.ImageDigest), idxDigest.String())
		pulled, err := remote.Index(ecrRef(t, b, dest.account, dest.region, "app:v1"), ggcr(tr, dest.s.token())...)
		if err != nil {
			t.Fatalf("pull the replica from %s/%s: %v", dest.account, dest.region, err)
		}
		wantSameIndex(t, idx, pulled)
	}
	if _, err := cSDK.ecr.DescribeRepositories(cSDK.ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"app"}}); err == nil {
		t.Fatal("C, without a registry policy, got the repository")
	} else {
		wantErr[*types.RepositoryNotFoundException](t, err)
	}

	// The statuses of an unknown image, and the next push's.
	_, err = a.ecr.DescribeImageReplicationStatus(a.ctx, &ecr.DescribeImageReplicationStatusInput{RepositoryName: aws.String("app"),
		ImageId: &types.ImageIdentifier{ImageTag: aws.String("v9")}})
	wantErr[*types.ImageNotFoundException](t, err)
	pushRandom(t, tr, a.token(), ecrRef(t, b, ownerAccount, "us-east-1", "app:v2"))
	st = replicationStatuses(t, a, "app", "v2")
	wantStatus(t, st, ownerAccount+"/us-west-2", types.ReplicationStatusComplete, "")
	wantStatus(t, st, thirdAccount+"/us-east-1", types.ReplicationStatusFailed, "ACCESS_DENIED")

	// Deletes are not replicated; the replica in B is not replicated again.
	_, err = a.ecr.BatchDeleteImage(a.ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v2")}}})
	noErr(t, "BatchDeleteImage", err)
	aWest.describeImage("app", types.ImageIdentifier{ImageTag: aws.String("v2")})
}

// wantSameIndex checks that a pulled index is the pushed one, and that
// every child and every layer of it can be read from where it was pulled.
func wantSameIndex(t *testing.T, pushed, pulled v1.ImageIndex) {
	t.Helper()
	want, _ := pushed.Digest()
	got, err := pulled.Digest()
	if err != nil || got != want {
		t.Fatalf("pulled index %s (%v), pushed %s", got, err, want)
	}
	m, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var children []string
	for _, d := range m.Manifests {
		children = append(children, d.Digest.String())
		img, err := pulled.Image(d.Digest)
		if err != nil {
			t.Fatalf("child %s: %v", d.Digest, err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatalf("child %s layers: %v", d.Digest, err)
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("layer of %s: %v", d.Digest, err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Fatalf("layer of %s: %v", d.Digest, err)
			}
			rc.Close()
		}
	}
	if len(children) != 2 || slices.Contains(children, "") {
		t.Fatalf("children %v", children)
	}
}
