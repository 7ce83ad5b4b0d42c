package decide

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// verifySignature checks sig over msg as sigstore/sigstore's verifiers do for the keys cosign
// makes: ECDSA (ASN.1, SHA-256), RSA PKCS#1 v1.5 (SHA-256) and Ed25519. berth uses sigstore's
// cryptoutils inside the plugin but not its signature package: that one links protobuf
// descriptors whose registration at start-up would triple the cost of every call (a fresh
// instance per call, plugins/ABI.md); the tests sign with sigstore's signers.
func verifySignature(pub crypto.PublicKey, msg, sig []byte) error {
	h := sha256.Sum256(msg)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, h[:], sig) {
			return errors.New("invalid ECDSA signature")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig); err != nil {
			return fmt.Errorf("invalid RSA signature: %v", err)
		}
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return errors.New("invalid Ed25519 signature")
		}
	default:
		return fmt.Errorf("unsupported key type %T", pub)
	}
	return nil
}

const (
	jwsMediaType        = "application/jose+json"
	notaryPayloadType   = "application/vnd.cncf.notary.payload.v1+json"
	headerScheme        = "io.cncf.notary.signingScheme"
	headerSigningTime   = "io.cncf.notary.signingTime"
	headerAuthentic     = "io.cncf.notary.authenticSigningTime"
	headerExpiry        = "io.cncf.notary.expiry"
	schemeX509          = "notary.x509"
	schemeX509Authority = "notary.x509.signingAuthority"
)

// jws is a verified Notary Project JWS envelope (the JSON serialization the Notary Project's
// JWS signature specification defines).
type jws struct {
	payload     []byte
	chain       []*x509.Certificate
	signingTime time.Time
	expiry      time.Time
}

// parseJWS parses and verifies a Notation JWS envelope: the protected header's algorithm
// matches the leaf certificate's key, every critical header is one this verifier understands,
// and the signature verifies with the leaf's key over protected.payload.
func parseJWS(b []byte) (*jws, error) {
	var env struct {
		Payload   string `json:"payload"`
		Protected string `json:"protected"`
		Header    struct {
			X5C [][]byte `json:"x5c"`
		} `json:"header"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("not a JWS envelope: %v", err)
	}
	rawHeader, err := base64.RawURLEncoding.DecodeString(env.Protected)
	if err != nil {
		return nil, fmt.Errorf("protected header: %v", err)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(rawHeader, &header); err != nil {
		return nil, fmt.Errorf("protected header: %v", err)
	}
	str := func(name string) string {
		var v string
		_ = json.Unmarshal(header[name], &v)
		return v
	}
	var crit []string
	if err := json.Unmarshal(header["crit"], &crit); err != nil {
		return nil, errors.New("protected header has no crit list")
	}
	for _, c := range crit {
		if c != headerScheme && c != headerExpiry && c != headerAuthentic {
			return nil, fmt.Errorf("unsupported critical header %q", c)
		}
		if _, ok := header[c]; !ok {
			return nil, fmt.Errorf("critical header %q is missing", c)
		}
	}
	if !slices.Contains(crit, headerScheme) {
		return nil, fmt.Errorf("%s is not marked critical", headerScheme)
	}
	if cty := str("cty"); cty != notaryPayloadType {
		return nil, fmt.Errorf("payload content type is %q, not %s", cty, notaryPayloadType)
	}
	out := &jws{}
	timeHeader := headerSigningTime
	switch scheme := str(headerScheme); scheme {
	case schemeX509:
	case schemeX509Authority:
		timeHeader = headerAuthentic
	default:
		return nil, fmt.Errorf("signing scheme %q is not supported", scheme)
	}
	if out.signingTime, err = time.Parse(time.RFC3339, str(timeHeader)); err != nil {
		return nil, fmt.Errorf("%s: %v", timeHeader, err)
	}
	if e := str(headerExpiry); e != "" {
		if out.expiry, err = time.Parse(time.RFC3339, e); err != nil {
			return nil, fmt.Errorf("%s: %v", headerExpiry, err)
		}
	}
	if len(env.Header.X5C) == 0 {
		return nil, errors.New("envelope carries no certificate chain")
	}
	for _, der := range env.Header.X5C {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("x5c: %v", err)
		}
		out.chain = append(out.chain, c)
	}
	sig, err := base64.RawURLEncoding.DecodeString(env.Signature)
	if err != nil {
		return nil, fmt.Errorf("signature: %v", err)
	}
	if err := verifyJWS(str("alg"), out.chain[0].PublicKey, []byte(env.Protected+"."+env.Payload), sig); err != nil {
		return nil, err
	}
	if out.payload, err = base64.RawURLEncoding.DecodeString(env.Payload); err != nil {
		return nil, fmt.Errorf("payload: %v", err)
	}
	return out, nil
}

// verifyJWS checks a JWS signature with the algorithms the Notary Project allows: ES256/384/512
// (r‖s) on P-256/384/521 keys and PS256/384/512 on RSA keys of 2048, 3072, 4096 bits.
func verifyJWS(alg string, pub crypto.PublicKey, signed, sig []byte) error {
	digest := func(h crypto.Hash) []byte {
		w := h.New()
		w.Write(signed)
		return w.Sum(nil)
	}
	hashOf := map[string]crypto.Hash{"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512,
		"PS256": crypto.SHA256, "PS384": crypto.SHA384, "PS512": crypto.SHA512}
	h, ok := hashOf[alg]
	if !ok {
		return fmt.Errorf("signature algorithm %q is not supported", alg)
	}
	_ = sha512.New // SHA-384 and SHA-512 are linked through crypto/sha512
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		if want == nil || k.Curve != want {
			return fmt.Errorf("algorithm %s does not match the leaf certificate's %s key", alg, k.Curve.Params().Name)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return errors.New("invalid ECDSA signature length")
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(k, digest(h), r, s) {
			return errors.New("envelope signature does not verify")
		}
	case *rsa.PublicKey:
		if !strings.HasPrefix(alg, "PS") {
			return fmt.Errorf("algorithm %s does not match the leaf certificate's RSA key", alg)
		}
		if err := rsa.VerifyPSS(k, h, digest(h), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			return errors.New("envelope signature does not verify")
		}
	default:
		return fmt.Errorf("unsupported leaf key type %T", pub)
	}
	return nil
}
