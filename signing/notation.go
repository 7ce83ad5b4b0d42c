package signing

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/opencontainers/go-digest"
)

// The Notary Project signature format (signature specification v1.0,
// "Storage"), as notation-go's registry package writes it: an OCI image
// manifest whose config is the empty JSON object under the media type
// application/vnd.cncf.notary.signature (its artifact type, since the
// manifest sets none), one layer holding the envelope, the signed image as
// subject, and the annotations naming the certificate chain's thumbprints
// and the signing time.
const (
	ArtifactType      = "application/vnd.cncf.notary.signature"
	EnvelopeMediaType = jws.MediaTypeEnvelope // application/jose+json
	// payloadMediaType is the Notary payload: {"targetArtifact": descriptor}.
	payloadMediaType         = "application/vnd.cncf.notary.payload.v1+json"
	annotationThumbprints    = "io.cncf.notary.x509chain.thumbprint#S256"
	annotationCreated        = "org.opencontainers.image.created"
	signingAgent             = "berth managed signing"
	emptyConfig              = "{}"
	mediaTypeOCIManifestType = core.MediaTypeOCIManifest
)

// descriptor is an OCI descriptor as the Notary payload and the signature
// manifest spell it.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      digest.Digest     `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type signatureManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Subject       descriptor        `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// envelope signs target with p's key: a JWS envelope made by
// notation-core-go, signing scheme notary.x509, the chain in x5c.
func envelope(p *Profile, target descriptor, at time.Time) ([]byte, error) {
	payload, err := json.Marshal(struct {
		TargetArtifact descriptor `json:"targetArtifact"`
	}{target})
	if err != nil {
		return nil, err
	}
	signer, err := signature.NewLocalSigner(p.Chain, p.Key)
	if err != nil {
		return nil, err
	}
	return jws.NewEnvelope().Sign(&signature.SignRequest{
		Payload:       signature.Payload{ContentType: payloadMediaType, Content: payload},
		Signer:        signer,
		SigningTime:   at,
		SigningScheme: signature.SigningSchemeX509,
		SigningAgent:  signingAgent,
	})
}

// manifestFor is the signature manifest of an envelope over subject.
func manifestFor(p *Profile, subject descriptor, env []byte, at time.Time) ([]byte, error) {
	thumbs := make([]string, len(p.Chain))
	for i, c := range p.Chain {
		sum := sha256.Sum256(c.Raw)
		thumbs[i] = hex.EncodeToString(sum[:])
	}
	tb, err := json.Marshal(thumbs)
	if err != nil {
		return nil, err
	}
	return json.Marshal(signatureManifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeOCIManifestType,
		Config:        descriptor{MediaType: ArtifactType, Digest: digest.FromString(emptyConfig), Size: int64(len(emptyConfig))},
		Layers:        []descriptor{{MediaType: EnvelopeMediaType, Digest: digest.FromBytes(env), Size: int64(len(env))}},
		Subject:       descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{
			annotationThumbprints: string(tb),
			// The envelope holds the signing time in seconds; so does this.
			annotationCreated: at.UTC().Format(time.RFC3339),
		},
	})
}
