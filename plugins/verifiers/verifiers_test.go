package verifiers

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/verifiers/schema"
	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

// cacheDir keeps the compiled module between test runs, as berth's data dir does between starts.
func cacheDir(t testing.TB) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return t.TempDir()
	}
	return filepath.Join(dir, "berth-test-plugin-cache")
}

func TestBuiltinVerifierDecidesInsideTheSandbox(t *testing.T) {
	ctx := context.Background()
	h, err := plugins.NewHost(ctx, plugins.Config{CacheDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	p, err := Load(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if m := p.Manifest(); m.Kind != plugins.KindVerifier || m.Name != "cosignverify" {
		t.Fatalf("manifest %+v", m)
	}
	k, other := sigtest.NewKey(), sigtest.NewKey()
	dg := digest.FromString("image")
	payload := sigtest.CosignPayload("r", dg)
	in := schema.Input{Digest: dg.String(), Keys: []schema.Key{{ID: "trusted", PEM: k.PublicPEM()}},
		Signatures: []schema.Signature{
			{ID: "by-other", Format: schema.FormatCosign, Payload: payload, Signature: base64.StdEncoding.EncodeToString(other.Sign(payload))},
			{ID: "by-trusted", Format: schema.FormatCosign, Payload: payload, Signature: base64.StdEncoding.EncodeToString(k.Sign(payload))},
		}}
	resp, err := p.Call(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var out schema.Output
	if err := resp.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !out.Verified || out.Signature != "by-trusted" || out.Key != "trusted" || len(out.Candidates) != 2 || out.Candidates[0].Verified {
		t.Fatalf("output %+v", out)
	}
}
