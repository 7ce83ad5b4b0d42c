package decide

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/plugins/sdk"
	"github.com/berth-dev/berth/plugins/verifiers/schema"
	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

var updateWarmup = flag.Bool("update-warmup", false, "rewrite warmup.json with fresh keys and signatures")

// TestWarmUpRequest checks that the warm-up request exercises every format's whole path (each
// signature verifies, so no check was skipped), and with -update-warmup writes a new one.
func TestWarmUpRequest(t *testing.T) {
	if *updateWarmup {
		k, ca := sigtest.NewKey(), sigtest.NewCA("berth verifier warm-up")
		payload := sigtest.CosignPayload("warm-up", image.Digest)
		in := schema.Input{
			Digest:     image.Digest.String(),
			Repository: "warm-up",
			Keys:       []schema.Key{{ID: "key", PEM: k.PublicPEM()}, {ID: "ca", PEM: ca.PEM()}},
			Signatures: []schema.Signature{
				{ID: "cosign", Format: schema.FormatCosign, Payload: payload, Signature: base64.StdEncoding.EncodeToString(k.Sign(payload))},
				{ID: "bundle", Format: schema.FormatSigstoreBundle, Envelope: sigtest.Bundle(k, image.Digest)},
				{ID: "notation", Format: schema.FormatNotation, Envelope: sigtest.NotationEnvelope(ca, image), MediaType: sigtest.NotationJWS},
			},
			Time: time.Now().UTC().Format(time.RFC3339Nano),
		}
		input, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", " ")
		if err := enc.Encode(sdk.Request{ABI: sdk.ABIVersion, Kind: "verifier", Input: input}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("warmup.json", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		warmupRequest = b.Bytes()
	}
	var req sdk.Request
	var in schema.Input
	if err := json.Unmarshal(warmupRequest, &req); err != nil {
		t.Fatal(err)
	}
	if err := req.Decode(&in); err != nil {
		t.Fatal(err)
	}
	formats := map[string]bool{}
	for _, s := range in.Signatures {
		formats[s.Format] = true
	}
	for _, f := range []string{schema.FormatCosign, schema.FormatSigstoreBundle, schema.FormatNotation} {
		if !formats[f] {
			t.Errorf("warm-up request has no %s signature", f)
		}
	}
	if err := WarmUp(); err != nil {
		t.Fatal(err)
	}
}

// A warm-up signature that stops verifying is reported, not passed over: here the cosign one,
// replaced by a signature of the same payload by another key.
func TestWarmUpFailsWhenASignatureDoesNotVerify(t *testing.T) {
	saved := warmupRequest
	defer func() { warmupRequest = saved }()
	var req sdk.Request
	var in schema.Input
	if err := json.Unmarshal(saved, &req); err != nil {
		t.Fatal(err)
	}
	if err := req.Decode(&in); err != nil {
		t.Fatal(err)
	}
	replaced := false
	for i, s := range in.Signatures {
		if s.Format == schema.FormatCosign {
			in.Signatures[i].Signature = base64.StdEncoding.EncodeToString(sigtest.NewKey().Sign(s.Payload))
			replaced = true
		}
	}
	if !replaced {
		t.Fatal("no cosign signature in the warm-up request")
	}
	input, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if warmupRequest, err = json.Marshal(sdk.Request{ABI: req.ABI, Kind: req.Kind, Input: input}); err != nil {
		t.Fatal(err)
	}
	err = WarmUp()
	if err == nil || !strings.Contains(err.Error(), "cosign signature does not verify") {
		t.Fatalf("warm-up with another key's cosign signature: %v", err)
	}
}
