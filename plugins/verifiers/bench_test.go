package verifiers

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/verifiers/schema"
	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

// One call of the built-in verifier, by what it is asked: nothing (the sandbox and the Go
// runtime's start-up), one signature of each format.
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	h, err := plugins.NewHost(ctx, plugins.Config{CacheDir: cacheDir(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(ctx)
	p, err := Load(ctx, h)
	if err != nil {
		b.Fatal(err)
	}
	k, ca := sigtest.NewKey(), sigtest.NewCA("ca")
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}
	payload := sigtest.CosignPayload("r", img.Digest)
	keys := []schema.Key{{ID: "k", PEM: k.PublicPEM()}, {ID: "ca", PEM: ca.PEM()}}
	warm, err := Load(ctx, h)
	if err != nil {
		b.Fatal(err)
	}
	warm.Warm(1)
	for _, tc := range []struct {
		name string
		sigs []schema.Signature
	}{
		{"nothing", nil},
		{"cosign", []schema.Signature{{ID: "c", Format: schema.FormatCosign, Payload: payload, Signature: base64.StdEncoding.EncodeToString(k.Sign(payload))}}},
		{"bundle", []schema.Signature{{ID: "b", Format: schema.FormatSigstoreBundle, Envelope: sigtest.Bundle(k, img.Digest)}}},
		{"notation", []schema.Signature{{ID: "n", Format: schema.FormatNotation, Envelope: sigtest.NotationEnvelope(ca, img), MediaType: sigtest.NotationJWS}}},
	} {
		for _, mode := range []struct {
			name string
			p    *plugins.Plugin
		}{{"cold", p}, {"warm", warm}} {
			b.Run(tc.name+"/"+mode.name, func(b *testing.B) {
				in := schema.Input{Digest: img.Digest.String(), Keys: keys, Signatures: tc.sigs}
				for b.Loop() {
					resp, err := mode.p.Call(ctx, in)
					if err != nil {
						b.Fatal(err)
					}
					var out schema.Output
					if err := resp.Decode(&out); err != nil || out.Verified != (len(tc.sigs) > 0) {
						b.Fatalf("%+v %v", out, err)
					}
					if mode.name == "warm" {
						// Calls 100 ms apart, as requests come: the next instance
						// starts in between (on the other core, here).
						b.StopTimer()
						time.Sleep(100 * time.Millisecond)
						b.StartTimer()
					}
				}
			})
		}
	}
}

// Compiling the built-in verifier with an empty compilation cache: what the first decision of
// a fresh data dir (or of a --memory process) waits for, unless berth warmed it at start.
func BenchmarkLoadCold(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		h, err := plugins.NewHost(ctx, plugins.Config{CacheDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Load(ctx, h); err != nil {
			b.Fatal(err)
		}
		h.Close(ctx)
	}
}
