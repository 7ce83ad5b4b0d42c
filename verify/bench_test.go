package verify

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

// The decision for a tag move of an image with one cosign signature, a Notation signature
// and a sigstore bundle: cold is the plugin call (a fresh sandbox instance, the Go runtime's
// start-up, three verifications), cached is the records read to build the cache key and the
// lookup.
func BenchmarkDecision(b *testing.B) {
	h := newHarness(b, Enforce, false)
	img := h.image("prod/app", "a")
	h.store("prod/app", sigtest.LegacyTag(img.Digest), sigtest.SignLegacy(h.key, "prod/app", img.Digest))
	h.store("prod/app", "", sigtest.NotationReferrer(h.ca, subject(img)))
	h.store("prod/app", "", sigtest.BundleReferrer(h.key, subject(img)))
	ctx := context.Background()
	check := func(b *testing.B, cached bool) {
		res, ok, err := h.v.Check(ctx, reg, "prod/app", img.Digest)
		if err != nil || !ok || !res.Verified || res.Cached != cached || len(res.Candidates) != 3 && !cached {
			b.Fatalf("result %+v, %v, %v", res, ok, err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			h.v.Invalidate(core.Event{Kind: core.EventPush, Subject: img.Digest})
			check(b, false)
		}
	})
	b.Run("cached", func(b *testing.B) {
		h.v.Invalidate(core.Event{Kind: core.EventPush, Subject: img.Digest})
		check(b, false)
		for b.Loop() {
			check(b, true)
		}
	})
}
