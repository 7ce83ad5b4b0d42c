package lifecycle

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/opencontainers/go-digest"
)

// benchPolicy is the 4-rule policy shape: keep N releases by
// pattern, expire untagged after days, archive unpulled release
// candidates, keep the newest of everything else.
var benchPolicy = `{"rules":[` +
	`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["release-*"],"countType":"imageCountMoreThan","countNumber":50},"action":{"type":"expire"}},` +
	`{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}},` +
	`{"rulePriority":3,"selection":{"tagStatus":"tagged","tagPrefixList":["rc"],"countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}},` +
	`{"rulePriority":4,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":500},"action":{"type":"expire"}}]}`

// syntheticImages is a repository of n images a minute apart, a quarter of
// each kind the policy's rules select.
func syntheticImages(n int) []core.Image {
	imgs := make([]core.Image, n)
	for i := range imgs {
		img := core.Image{Digest: digest.FromString(fmt.Sprint(i)), PushedAt: now.Add(-time.Duration(n-i) * time.Minute)}
		switch i % 4 {
		case 0:
			img.Tags = []string{fmt.Sprintf("release-%d", i)}
		case 1:
		case 2:
			img.Tags = []string{fmt.Sprintf("rc%d", i)}
		case 3:
			img.Tags = []string{fmt.Sprintf("dev-%d", i), "x"}
		}
		imgs[i] = img
	}
	return imgs
}

func benchmarkEvaluate(b *testing.B, n int) {
	p, err := Parse(benchPolicy)
	if err != nil {
		b.Fatal(err)
	}
	imgs := syntheticImages(n)
	b.ResetTimer()
	for b.Loop() {
		if len(p.Evaluate(imgs, now.Add(60*day))) == 0 {
			b.Fatal("nothing decided")
		}
	}
}

// Issue 10's figures: a 4-rule policy over 10,000 images in one repository
// under 200 ms, over 100,000 under 2 s.
func BenchmarkEvaluate10k(b *testing.B)  { benchmarkEvaluate(b, 10_000) }
func BenchmarkEvaluate100k(b *testing.B) { benchmarkEvaluate(b, 100_000) }

// BenchmarkPreview10kFromCore is a preview's whole work over 10,000 images
// stored in core (memory stores): read them through the iterator, evaluate.
func BenchmarkPreview10kFromCore(b *testing.B) {
	f := coretest.New(b, coretest.Memory, coretest.Options{})
	fillRepository(b, f, "big", 10_000)
	s := New(f.Registry(), f.Clock, nil)
	ctx := coretest.AsRoot(reg)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.StartPreview(ctx, reg, "big", benchPolicy); err != nil {
			b.Fatal(err)
		}
		s.WaitPreviews()
	}
}

// fillRepository pushes n small images (one shared config and layer, a
// distinct annotation each), untagged, a second apart.
func fillRepository(b *testing.B, f *coretest.Fixture, repo string, n int) {
	f.CreateRepository(reg, repo)
	cfg := f.PushBlob(reg, repo, []byte(`{"architecture":"amd64","os":"linux"}`), coretest.MediaTypeConfig)
	layer := f.PushBlob(reg, repo, []byte("layer"), coretest.MediaTypeLayer)
	for i := range n {
		m := coretest.Document{MediaType: core.MediaTypeOCIManifest, Config: &cfg, Layers: []core.Descriptor{layer},
			Annotations: map[string]string{"n": fmt.Sprint(i)}}.Build()
		f.PushManifest(reg, repo, "", m)
		f.Clock.Advance(time.Second)
	}
}

// Issue 10's figure: enforcement deleting 5,000 images under 2 s (disk
// stores, as berth runs by default).
func BenchmarkEnforceDeleting5000(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		f := coretest.New(b, coretest.Disk, coretest.Options{})
		fillRepository(b, f, "big", 5_000)
		s := New(f.Registry(), f.Clock, nil)
		ctx := coretest.AsRoot(reg)
		keepNone := `{"rules":[{"rulePriority":1,"description":"expire untagged images after a day","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`
		if _, err := f.Registry().UpdateRepository(ctx, reg, "big", func(r *core.Repository) error { r.LifecyclePolicy = keepNone; return nil }); err != nil {
			b.Fatal(err)
		}
		f.Clock.Advance(2 * day)
		b.StartTimer()
		res, _, err := s.Enforce(ctx, reg, "big")
		b.StopTimer()
		if err != nil || len(res.Expired) != 5_000 {
			b.Fatalf("expired %d, %v", len(res.Expired), err)
		}
		b.StartTimer()
	}
}
