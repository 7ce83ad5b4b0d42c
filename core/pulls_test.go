package core

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// A pull updates the image's last-pulled time unless the puller is excluded.
func TestPullTimeExclusions(t *testing.T) {
	ctx := context.Background()
	r := New(Options{KV: kv.NewMem(), Blobs: blob.NewMem(), Log: slog.New(slog.DiscardHandler)})
	defer r.Close()
	reg := RegistryID{Account: "123456789012", Region: "us-east-1"}
	if _, err := r.CreateRepository(ctx, reg, "app"); err != nil {
		t.Fatal(err)
	}
	cfg := []byte("{}")
	if _, err := r.PutBlob(ctx, reg, "app", digest.FromBytes(cfg), strings.NewReader(string(cfg))); err != nil {
		t.Fatal(err)
	}
	body := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		digest.FromBytes(cfg).String() + `","size":2},"layers":[]}`
	if _, err := r.PutManifest(ctx, reg, "app", PutManifestInput{Reference: "v1", Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	const ci = "arn:aws:iam::123456789012:role/ci"
	if _, err := r.UpdateSettings(ctx, reg, func(s *RegistrySettings) error {
		s.PullTimeExclusions = append(s.PullTimeExclusions, ci)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pullAs := func(principal string) Image {
		t.Helper()
		pctx := WithCaller(ctx, Caller{Registry: reg, Principal: principal})
		if _, _, err := r.GetManifest(pctx, reg, "app", "v1", nil); err != nil {
			t.Fatal(err)
		}
		r.flushPulls()
		img, err := r.ResolveImage(ctx, reg, "app", "", "v1")
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	if img := pullAs(ci); !img.LastPulledAt.IsZero() {
		t.Errorf("an excluded principal's pull was recorded at %v", img.LastPulledAt)
	}
	if img := pullAs(RootPrincipal(reg.Account)); img.LastPulledAt.IsZero() {
		t.Error("a pull by a principal that is not excluded was not recorded")
	}
}

// An after hook that names kinds hears only those.
func TestAfterHookKinds(t *testing.T) {
	b := NewBus(16, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	var got []EventKind
	b.After(func(e Event) { mu.Lock(); got = append(got, e.Kind); mu.Unlock() }, EventPush, EventDelete)
	for _, k := range []EventKind{EventPull, EventPush, EventTag, EventDelete, EventUploadComplete} {
		b.publish(Event{Kind: k})
	}
	b.Close()
	if len(got) != 2 || got[0] != EventPush || got[1] != EventDelete {
		t.Fatalf("hook heard %v, want [push delete]", got)
	}
}
