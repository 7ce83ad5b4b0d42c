package decide

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/plugins/verifiers/schema"
	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

var image = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}

func legacy(k *sigtest.Key, payload []byte) schema.Signature {
	return schema.Signature{ID: "sig#0", Format: schema.FormatCosign, Payload: payload,
		Signature: base64.StdEncoding.EncodeToString(k.Sign(payload))}
}

func decideOne(t *testing.T, s schema.Signature, keys ...schema.Key) schema.Output {
	t.Helper()
	out := Decide(schema.Input{Digest: image.Digest.String(), Signatures: []schema.Signature{s}, Keys: keys})
	if len(out.Candidates) != 1 {
		t.Fatalf("%d candidates, want 1", len(out.Candidates))
	}
	return out
}

func TestCosignLegacySignatures(t *testing.T) {
	signer, other := sigtest.NewKey(), sigtest.NewKey()
	trusted := schema.Key{ID: "k1", PEM: signer.PublicPEM()}
	payload := sigtest.CosignPayload("example/app", image.Digest)
	tampered := legacy(signer, payload)
	tampered.Payload = sigtest.Tamper(payload)
	for _, tc := range []struct {
		name   string
		sig    schema.Signature
		keys   []schema.Key
		ok     bool
		reason string
	}{
		{"valid signature by the trusted key", legacy(signer, payload), []schema.Key{trusted}, true, ""},
		{"signature by another key", legacy(other, payload), []schema.Key{trusted}, false, "does not verify"},
		{"tampered payload", tampered, []schema.Key{trusted}, false, "does not verify"},
		{"payload naming another digest", legacy(signer, sigtest.CosignPayload("example/app", sigtest.HexDigest())), []schema.Key{trusted}, false, "not " + image.Digest.String()},
		{"no trusted key", legacy(signer, payload), nil, false, "no trusted key"},
		{"second key verifies", legacy(signer, payload), []schema.Key{{ID: "k0", PEM: other.PublicPEM()}, trusted}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := decideOne(t, tc.sig, tc.keys...)
			if out.Verified != tc.ok {
				t.Fatalf("verified %v, want %v: %+v", out.Verified, tc.ok, out.Candidates)
			}
			if tc.ok && (out.Key != "k1" || out.Signature != "sig#0") {
				t.Fatalf("verified by %s/%s, want sig#0/k1", out.Signature, out.Key)
			}
			if !tc.ok && !strings.Contains(strings.Join(out.Candidates[0].Reasons, "; "), tc.reason) {
				t.Fatalf("reasons %q do not say %q", out.Candidates[0].Reasons, tc.reason)
			}
		})
	}
}

func TestSigstoreBundles(t *testing.T) {
	signer, other := sigtest.NewKey(), sigtest.NewKey()
	trusted := schema.Key{ID: "k1", PEM: signer.PublicPEM()}
	bundle := func(k *sigtest.Key, dg digest.Digest) schema.Signature {
		return schema.Signature{ID: "b", Format: schema.FormatSigstoreBundle, Envelope: sigtest.Bundle(k, dg), MediaType: sigtest.SigstoreBundleV03}
	}
	tampered := bundle(signer, image.Digest)
	tampered.Envelope = []byte(strings.Replace(string(tampered.Envelope), `"payload":"ey`, `"payload":"ez`, 1))
	for _, tc := range []struct {
		name string
		sig  schema.Signature
		ok   bool
	}{
		{"valid bundle", bundle(signer, image.Digest), true},
		{"bundle signed by another key", bundle(other, image.Digest), false},
		{"bundle whose statement names another digest", bundle(signer, sigtest.HexDigest()), false},
		{"bundle with a tampered statement", tampered, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out := decideOne(t, tc.sig, trusted); out.Verified != tc.ok {
				t.Fatalf("verified %v, want %v: %+v", out.Verified, tc.ok, out.Candidates)
			}
		})
	}
}

func TestNotationSignatures(t *testing.T) {
	ca, otherCA := sigtest.NewCA("berth test CA"), sigtest.NewCA("another CA")
	trusted := schema.Key{ID: "ca", PEM: ca.PEM()}
	notation := func(env []byte) schema.Signature {
		return schema.Signature{ID: "n", Format: schema.FormatNotation, Envelope: env, MediaType: sigtest.NotationJWS}
	}
	otherImage := image
	otherImage.Digest = sigtest.HexDigest()
	for _, tc := range []struct {
		name string
		sig  schema.Signature
		keys []schema.Key
		ok   bool
	}{
		{"signed under the trusted CA", notation(sigtest.NotationEnvelope(ca, image)), []schema.Key{trusted}, true},
		{"signed under another CA", notation(sigtest.NotationEnvelope(otherCA, image)), []schema.Key{trusted}, false},
		{"signing another digest", notation(sigtest.NotationEnvelope(ca, otherImage)), []schema.Key{trusted}, false},
		{"tampered envelope", notation(sigtest.Tamper(sigtest.NotationEnvelope(ca, image))), []schema.Key{trusted}, false},
		{"only a bare public key trusted", notation(sigtest.NotationEnvelope(ca, image)), []schema.Key{{ID: "k", PEM: sigtest.NewKey().PublicPEM()}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out := decideOne(t, tc.sig, tc.keys...); out.Verified != tc.ok {
				t.Fatalf("verified %v, want %v: %+v", out.Verified, tc.ok, out.Candidates)
			}
		})
	}
}

func TestAKeyThatIsNotPEMIsReportedOnEveryCandidate(t *testing.T) {
	out := Decide(schema.Input{Digest: image.Digest.String(),
		Signatures: []schema.Signature{{ID: "a", Format: schema.FormatCosign}, {ID: "b", Format: schema.FormatNotation}},
		Keys:       []schema.Key{{ID: "bad", PEM: "nope"}}})
	if out.Verified || len(out.Candidates) != 2 {
		t.Fatalf("%+v", out)
	}
	for _, c := range out.Candidates {
		if !strings.Contains(strings.Join(c.Reasons, ";"), "key bad: not PEM") {
			t.Errorf("candidate %s: reasons %q", c.ID, c.Reasons)
		}
	}
}

func TestCandidatesAfterTheFirstThatVerifiesAreNotChecked(t *testing.T) {
	k := sigtest.NewKey()
	payload := sigtest.CosignPayload("r", image.Digest)
	out := Decide(schema.Input{Digest: image.Digest.String(), Keys: []schema.Key{{ID: "k", PEM: k.PublicPEM()}},
		Signatures: []schema.Signature{{ID: "bad", Format: schema.FormatCosign, Payload: payload, Signature: "AAAA"},
			legacy(k, payload), {ID: "later", Format: schema.FormatCosign, Payload: payload, Signature: "AAAA"}}})
	if !out.Verified || out.Signature != "sig#0" || len(out.Candidates) != 3 || out.Candidates[2].Verified ||
		!strings.Contains(out.Candidates[2].Reasons[0], "not checked") || strings.Contains(out.Candidates[0].Reasons[0], "not checked") {
		t.Fatalf("%+v", out)
	}
}
