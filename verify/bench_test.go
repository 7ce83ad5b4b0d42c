package verify

import (
	"context"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

// The decision for a tag move of an image with one cosign signature, a Notation signature
// and a sigstore bundle: cold is the plugin call (back to back, each call also waits for the
// start-up of the instance the previous one replaced), cold-spaced the same with the
// verifier's instance started ahead, cached the records read to build the cache key and the
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
	b.Run("cold-spaced", func(b *testing.B) {
		// Decisions 100 ms apart, as pushes come: the verifier's next instance has started in
		// between, so the decision waits for the verification only.
		for b.Loop() {
			b.StopTimer()
			h.v.Invalidate(core.Event{Kind: core.EventPush, Subject: img.Digest})
			time.Sleep(100 * time.Millisecond)
			b.StartTimer()
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
