package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	notarySignature = "application/vnd.cncf.notary.signature"
	releaseProfile  = "arn:aws:signer:us-east-1:" + ownerAccount + ":/signing-profiles/release"
)

// signingStatuses waits until the image has a status and none is
// IN_PROGRESS (or 10 s pass).
func signingStatuses(t *testing.T, s *sdk, repo, tag string) []types.ImageSigningStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := s.ecr.DescribeImageSigningStatus(s.ctx, &ecr.DescribeImageSigningStatusInput{RepositoryName: aws.String(repo),
			ImageId: &types.ImageIdentifier{ImageTag: aws.String(tag)}})
		noErr(t, "DescribeImageSigningStatus", err)
		pending := len(out.SigningStatuses) == 0
		for _, st := range out.SigningStatuses {
			pending = pending || st.Status == types.SigningStatusInProgress
		}
		if !pending || time.Now().After(deadline) {
			return out.SigningStatuses
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pemCerts GETs a PEM certificate bundle from berth, with no credentials.
func pemCerts(t *testing.T, b *Berth, path string) (int, []*x509.Certificate) {
	t.Helper()
	tr := newTransport(t, b)
	resp, err := (&http.Client{Transport: tr}).Get(b.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var certs []*x509.Certificate
	for rest := body; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	return resp.StatusCode, certs
}

type caStore []*x509.Certificate

func (s caStore) GetCertificates(context.Context, truststore.Type, string) ([]*x509.Certificate, error) {
	return s, nil
}

// Managed signing end to end: a signing configuration put through the
// SDK, an image pushed with go-containerregistry into a matching
// repository is signed (status COMPLETE), its Notation signature is listed
// by ListImageReferrers and the /v2 referrers API, and notation-go's
// verifier accepts it with a trust store holding the CA that berth serves
// from the profile's certificate endpoint. A repository no rule matches is
// not signed; deleting the image takes its status away; the CA survives a
// restart, its key in a file of mode 0600.
func TestManagedSigningSignsPushesWithNotationVerifiableSignatures(t *testing.T) {
	t.Parallel()
	b := Start(t)
	tr := newTransport(t, b)
	a := newSDK(t, b, ownerAccount, "us-east-1")

	_, err := a.ecr.GetSigningConfiguration(a.ctx, &ecr.GetSigningConfigurationInput{})
	wantErr[*types.SigningConfigurationNotFoundException](t, err)
	_, err = a.ecr.PutSigningConfiguration(a.ctx, &ecr.PutSigningConfigurationInput{SigningConfiguration: &types.SigningConfiguration{
		Rules: []types.SigningRule{{SigningProfileArn: aws.String("arn:aws:signer:us-east-1:" + ownerAccount + ":/signing-profiles/x")}}}})
	if err == nil {
		t.Fatal("PutSigningConfiguration accepted a profile name of one character")
	}
	cfg := &types.SigningConfiguration{Rules: []types.SigningRule{{SigningProfileArn: aws.String(releaseProfile),
		RepositoryFilters: []types.SigningRepositoryFilter{{Filter: aws.String("signed/*"), FilterType: types.SigningRepositoryFilterTypeWildcardMatch}}}}}
	_, err = a.ecr.PutSigningConfiguration(a.ctx, &ecr.PutSigningConfigurationInput{SigningConfiguration: cfg})
	noErr(t, "PutSigningConfiguration", err)
	got, err := a.ecr.GetSigningConfiguration(a.ctx, &ecr.GetSigningConfigurationInput{})
	noErr(t, "GetSigningConfiguration", err)
	if aws.ToString(got.RegistryId) != ownerAccount || len(got.SigningConfiguration.Rules) != 1 ||
		aws.ToString(got.SigningConfiguration.Rules[0].RepositoryFilters[0].Filter) != "signed/*" {
		t.Fatalf("GetSigningConfiguration = %+v", got.SigningConfiguration)
	}

	a.createRepo("signed/app")
	a.createRepo("plain")
	appRef := ecrRef(t, b, ownerAccount, "us-east-1", "signed/app:v1")
	img := mustRandom(t)
	if err := remote.Write(appRef, img, ggcr(tr, a.token())...); err != nil {
		t.Fatalf("push: %v", err)
	}
	pushRandom(t, tr, a.token(), ecrRef(t, b, ownerAccount, "us-east-1", "plain:v1"))
	dg, _ := img.Digest()
	size, _ := img.Size()
	mt, _ := img.MediaType()

	st := signingStatuses(t, a, "signed/app", "v1")
	if len(st) != 1 || st[0].Status != types.SigningStatusComplete || aws.ToString(st[0].SigningProfileArn) != releaseProfile {
		t.Fatalf("signing statuses = %+v, want COMPLETE with %s", st, releaseProfile)
	}
	refs, err := a.ecr.ListImageReferrers(a.ctx, &ecr.ListImageReferrersInput{RepositoryName: aws.String("signed/app"),
		SubjectId: &types.SubjectIdentifier{ImageDigest: aws.String(dg.String())}})
	noErr(t, "ListImageReferrers", err)
	if len(refs.Referrers) != 1 || aws.ToString(refs.Referrers[0].ArtifactType) != notarySignature {
		t.Fatalf("ListImageReferrers = %+v, want one Notation signature", refs.Referrers)
	}
	subject := ecrRef(t, b, ownerAccount, "us-east-1", "signed/app@"+dg.String()).(name.Digest)
	v2refs, err := remote.Referrers(subject, ggcr(tr, a.token())...)
	if err != nil {
		t.Fatalf("/v2 referrers: %v", err)
	}
	idx, _ := v2refs.IndexManifest()
	if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != notarySignature ||
		idx.Manifests[0].Digest.String() != aws.ToString(refs.Referrers[0].Digest) {
		t.Fatalf("/v2 referrers = %+v, want the signature ListImageReferrers lists", idx.Manifests)
	}

	// The envelope, fetched through /v2, verified with the CA the
	// certificate endpoint serves.
	sig, err := remote.Image(subject.Context().Digest(idx.Manifests[0].Digest.String()), ggcr(tr, a.token())...)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := sig.Layers()
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	envelope, _ := io.ReadAll(rc)
	rc.Close()
	code, chain := pemCerts(t, b, "/_berth/signing/profiles/"+url.PathEscape(releaseProfile)+"/certificate")
	if code != http.StatusOK || len(chain) != 2 || chain[0].Subject.CommonName != "release" {
		t.Fatalf("profile certificate: %d, %d certificates", code, len(chain))
	}
	ca := chain[1]
	doc := &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{Name: "berth", RegistryScopes: []string{"*"},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: trustpolicy.LevelStrict.Name},
		TrustStores:           []string{"ca:berth"}, TrustedIdentities: []string{"*"}}}}
	v, err := verifier.New(doc, caStore{ca}, nil)
	if err != nil {
		t.Fatal(err)
	}
	target := ocispec.Descriptor{MediaType: string(mt), Digest: digest.Digest(dg.String()), Size: size}
	if _, err := v.Verify(a.ctx, target, envelope, notation.VerifierVerifyOptions{ArtifactReference: subject.String(),
		SignatureMediaType: "application/jose+json"}); err != nil {
		t.Fatalf("notation-go rejects berth's managed signature: %v", err)
	}
	if code, _ := pemCerts(t, b, "/_berth/signing/profiles/"+url.PathEscape("arn:aws:signer:us-east-1:"+ownerAccount+":/signing-profiles/unknown")+"/certificate"); code != http.StatusNotFound {
		t.Fatalf("unknown profile's certificate: %d, want 404", code)
	}

	// A repository no rule matches is not signed.
	plain, err := a.ecr.DescribeImageSigningStatus(a.ctx, &ecr.DescribeImageSigningStatusInput{RepositoryName: aws.String("plain"),
		ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}})
	noErr(t, "DescribeImageSigningStatus plain", err)
	if len(plain.SigningStatuses) != 0 {
		t.Fatalf("plain:v1 statuses = %+v, want none", plain.SigningStatuses)
	}
	_, err = a.ecr.DescribeImageSigningStatus(a.ctx, &ecr.DescribeImageSigningStatusInput{RepositoryName: aws.String("plain"),
		ImageId: &types.ImageIdentifier{ImageTag: aws.String("v9")}})
	wantErr[*types.ImageNotFoundException](t, err)

	// Deleting the image takes its status away.
	_, err = a.ecr.BatchDeleteImage(a.ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("signed/app"),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(dg.String())}}})
	noErr(t, "BatchDeleteImage", err)
	_, err = a.ecr.DescribeImageSigningStatus(a.ctx, &ecr.DescribeImageSigningStatusInput{RepositoryName: aws.String("signed/app"),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(dg.String())}})
	wantErr[*types.ImageNotFoundException](t, err)

	// The configuration is deleted; the CA stays, across a restart.
	del, err := a.ecr.DeleteSigningConfiguration(a.ctx, &ecr.DeleteSigningConfigurationInput{})
	noErr(t, "DeleteSigningConfiguration", err)
	if len(del.SigningConfiguration.Rules) != 1 {
		t.Fatalf("DeleteSigningConfiguration returned %+v", del.SigningConfiguration)
	}
	_, err = a.ecr.DeleteSigningConfiguration(a.ctx, &ecr.DeleteSigningConfigurationInput{})
	wantErr[*types.SigningConfigurationNotFoundException](t, err)
	tr.CloseIdleConnections()
	b.Restart()
	if code, cas := pemCerts(t, b, "/_berth/signing/ca"); code != http.StatusOK || len(cas) != 1 || !cas[0].Equal(ca) {
		t.Fatalf("CA after a restart: %d, %d certificates, same %v", code, len(cas), len(cas) == 1 && cas[0].Equal(ca))
	}
	fi, err := os.Stat(filepath.Join(b.DataDir, "signing", "ca.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key file: %v, %v", fi, err)
	}
}
