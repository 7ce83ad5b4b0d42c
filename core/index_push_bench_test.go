package core

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// BenchmarkPushIndex is the end of the bench's index push in memory: an
// index of 1,000 image manifests (pushed before the timer, a platform
// each, as remote.WriteIndex writes them) pushed by tag: its parse, the
// check that every child is there, the image size read from every
// child's bytes, and an index entry per child. Each iteration's index
// differs by an annotation.
//
//	go test ./core -run '^$' -bench PushIndex
func BenchmarkPushIndex(b *testing.B) {
	const children = 1000
	r := pushRegistry(b, func(*testing.B) (kv.Store, blob.Store) { return kv.NewMem(), blob.NewMem() })
	ctx := context.Background()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	if _, err := r.PutBlob(ctx, regA, "bench", digest.FromBytes(cfg), bytes.NewReader(cfg)); err != nil {
		b.Fatal(err)
	}
	type desc struct {
		MediaType string            `json:"mediaType"`
		Size      int               `json:"size"`
		Digest    digest.Digest     `json:"digest"`
		Platform  map[string]string `json:"platform,omitempty"`
	}
	var entries []desc
	for i := range children {
		m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": MediaTypeOCIManifest,
			"config": desc{MediaType: "application/vnd.oci.image.config.v1+json", Size: len(cfg), Digest: digest.FromBytes(cfg)},
			"layers": []desc{}, "annotations": map[string]string{"n": fmt.Sprint(i)}})
		if _, err := r.PutManifest(ctx, regA, "bench", PutManifestInput{Reference: digest.FromBytes(m).String(), Body: m}); err != nil {
			b.Fatal(err)
		}
		entries = append(entries, desc{MediaType: MediaTypeOCIManifest, Size: len(m), Digest: digest.FromBytes(m),
			Platform: map[string]string{"architecture": "amd64", "os": fmt.Sprintf("os%d", i)}})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": MediaTypeOCIIndex, "manifests": entries,
			"annotations": map[string]string{"round": fmt.Sprint(i)}})
		if _, err := r.PutManifest(ctx, regA, "bench", PutManifestInput{Reference: "index", ContentType: MediaTypeOCIIndex, Body: idx}); err != nil {
			b.Fatal(err)
		}
	}
}
