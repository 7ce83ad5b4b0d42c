// Package sigtest makes real signatures for tests: cosign's legacy .sig manifests and sigstore
// bundles signed with sigstore/sigstore (keyed ECDSA P-256), and Notary Project signatures
// made with notation-go's signer under a test CA. Each comes as an Artifact: the manifest to
// push and the blobs it names.
package sigtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Media and artifact types of the signatures berth looks for.
const (
	CosignSimpleSigning   = "application/vnd.dev.cosign.simplesigning.v1+json"
	CosignSignatureAnnot  = "dev.cosignproject.cosign/signature"
	SigstoreBundleV03     = "application/vnd.dev.sigstore.bundle.v0.3+json"
	NotationArtifactType  = "application/vnd.cncf.notary.signature"
	NotationJWS           = "application/jose+json"
	emptyConfigMediaType  = "application/vnd.oci.empty.v1+json"
	emptyConfig           = "{}"
	cosignSignPredicate   = "https://sigstore.dev/cosign/sign/v1"
	inTotoPayloadType     = "application/vnd.in-toto+json"
	inTotoStatementV1Type = "https://in-toto.io/Statement/v1"
)

// Key is an ECDSA P-256 signing key.
type Key struct {
	Private *ecdsa.PrivateKey
	signer  signature.Signer
}

// NewKey makes a fresh key.
func NewKey() *Key {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	s, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		panic(err)
	}
	return &Key{Private: priv, signer: s}
}

// PublicPEM is the key's public half as PEM (what a verification rule trusts).
func (k *Key) PublicPEM() string {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.Private.Public())
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Sign signs msg (SHA-256, ASN.1 ECDSA), as cosign does.
func (k *Key) Sign(msg []byte) []byte {
	sig, err := k.signer.SignMessage(bytes.NewReader(msg))
	if err != nil {
		panic(err)
	}
	return sig
}

// Artifact is a manifest and the blobs it names.
type Artifact struct {
	Manifest  []byte
	MediaType string
	Digest    digest.Digest
	Blobs     map[digest.Digest][]byte
}

func newArtifact(m ocispec.Manifest, blobs ...[]byte) Artifact {
	m.Versioned = specs.Versioned{SchemaVersion: 2}
	m.MediaType = ocispec.MediaTypeImageManifest
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	a := Artifact{Manifest: b, MediaType: m.MediaType, Digest: digest.FromBytes(b), Blobs: map[digest.Digest][]byte{}}
	for _, blob := range blobs {
		a.Blobs[digest.FromBytes(blob)] = blob
	}
	return a
}

func descriptor(mediaType string, b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// CosignPayload is cosign's simple-signing payload for an image digest, as `cosign sign`
// writes it.
func CosignPayload(ref string, dg digest.Digest) []byte {
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, ref, dg)
}

// LegacyTag is the tag cosign stores an image's signatures under: sha256-<hex>.sig.
func LegacyTag(dg digest.Digest) string {
	return dg.Algorithm().String() + "-" + dg.Encoded() + ".sig"
}

// CosignLegacy is a .sig manifest with one layer per (payload, signature) pair.
func CosignLegacy(pairs ...[2][]byte) Artifact {
	cfg := []byte(`{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`)
	m := ocispec.Manifest{Config: descriptor(ocispec.MediaTypeImageConfig, cfg)}
	blobs := [][]byte{cfg}
	for _, p := range pairs {
		d := descriptor(CosignSimpleSigning, p[0])
		d.Annotations = map[string]string{CosignSignatureAnnot: base64.StdEncoding.EncodeToString(p[1])}
		m.Layers = append(m.Layers, d)
		blobs = append(blobs, p[0])
	}
	return newArtifact(m, blobs...)
}

// SignLegacy is the usual case: key signs the payload for dg.
func SignLegacy(k *Key, ref string, dg digest.Digest) Artifact {
	p := CosignPayload(ref, dg)
	return CosignLegacy([2][]byte{p, k.Sign(p)})
}

// pae is DSSE's pre-authentication encoding.
func pae(payloadType string, payload []byte) []byte {
	return []byte("DSSEv1 " + strconv.Itoa(len(payloadType)) + " " + payloadType + " " + strconv.Itoa(len(payload)) + " " + string(payload))
}

// Bundle is a sigstore bundle v0.3 with a DSSE envelope over an in-toto statement naming
// subjectDigest, signed by k, as `cosign sign --new-bundle-format` makes it with a key (the
// public key's hint, no transparency log entry).
func Bundle(k *Key, subjectDigest digest.Digest) []byte {
	stmt := fmt.Appendf(nil, `{"_type":%q,"subject":[{"name":"image","digest":{%q:%q}}],"predicateType":%q,"predicate":{}}`,
		inTotoStatementV1Type, subjectDigest.Algorithm().String(), subjectDigest.Encoded(), cosignSignPredicate)
	sig := k.Sign(pae(inTotoPayloadType, stmt))
	der, _ := cryptoutils.MarshalPublicKeyToDER(k.Private.Public())
	hint := sha256.Sum256(der)
	b, err := json.Marshal(map[string]any{
		"mediaType": SigstoreBundleV03,
		"verificationMaterial": map[string]any{
			"publicKey":   map[string]string{"hint": base64.StdEncoding.EncodeToString(hint[:])},
			"tlogEntries": []any{},
		},
		"dsseEnvelope": map[string]any{
			"payload":     stmt,
			"payloadType": inTotoPayloadType,
			"signatures":  []map[string]any{{"sig": sig, "keyid": ""}},
		},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// Referrer is an OCI 1.1 referrer of subject holding one layer.
func Referrer(artifactType string, subject ocispec.Descriptor, layerMediaType string, layer []byte) Artifact {
	cfg := []byte(emptyConfig)
	s := subject
	m := ocispec.Manifest{
		ArtifactType: artifactType,
		Config:       descriptor(emptyConfigMediaType, cfg),
		Layers:       []ocispec.Descriptor{descriptor(layerMediaType, layer)},
		Subject:      &s,
	}
	return newArtifact(m, cfg, layer)
}

// BundleReferrer is a sigstore bundle stored as a referrer of subject.
func BundleReferrer(k *Key, subject ocispec.Descriptor) Artifact {
	return Referrer(SigstoreBundleV03, subject, SigstoreBundleV03, Bundle(k, subject.Digest))
}

// CA is a certificate authority for Notation signatures.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed code-signing root valid for a day around now.
func NewCA(name string) *CA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"berth tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, key: key}
}

// PEM is the CA certificate as PEM (what a verification rule trusts).
func (ca *CA) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
}

// Leaf issues a code-signing certificate and its key.
func (ca *CA) Leaf(name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano() + 1),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"berth tests"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// NotationEnvelope signs target with notation-go's generic signer (JWS), with a leaf issued
// by ca.
func NotationEnvelope(ca *CA, target ocispec.Descriptor) []byte {
	leaf, key := ca.Leaf("signer")
	s, err := signer.NewGenericSigner(key, []*x509.Certificate{leaf, ca.Cert})
	if err != nil {
		panic(err)
	}
	env, _, err := s.Sign(context.Background(), target, notation.SignerSignOptions{SignatureMediaType: NotationJWS})
	if err != nil {
		panic(err)
	}
	return env
}

// NotationReferrer is a Notation signature of subject stored as its referrer.
func NotationReferrer(ca *CA, subject ocispec.Descriptor) Artifact {
	return NotationReferrerOf(NotationEnvelope(ca, subject), subject)
}

// NotationReferrerOf stores an envelope as a referrer of subject.
func NotationReferrerOf(env []byte, subject ocispec.Descriptor) Artifact {
	return Referrer(NotationArtifactType, subject, NotationJWS, env)
}

// Tamper changes one byte in the middle of b's JSON string content, keeping it JSON.
func Tamper(b []byte) []byte {
	out := bytes.Clone(b)
	i := bytes.Index(out, []byte(`sha256:`))
	if i < 0 {
		i = len(out) / 2
	} else {
		i += len("sha256:")
	}
	c := out[i]
	if c == 'a' {
		out[i] = 'b'
	} else {
		out[i] = 'a'
	}
	return out
}

// HexDigest is a random sha256 digest, for payloads that name another image.
func HexDigest() digest.Digest {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return digest.Digest("sha256:" + hex.EncodeToString(b[:]))
}
