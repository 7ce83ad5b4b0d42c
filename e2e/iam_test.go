package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

const (
	ownerAccount  = "111111111111"
	callerAccount = "222222222222"
)

// iamSetup is berth with account A (the owner) holding app:v1, pushed by A,
// and clients of A and B.
type iamSetup struct {
	b        *Berth
	a, bSDK  *sdk
	tr       *http.Transport
	appRef   name.Reference // app:v1 through A's registry host
	imageDig string
}

func newIAMSetup(t *testing.T, args ...string) *iamSetup {
	t.Helper()
	b := Start(t, args...)
	s := &iamSetup{b: b, a: newSDK(t, b, ownerAccount, "us-east-1"), bSDK: newSDK(t, b, callerAccount, "us-east-1"), tr: newTransport(t, b)}
	s.a.createRepo("app")
	_, port, _ := strings.Cut(b.Addr, ":")
	r, err := name.ParseReference(ecrHost(ownerAccount, "us-east-1")+":"+port+"/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	s.appRef = r
	img, err := random.Image(600, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, ggcr(s.tr, s.a.token())...); err != nil {
		t.Fatalf("A pushes app:v1: %v", err)
	}
	d, _ := img.Digest()
	s.imageDig = d.String()
	return s
}

func (s *iamSetup) batchGet(c *sdk, repo string) error {
	_, err := c.ecr.BatchGetImage(c.ctx, &ecr.BatchGetImageInput{RegistryId: aws.String(ownerAccount), RepositoryName: aws.String(repo),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	return err
}

func (s *iamSetup) setPolicy(t *testing.T, policy string) {
	t.Helper()
	if _, err := s.a.ecr.SetRepositoryPolicy(s.a.ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("app"), PolicyText: aws.String(policy)}); err != nil {
		t.Fatalf("SetRepositoryPolicy: %v", err)
	}
}

func wantDenied(t *testing.T, what string, err error, message string) {
	t.Helper()
	ae := wantCode(t, err, "AccessDeniedException")
	if ae.ErrorMessage() != message {
		t.Fatalf("%s: message\n got  %s\n want %s", what, ae.ErrorMessage(), message)
	}
}

func wantPullDenied(t *testing.T, what string, err error) {
	t.Helper()
	if code, status := transportCode(err); code != transport.DeniedErrorCode || status != http.StatusForbidden {
		t.Fatalf("%s: %v (code %q, status %d), want DENIED 403", what, err, code, status)
	}
}

const appARN = "arn:aws:ecr:us-east-1:" + ownerAccount + ":repository/app"

// TestAnotherAccountIsDeniedUntilARepositoryPolicyAllowsIt follows the ECR
// user guide's "Allow another account" repository policy example: account B
// may pull from A once A's repository policy allows B, through the ECR API
// (aws-sdk-go-v2) and through /v2 (go-containerregistry with B's own token
// on A's registry host), and may still not push.
func TestAnotherAccountIsDeniedUntilARepositoryPolicyAllowsIt(t *testing.T) {
	t.Parallel()
	s := newIAMSetup(t)
	bRoot := "arn:aws:iam::" + callerAccount + ":root"
	denied := "User: " + bRoot + " is not authorized to perform: ecr:BatchGetImage on resource: " + appARN + " because no resource-based policy allows the ecr:BatchGetImage action"
	wantDenied(t, "B pulls before the policy", s.batchGet(s.bSDK, "app"), denied)
	// A denied caller cannot tell whether a repository exists.
	wantDenied(t, "B pulls a repository A does not have", s.batchGet(s.bSDK, "missing"),
		strings.Replace(denied, "repository/app", "repository/missing", 1))
	bToken := s.bSDK.token()
	_, err := remote.Image(s.appRef, ggcr(s.tr, bToken)...)
	wantPullDenied(t, "B pulls through /v2 before the policy", err)

	s.setPolicy(t, `{"Version":"2012-10-17","Statement":[{"Sid":"AllowPullFromB","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::`+callerAccount+`:root"},
		"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"]}]}`)
	if err := s.batchGet(s.bSDK, "app"); err != nil {
		t.Fatalf("B pulls after the policy: %v", err)
	}
	img, err := remote.Image(s.appRef, ggcr(s.tr, bToken)...)
	if err != nil {
		t.Fatalf("B pulls through /v2 after the policy: %v", err)
	}
	if d, _ := img.Digest(); d.String() != s.imageDig {
		t.Fatalf("B pulled %s, A pushed %s", d, s.imageDig)
	}
	// Pulling is all the policy grants.
	other, _ := random.Image(300, 1)
	pushRef, _ := name.ParseReference(s.appRef.Context().String()+":from-b", name.Insecure)
	err = remote.Write(pushRef, other, ggcr(s.tr, bToken)...)
	wantPullDenied(t, "B pushes through /v2", err)
	_, err = s.bSDK.ecr.PutImage(s.bSDK.ctx, &ecr.PutImageInput{RegistryId: aws.String(ownerAccount), RepositoryName: aws.String("app"),
		ImageManifest: aws.String(`{}`), ImageTag: aws.String("x")})
	wantDenied(t, "B's PutImage", err, "User: "+bRoot+" is not authorized to perform: ecr:PutImage on resource: "+appARN+" because no resource-based policy allows the ecr:PutImage action")

	// An explicit deny by aws:PrincipalAccount wins over the allow.
	s.setPolicy(t, `{"Version":"2012-10-17","Statement":[
		{"Sid":"AllowPullFromB","Effect":"Allow","Principal":{"AWS":"`+callerAccount+`"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]},
		{"Sid":"DenyB","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"aws:PrincipalAccount":"`+callerAccount+`"}}}]}`)
	wantDenied(t, "B pulls against an explicit deny", s.batchGet(s.bSDK, "app"),
		"User: "+bRoot+" is not authorized to perform: ecr:BatchGetImage on resource: "+appARN+" with an explicit deny in a resource-based policy")
	_, err = remote.Image(s.appRef, ggcr(s.tr, bToken)...)
	wantPullDenied(t, "B pulls through /v2 against an explicit deny", err)
	// A itself is not denied by it.
	if err := s.batchGet(s.a, "app"); err != nil {
		t.Fatalf("A pulls its own image: %v", err)
	}
}

// iamConfig is an --iam-config with a pull-only CI user in A, an
// organisation both accounts belong to, and a developer in B with a tag.
const iamConfig = `accounts:
  - id: "111111111111"
    organization_id: o-exampleorg1
    ou_path: o-exampleorg1/r-ab12/ou-ab12-11111111/
    users:
      - name: ci-reader
        access_keys: [AKIACIREADER0000001]
        policies:
          - |
            {"Version":"2012-10-17","Statement":[{"Sid":"PullOnly","Effect":"Allow",
             "Action":["ecr:GetAuthorizationToken","ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"],"Resource":"*"}]}
  - id: "222222222222"
    organization_id: o-exampleorg1
    ou_path: o-exampleorg1/r-ab12/ou-ab12-22222222/
    users:
      - name: dev
        access_keys: [AKIADEVELOPER000002]
        tags: {team: payments}
        policies:
          - |
            {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}
`

func TestIdentitiesOrganisationsAndTagsDecide(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "iam.yaml")
	if err := os.WriteFile(cfg, []byte(iamConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newIAMSetup(t, "--iam-config", cfg)

	// A user limited to pulling by its identity policy pulls, and cannot push.
	ci := newSDK(t, s.b, "AKIACIREADER0000001", "us-east-1")
	if err := s.batchGet(ci, "app"); err != nil {
		t.Fatalf("the pull-only user pulls: %v", err)
	}
	ciToken := ci.token()
	if _, err := remote.Image(s.appRef, ggcr(s.tr, ciToken)...); err != nil {
		t.Fatalf("the pull-only user pulls through /v2: %v", err)
	}
	ciARN := "arn:aws:iam::" + ownerAccount + ":user/ci-reader"
	_, err := ci.ecr.CreateRepository(ci.ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("new")})
	wantDenied(t, "the pull-only user creates a repository", err,
		"User: "+ciARN+" is not authorized to perform: ecr:CreateRepository on resource: arn:aws:ecr:us-east-1:"+ownerAccount+":repository/new because no identity-based policy allows the ecr:CreateRepository action")
	other, _ := random.Image(300, 1)
	pushRef, _ := name.ParseReference(s.appRef.Context().String()+":from-ci", name.Insecure)
	wantPullDenied(t, "the pull-only user pushes through /v2", remote.Write(pushRef, other, ggcr(s.tr, ciToken)...))

	// An organisation-wide grant by aws:PrincipalOrgID, limited to one team
	// by a principal tag.
	dev := newSDK(t, s.b, "AKIADEVELOPER000002", "us-east-1")
	devARN := "arn:aws:iam::" + callerAccount + ":user/dev"
	wantDenied(t, "B's developer before the grant", s.batchGet(dev, "app"),
		"User: "+devARN+" is not authorized to perform: ecr:BatchGetImage on resource: "+appARN+" because no resource-based policy allows the ecr:BatchGetImage action")
	s.setPolicy(t, `{"Version":"2012-10-17","Statement":[{"Sid":"OrgPaymentsPull","Effect":"Allow","Principal":"*",
		"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],
		"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-exampleorg1","aws:PrincipalTag/team":"payments"}}}]}`)
	if err := s.batchGet(dev, "app"); err != nil {
		t.Fatalf("B's developer in the organisation and team: %v", err)
	}
	if _, err := remote.Image(s.appRef, ggcr(s.tr, dev.token())...); err != nil {
		t.Fatalf("B's developer through /v2: %v", err)
	}
	// B's root is in the organisation but has no team tag.
	wantDenied(t, "B's root without the tag", s.batchGet(s.bSDK, "app"),
		"User: arn:aws:iam::"+callerAccount+":root is not authorized to perform: ecr:BatchGetImage on resource: "+appARN+" because no resource-based policy allows the ecr:BatchGetImage action")

	// Decisions are listed with their deciding statements.
	resp, body := raw(t, s.b, "").do(http.MethodGet, "/_berth/decisions", nil, nil)
	expect(t, "decisions", resp, body, http.StatusOK)
	if !strings.Contains(string(body), `"OrgPaymentsPull"`) || !strings.Contains(string(body), devARN) {
		t.Fatalf("decisions lack the organisation grant: %s", body)
	}
}
