package decide

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
)

// verifySignature stands in for sigstore's verifiers inside the sandbox; it must agree with
// them on every key type cosign makes, for good and bad signatures alike.
func TestVerifySignatureAgreesWithSigstoreVerifiers(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte(`{"critical":{}}`)
	for name, priv := range map[string]crypto.Signer{"ecdsa-p256": ec, "rsa-2048": rk, "ed25519": ed} {
		t.Run(name, func(t *testing.T) {
			sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := sv.SignMessage(bytes.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			bad := append([]byte(nil), sig...)
			bad[len(bad)/2] ^= 1
			for _, tc := range []struct {
				name     string
				msg, sig []byte
			}{{"valid", msg, sig}, {"flipped signature", msg, bad}, {"other message", []byte("other"), sig}} {
				theirs := sv.VerifySignature(bytes.NewReader(tc.sig), bytes.NewReader(tc.msg)) == nil
				ours := verifySignature(priv.Public(), tc.msg, tc.sig) == nil
				if theirs != ours {
					t.Errorf("%s: sigstore says %v, verifySignature %v", tc.name, theirs, ours)
				}
			}
		})
	}
}
