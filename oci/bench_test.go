package oci

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// BenchmarkGetManifest is a manifest GET by tag on the disk-backed stores,
// as berth serve runs them.
func BenchmarkGetManifest(b *testing.B) {
	dir := b.TempDir()
	meta, err := kv.OpenBolt(filepath.Join(dir, "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	blobs, err := blob.NewFS(dir)
	if err != nil {
		b.Fatal(err)
	}
	reg := core.New(core.Options{KV: meta, Blobs: blobs, CreateOnPush: true, Log: slog.New(slog.DiscardHandler)})
	defer reg.Close()
	id := core.RegistryID{Account: "000000000000", Region: "us-east-1"}
	ctx := context.Background()
	cfg := `{"architecture":"amd64","os":"linux"}`
	if _, err := reg.PutBlob(ctx, id, "bench", digest.FromString(cfg), strings.NewReader(cfg)); err != nil {
		b.Fatal(err)
	}
	body := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		digest.FromString(cfg).String() + `","size":37},"layers":[]}`
	if _, err := reg.PutManifest(ctx, id, "bench", core.PutManifestInput{Reference: "v1", Body: []byte(body)}); err != nil {
		b.Fatal(err)
	}
	h := New(Config{Registry: reg, NoAuth: true, DefaultRegistry: id, Log: slog.New(slog.DiscardHandler)})
	req := httptest.NewRequest("GET", "/v2/bench/manifests/v1", nil)
	req.Header.Set("Accept", core.MediaTypeOCIManifest)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
