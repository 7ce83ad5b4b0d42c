// Package decide is the built-in verifier's decision, kept apart from its main so that it is
// tested natively as well as through the sandbox: each candidate signature is checked against
// each trusted key, and a candidate counts only if its signature verifies AND what it signs
// names the image's digest.
package decide

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"time"

	notationx509 "github.com/notaryproject/notation-core-go/x509"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/berth-dev/berth/plugins/verifiers/schema"
)

// trusted is one key of the rule: a public key, and for a certificate the certificate itself
// (a root that a signature's chain may end at).
type trusted struct {
	id   string
	pub  crypto.PublicKey
	cert *x509.Certificate
}

// Decide checks every candidate against every key until one verifies.
func Decide(in schema.Input) schema.Output {
	now := time.Now()
	if in.Time != "" {
		if t, err := time.Parse(time.RFC3339Nano, in.Time); err == nil {
			now = t
		}
	}
	// Keys are parsed when first tried: one signature by the first key is the common case,
	// and parsing a certificate costs a good part of a millisecond in the sandbox.
	keys := make([]lazyKey, len(in.Keys))
	for i, k := range in.Keys {
		keys[i].key = k
	}
	out := schema.Output{Candidates: []schema.Candidate{}}
	for _, s := range in.Signatures {
		c := schema.Candidate{ID: s.ID, Format: s.Format}
		if out.Verified {
			// One valid signature decides; each check costs milliseconds in the sandbox.
			c.Reasons = []string{"not checked: " + out.Signature + " verified first"}
			out.Candidates = append(out.Candidates, c)
			continue
		}
		if len(keys) == 0 {
			c.Reasons = append(c.Reasons, "no trusted key to verify with")
		}
		for i := range keys {
			k, err := keys[i].parsed()
			if err != nil {
				// A key that does not parse is reported on every candidate rather than failing
				// the call, so the caller sees which rule is misconfigured.
				c.Reasons = append(c.Reasons, fmt.Sprintf("key %s: %v", keys[i].key.ID, err))
				continue
			}
			switch s.Format {
			case schema.FormatCosign:
				err = cosignLegacy(s, k, in.Digest, now)
			case schema.FormatSigstoreBundle:
				err = sigstoreBundle(s, k, in.Digest, now)
			case schema.FormatNotation:
				err = notary(s, k, in.Digest, now)
			default:
				err = fmt.Errorf("unknown signature format %q", s.Format)
			}
			if err == nil {
				c.Verified, c.Key, c.Reasons = true, k.id, nil
				break
			}
			c.Reasons = append(c.Reasons, fmt.Sprintf("key %s: %v", k.id, err))
		}
		if c.Verified && !out.Verified {
			out.Verified, out.Signature, out.Key = true, c.ID, c.Key
		}
		out.Candidates = append(out.Candidates, c)
	}
	return out
}

// lazyKey is a trusted key parsed on first use, once.
type lazyKey struct {
	key  schema.Key
	done bool
	t    trusted
	err  error
}

func (l *lazyKey) parsed() (trusted, error) {
	if !l.done {
		l.t, l.err = parseKey(l.key)
		l.done = true
	}
	return l.t, l.err
}

func parseKey(k schema.Key) (trusted, error) {
	block, _ := pem.Decode([]byte(k.PEM))
	if block == nil {
		return trusted{}, errors.New("not PEM")
	}
	if block.Type == "CERTIFICATE" {
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return trusted{}, err
		}
		return trusted{id: k.ID, pub: cert.PublicKey, cert: cert}, nil
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(k.PEM))
	if err != nil {
		return trusted{}, err
	}
	return trusted{id: k.ID, pub: pub}, nil
}

// signerKey is the key a cosign signature is checked with: the trusted key itself, or, when
// the signature carries a certificate and the trusted entry is a certificate, the signature's
// certificate once its chain is shown to end at the trusted one.
func signerKey(certPEM, chainPEM string, k trusted, now time.Time) (crypto.PublicKey, error) {
	if certPEM == "" || k.cert == nil {
		return k.pub, nil
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(certPEM))
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("signature certificate: not a PEM certificate")
	}
	leaf := certs[0]
	if leaf.Equal(k.cert) {
		return leaf.PublicKey, nil
	}
	roots := x509.NewCertPool()
	roots.AddCert(k.cert)
	inter := x509.NewCertPool()
	if chainPEM != "" {
		chain, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(chainPEM))
		if err != nil {
			return nil, fmt.Errorf("signature certificate chain: %v", err)
		}
		for _, c := range chain {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		return nil, fmt.Errorf("signature certificate does not chain to the trusted certificate: %v", err)
	}
	return leaf.PublicKey, nil
}

// simpleSigning is cosign's payload (containers-signature(5)'s JSON data format).
type simpleSigning struct {
	Critical struct {
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// cosignLegacy: an ECDSA (or other sigstore-supported) signature over the payload bytes, and
// a payload whose critical.image.docker-manifest-digest is the image: a valid signature of
// another image must not vouch for this one.
func cosignLegacy(s schema.Signature, k trusted, dg string, now time.Time) error {
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil {
		return fmt.Errorf("signature annotation is not base64: %v", err)
	}
	pub, err := signerKey(s.Certificate, s.Chain, k, now)
	if err != nil {
		return err
	}
	if err := verifySignature(pub, s.Payload, sig); err != nil {
		return fmt.Errorf("signature does not verify: %v", err)
	}
	var p simpleSigning
	if err := json.Unmarshal(s.Payload, &p); err != nil {
		return fmt.Errorf("payload is not a simple-signing document: %v", err)
	}
	if p.Critical.Type != "cosign container image signature" {
		return fmt.Errorf("payload critical.type is %q, not a cosign container image signature", p.Critical.Type)
	}
	if got := p.Critical.Image.DockerManifestDigest; got != dg {
		return fmt.Errorf("payload signs %s, not %s", got, dg)
	}
	return nil
}

// bundle is the part of a sigstore bundle (v0.1–v0.3) that keyed verification needs.
type bundle struct {
	MediaType            string `json:"mediaType"`
	VerificationMaterial struct {
		Certificate *struct {
			RawBytes []byte `json:"rawBytes"`
		} `json:"certificate"`
		X509CertificateChain *struct {
			Certificates []struct {
				RawBytes []byte `json:"rawBytes"`
			} `json:"certificates"`
		} `json:"x509CertificateChain"`
	} `json:"verificationMaterial"`
	DSSEEnvelope *struct {
		Payload     []byte `json:"payload"`
		PayloadType string `json:"payloadType"`
		Signatures  []struct {
			Sig   []byte `json:"sig"`
			KeyID string `json:"keyid"`
		} `json:"signatures"`
	} `json:"dsseEnvelope"`
}

// statement is an in-toto statement (v0.1 or v1); only its subjects matter here.
type statement struct {
	Type    string `json:"_type"`
	Subject []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

// pae is DSSE's pre-authentication encoding, what a DSSE signature signs.
func pae(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

func sigstoreBundle(s schema.Signature, k trusted, dg string, now time.Time) error {
	var b bundle
	if err := json.Unmarshal(s.Envelope, &b); err != nil {
		return fmt.Errorf("not a sigstore bundle: %v", err)
	}
	if b.DSSEEnvelope == nil {
		return errors.New("bundle holds no DSSE envelope")
	}
	env := b.DSSEEnvelope
	if env.PayloadType != "application/vnd.in-toto+json" {
		return fmt.Errorf("DSSE payload type is %q, not an in-toto statement", env.PayloadType)
	}
	var certPEM, chainPEM string
	if c := b.VerificationMaterial.Certificate; c != nil {
		certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.RawBytes}))
	}
	if ch := b.VerificationMaterial.X509CertificateChain; ch != nil && len(ch.Certificates) > 0 {
		certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ch.Certificates[0].RawBytes}))
		for _, c := range ch.Certificates[1:] {
			chainPEM += string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.RawBytes}))
		}
	}
	pub, err := signerKey(certPEM, chainPEM, k, now)
	if err != nil {
		return err
	}
	signed := pae(env.PayloadType, env.Payload)
	verified := false
	for _, sig := range env.Signatures {
		if verifySignature(pub, signed, sig.Sig) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return errors.New("no DSSE signature verifies")
	}
	var st statement
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		return fmt.Errorf("DSSE payload is not an in-toto statement: %v", err)
	}
	algo, hex, ok := cut(dg)
	if !ok {
		return fmt.Errorf("image digest %q is malformed", dg)
	}
	for _, sub := range st.Subject {
		if sub.Digest[algo] == hex {
			return nil
		}
	}
	return fmt.Errorf("statement's subjects do not name %s", dg)
}

func cut(dg string) (string, string, bool) {
	for i := range len(dg) {
		if dg[i] == ':' {
			return dg[:i], dg[i+1:], true
		}
	}
	return "", "", false
}

// notaryPayload is the Notary Project's signature payload.
type notaryPayload struct {
	TargetArtifact struct {
		Digest string `json:"digest"`
	} `json:"targetArtifact"`
}

// notary checks a Notation signature as notation-go's verifier does for integrity and
// authenticity: the envelope verifies with its leaf certificate, the chain is a valid
// code-signing chain (notation-core-go's rules), and its root is the trusted certificate; the
// signature has not expired; and the signed payload's target is the image.
func notary(s schema.Signature, k trusted, dg string, now time.Time) error {
	if k.cert == nil {
		return errors.New("a Notation signature needs a trusted certificate, and this key is a bare public key")
	}
	if s.MediaType != "" && s.MediaType != jwsMediaType {
		return fmt.Errorf("envelope type %q is not supported (only %s)", s.MediaType, jwsMediaType)
	}
	env, err := parseJWS(s.Envelope)
	if err != nil {
		return fmt.Errorf("envelope: %v", err)
	}
	chain := env.chain
	signingTime := env.signingTime
	if err := notationx509.ValidateCodeSigningCertChain(chain, &signingTime); err != nil {
		return fmt.Errorf("certificate chain: %v", err)
	}
	if !chain[len(chain)-1].Equal(k.cert) {
		return errors.New("certificate chain does not end at the trusted certificate")
	}
	for _, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return fmt.Errorf("certificate %q is not valid at %s", c.Subject, now.Format(time.RFC3339))
		}
	}
	if !env.expiry.IsZero() && now.After(env.expiry) {
		return fmt.Errorf("signature expired at %s", env.expiry.Format(time.RFC3339))
	}
	var p notaryPayload
	if err := json.Unmarshal(env.payload, &p); err != nil {
		return fmt.Errorf("payload: %v", err)
	}
	if p.TargetArtifact.Digest != dg {
		return fmt.Errorf("payload signs %s, not %s", p.TargetArtifact.Digest, dg)
	}
	return nil
}
