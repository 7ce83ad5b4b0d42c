package e2e

import (
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The two halves of signing meet: berth's managed (Notation) signatures, made
// because a signing configuration matched a push, satisfy a verification rule
// that trusts berth's CA as served at /_berth/signing/ca — for pulls and for
// tag moves — while an image pushed before signing was configured is refused.
func TestVerificationAcceptsBerthsManagedSignatures(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	token := b.Token("")
	tr := newTransport(t, b)
	c := raw(t, b, token)
	s := defaultSDK(t, b)

	unsigned := mustRandom(t)
	if err := remote.Write(ref(t, b, "prod/app:old"), unsigned, ggcr(tr, token)...); err != nil {
		t.Fatalf("push before signing is configured: %v", err)
	}
	profile := "arn:aws:signer:us-east-1:" + defaultAccount + ":/signing-profiles/release"
	_, err := s.ecr.PutSigningConfiguration(s.ctx, &ecr.PutSigningConfigurationInput{SigningConfiguration: &types.SigningConfiguration{
		Rules: []types.SigningRule{{SigningProfileArn: aws.String(profile),
			RepositoryFilters: []types.SigningRepositoryFilter{{Filter: aws.String("prod/*"), FilterType: types.SigningRepositoryFilterTypeWildcardMatch}}}}}})
	noErr(t, "PutSigningConfiguration", err)
	signed := mustRandom(t)
	if err := remote.Write(ref(t, b, "prod/app:new"), signed, ggcr(tr, token)...); err != nil {
		t.Fatalf("push: %v", err)
	}
	if st := signingStatuses(t, s, "prod/app", "new"); len(st) != 1 || st[0].Status != types.SigningStatusComplete {
		t.Fatalf("signing statuses = %+v, want one COMPLETE", st)
	}

	status, certs := pemCerts(t, b, "/_berth/signing/ca")
	if status != http.StatusOK || len(certs) != 1 {
		t.Fatalf("GET /_berth/signing/ca: %d, %d certificates", status, len(certs))
	}
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}))
	resp, body := c.do(http.MethodPut, "/_berth/verification", []byte(verifyPolicy(true, caPEM)), nil)
	expect(t, "PUT /_berth/verification", resp, body, http.StatusOK)

	if _, err := remote.Image(ref(t, b, "prod/app:new"), ggcr(tr, token)...); err != nil {
		t.Fatalf("pulling the image berth signed, under a rule trusting berth's CA: %v", err)
	}
	_, err = remote.Image(ref(t, b, "prod/app:old"), ggcr(tr, token)...)
	if code, status := transportCode(err); code != transport.DeniedErrorCode || status != http.StatusForbidden {
		t.Fatalf("pulling the image pushed before signing was configured: %v", err)
	}

	// Tag moves: the signed image may take a tag, the unsigned one may not.
	raw, mt := manifestOf(t, signed)
	_, err = s.ecr.PutImage(s.ctx, &ecr.PutImageInput{RepositoryName: aws.String("prod/app"), ImageManifest: aws.String(raw),
		ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("release")})
	noErr(t, "PutImage of the signed image under a new tag", err)
	raw, mt = manifestOf(t, unsigned)
	_, err = s.ecr.PutImage(s.ctx, &ecr.PutImageInput{RepositoryName: aws.String("prod/app"), ImageManifest: aws.String(raw),
		ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("release-old")})
	var ipe *types.InvalidParameterException
	if !errors.As(err, &ipe) || !strings.Contains(ipe.ErrorMessage(), "prod-signed") {
		t.Fatalf("PutImage of the unsigned image under a new tag: %v", err)
	}
}
