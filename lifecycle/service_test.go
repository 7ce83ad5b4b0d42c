package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/opencontainers/go-digest"
)

var reg = coretest.RegA

// wire starts lifecycle on f's registry (again after a restart) with a sweep
// each interval (0: none) and returns a function giving the current Service.
func wire(f *coretest.Fixture, interval time.Duration) func() *Service {
	var s *Service
	f.Wire(func(r *core.Registry) func() {
		var stop func()
		s, stop = Start(r, interval, nil)
		return stop
	})
	return func() *Service { return s }
}

func digests(imgs []core.Image) []digest.Digest {
	var out []digest.Digest
	for _, i := range imgs {
		out = append(out, i.Digest)
	}
	slices.Sort(out)
	return out
}

func sorted(ds ...digest.Digest) []digest.Digest { return slices.Sorted(slices.Values(ds)) }

const expireUntaggedAfter3Days = `{"rules":[{"rulePriority":1,"description":"expire untagged images after 3 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3},"action":{"type":"expire"}}]}`

const keepTwoReleases = `{"rules":[{"rulePriority":1,"description":"keep the two newest release images","selection":{"tagStatus":"tagged","tagPatternList":["release-*"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}`

func TestPutGetDeleteLifecyclePolicy(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		s := wire(f, 0)
		ctx := coretest.AsRoot(reg)
		f.CreateRepository(reg, "app")
		if _, err := s().Get(ctx, reg, "app"); !errors.Is(err, ErrPolicyNotFound) {
			t.Fatalf("Get before Put: %v, want ErrPolicyNotFound", err)
		}
		if _, err := s().Put(ctx, reg, "app", pad(`{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":0},"action":{"type":"expire"}}`)); !core.IsKind(err, core.KindInvalidParameter) {
			t.Fatalf("Put of an invalid policy: %v", err)
		}
		if _, err := s().Get(ctx, reg, "app"); !errors.Is(err, ErrPolicyNotFound) {
			t.Fatalf("an invalid policy was stored: %v", err)
		}
		if _, err := s().Put(ctx, reg, "nope", keepTwoReleases); !core.IsKind(err, core.KindRepositoryNotFound) {
			t.Fatalf("Put into a missing repository: %v", err)
		}
		if _, err := s().Put(ctx, reg, "app", keepTwoReleases); err != nil {
			t.Fatal(err)
		}
		f.Wait()
		r, err := s().Get(ctx, reg, "app")
		if err != nil || r.LifecyclePolicy != keepTwoReleases {
			t.Fatalf("Get: %q, %v", r.LifecyclePolicy, err)
		}
		if !r.LifecycleEvaluatedAt.Equal(f.Clock.Now()) {
			t.Errorf("lastEvaluatedAt %v, want %v (evaluated after the Put)", r.LifecycleEvaluatedAt, f.Clock.Now())
		}
		f.Restart()
		old, err := s().Delete(ctx, reg, "app")
		if err != nil || old.LifecyclePolicy != keepTwoReleases {
			t.Fatalf("Delete after a restart: %q, %v", old.LifecyclePolicy, err)
		}
		if _, err := s().Delete(ctx, reg, "app"); !errors.Is(err, ErrPolicyNotFound) {
			t.Fatalf("second Delete: %v", err)
		}
		if _, err := s().Get(ctx, reg, "nope"); !core.IsKind(err, core.KindRepositoryNotFound) {
			t.Fatalf("Get of a missing repository: %v", err)
		}
	})
}

func TestEnforcementAfterPutExpiresThroughTheBatchDeleteWithCauseLifecycle(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		s := wire(f, 0)
		f.CreateRepository(reg, "app")
		old := f.PushImage(reg, "app", "", "old")
		f.Clock.Advance(2 * day)
		young := f.PushImage(reg, "app", "", "young")
		tagged := f.PushImage(reg, "app", "v1", "tagged")
		f.Clock.Advance(2 * day)
		rec := f.Record(core.EventDelete)
		if _, err := s().Put(coretest.AsRoot(reg), reg, "app", expireUntaggedAfter3Days); err != nil {
			t.Fatal(err)
		}
		evs := rec.Take()
		if got, want := digests(f.Images(reg, "app")), sorted(young.Digest, tagged.Digest); !slices.Equal(got, want) {
			t.Fatalf("images left %v, want %v", got, want)
		}
		if len(evs) != 1 || evs[0].Digest != old.Digest || evs[0].Cause != core.CauseLifecycle || evs[0].Target != core.TargetManifest {
			t.Fatalf("delete events %+v, want one for the old image with cause lifecycle", evs)
		}
	})
}

func TestEnforcementAfterEachPushKeepsTheNewestReleases(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		s := wire(f, 0)
		f.CreateRepository(reg, "app")
		if _, err := s().Put(coretest.AsRoot(reg), reg, "app", keepTwoReleases); err != nil {
			t.Fatal(err)
		}
		var pushed []coretest.Pushed
		for i := range 4 {
			pushed = append(pushed, f.PushImage(reg, "app", fmt.Sprintf("release-%d", i), fmt.Sprint("r", i)))
			f.Clock.Advance(time.Minute)
		}
		dev := f.PushImage(reg, "app", "dev", "dev")
		f.Wait()
		if got, want := digests(f.Images(reg, "app")), sorted(pushed[2].Digest, pushed[3].Digest, dev.Digest); !slices.Equal(got, want) {
			t.Fatalf("images left %v, want the two newest releases and dev %v", got, want)
		}
	})
}

func TestPeriodicSweepExpiresImagesAsTheClockAdvances(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		f.CreateRepository(reg, "app")
		f.CreateRepository(reg, "other")
		s := wire(f, 5*time.Minute)
		if _, err := s().Put(coretest.AsRoot(reg), reg, "app", expireUntaggedAfter3Days); err != nil {
			t.Fatal(err)
		}
		img := f.PushImage(reg, "app", "", "untagged")
		keep := f.PushImage(reg, "other", "", "untagged elsewhere")
		f.Wait()
		f.Clock.Advance(3 * day) // not older than three days yet
		if len(f.Images(reg, "app")) != 1 {
			t.Fatal("expired at exactly three days")
		}
		f.Clock.Advance(5 * time.Minute)
		if imgs := f.Images(reg, "app"); len(imgs) != 0 {
			t.Fatalf("the sweep left %v (pushed %v, now %v)", imgs[0].Digest, img.Image.PushedAt, f.Clock.Now())
		}
		if got := digests(f.Images(reg, "other")); !slices.Equal(got, []digest.Digest{keep.Digest}) {
			t.Fatalf("a repository without a policy lost images: %v", got)
		}
	})
}

func TestTransitionArchivesThroughTheStorageClassPath(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		s := wire(f, 0)
		f.CreateRepository(reg, "app")
		stale := f.PushImage(reg, "app", "v1", "stale")
		pulled := f.PushImage(reg, "app", "v2", "pulled")
		f.Clock.Advance(10 * day)
		f.Pull(reg, "app", "v2")
		f.Clock.Advance(time.Second)
		rec := f.Record(core.EventImageArchived)
		text := `{"rules":[{"rulePriority":1,"description":"archive what nobody pulled for a week","selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":7},"action":{"type":"transition","targetStorageClass":"archive"}}]}`
		if _, err := s().Put(coretest.AsRoot(reg), reg, "app", text); err != nil {
			t.Fatal(err)
		}
		evs := rec.Take()
		if len(evs) != 1 || evs[0].Digest != stale.Digest || evs[0].Cause != core.CauseLifecycle {
			t.Fatalf("archive events %+v", evs)
		}
		if !f.Image(reg, "app", stale.Digest).Archived || f.Image(reg, "app", pulled.Digest).Archived {
			t.Fatal("the wrong image was archived")
		}
		if _, _, err := f.Registry().GetManifest(coretest.AsRoot(reg), reg, "app", "v1", nil); !core.IsKind(err, core.KindImageArchived) {
			t.Fatalf("pull of the archived image: %v, want ImageArchived", err)
		}
	})
}

func TestIndexChildrenStayWhileTheirIndexStays(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		s := wire(f, 0)
		f.CreateRepository(reg, "app")
		amd := f.PushImage(reg, "app", "", "amd64")
		arm := f.PushImage(reg, "app", "", "arm64")
		idx := f.PushIndex(reg, "app", "latest", amd, arm)
		oldAmd := f.PushImage(reg, "app", "", "old amd64")
		oldIdx := f.PushIndex(reg, "app", "v0", oldAmd)
		f.Clock.Advance(10 * day)
		text := `{"rules":[{"rulePriority":1,"description":"only v0 goes","selection":{"tagStatus":"tagged","tagPrefixList":["v0"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}},` +
			`{"rulePriority":2,"description":"untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`
		if _, err := s().Put(coretest.AsRoot(reg), reg, "app", text); err != nil {
			t.Fatal(err)
		}
		f.Wait()
		_ = oldIdx
		if got, want := digests(f.Images(reg, "app")), sorted(amd.Digest, arm.Digest, idx.Digest); !slices.Equal(got, want) {
			t.Fatalf("images left %v, want the index that stays and its children %v", got, want)
		}
	})
}

func TestPreviewShowsWhatEnforcementDoesAndChangesNothing(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		s := wire(f, 0)
		ctx := coretest.AsRoot(reg)
		f.CreateRepository(reg, "app")
		if _, err := s().GetPreview(ctx, reg, "app"); !errors.Is(err, ErrPreviewNotFound) {
			t.Fatalf("GetPreview before any: %v", err)
		}
		if _, err := s().StartPreview(ctx, reg, "app", ""); !errors.Is(err, ErrPolicyNotFound) {
			t.Fatalf("StartPreview without a policy: %v", err)
		}
		if _, err := s().StartPreview(ctx, reg, "nope", keepTwoReleases); !core.IsKind(err, core.KindRepositoryNotFound) {
			t.Fatalf("StartPreview of a missing repository: %v", err)
		}
		if _, err := s().StartPreview(ctx, reg, "app", "{}"); !core.IsKind(err, core.KindInvalidParameter) {
			t.Fatalf("StartPreview of an invalid text: %v", err)
		}
		var pushed []coretest.Pushed
		for i := range 4 {
			pushed = append(pushed, f.PushImage(reg, "app", fmt.Sprintf("release-%d", i), fmt.Sprint("r", i)))
			f.Clock.Advance(time.Minute)
		}
		text, err := s().StartPreview(ctx, reg, "app", keepTwoReleases) // not stored
		if err != nil || text != keepTwoReleases {
			t.Fatalf("StartPreview: %q, %v", text, err)
		}
		s().WaitPreviews()
		pv, err := s().GetPreview(ctx, reg, "app")
		if err != nil || pv.Status != PreviewComplete || pv.PolicyText != keepTwoReleases {
			t.Fatalf("GetPreview: %+v, %v", pv, err)
		}
		var previewed []digest.Digest
		for _, d := range pv.Decisions {
			if d.Action != ActionExpire || d.RulePriority != 1 {
				t.Fatalf("decision %+v", d)
			}
			previewed = append(previewed, d.Image.Digest)
		}
		if want := sorted(pushed[0].Digest, pushed[1].Digest); !slices.Equal(sorted(previewed...), want) {
			t.Fatalf("preview expires %v, want %v", previewed, want)
		}
		if n := len(f.Images(reg, "app")); n != 4 {
			t.Fatalf("a preview changed the repository: %d images", n)
		}
		if _, err := s().GetPreview(ctx, reg, "app"); err != nil {
			t.Fatal(err)
		}
		// A namesake of a deleted repository does not inherit its preview.
		if _, err := f.Registry().DeleteRepository(ctx, reg, "app", true); err != nil {
			t.Fatal(err)
		}
		f.CreateRepository(reg, "app")
		if _, err := s().GetPreview(ctx, reg, "app"); !errors.Is(err, ErrPreviewNotFound) {
			t.Fatalf("GetPreview of a new repository of the same name: %v", err)
		}
	})
}

// blockingImages holds every image iteration until release is closed, so a
// preview stays IN_PROGRESS for as long as the test wants.
type blockingImages struct {
	*core.Registry
	release chan struct{}
}

func (b blockingImages) Images(ctx context.Context, reg core.RegistryID, repo, after string) iter.Seq2[core.Image, error] {
	<-b.release
	return b.Registry.Images(ctx, reg, repo, after)
}

func TestSecondPreviewWhileOneRunsIsRefused(t *testing.T) {
	f := coretest.New(t, coretest.Memory, coretest.Options{})
	f.CreateRepository(reg, "app")
	f.PushImage(reg, "app", "", "x")
	release := make(chan struct{})
	s := New(blockingImages{f.Registry(), release}, f.Clock, nil)
	ctx := coretest.AsRoot(reg)
	if _, err := s.StartPreview(ctx, reg, "app", expireUntaggedAfter3Days); err != nil {
		t.Fatal(err)
	}
	if pv, err := s.GetPreview(ctx, reg, "app"); err != nil || pv.Status != PreviewInProgress {
		t.Fatalf("GetPreview while it runs: %+v, %v", pv, err)
	}
	if _, err := s.StartPreview(ctx, reg, "app", expireUntaggedAfter3Days); !errors.Is(err, ErrPreviewInProgress) {
		t.Fatalf("second StartPreview: %v, want ErrPreviewInProgress", err)
	}
	close(release)
	s.WaitPreviews()
	if pv, _ := s.GetPreview(ctx, reg, "app"); pv.Status != PreviewComplete {
		t.Fatalf("status %s after it finished", pv.Status)
	}
	if _, err := s.StartPreview(ctx, reg, "app", expireUntaggedAfter3Days); err != nil {
		t.Fatalf("a new preview once the first completed: %v", err)
	}
	s.WaitPreviews()
}

// For 200 random repositories, the images a preview says expire are exactly
// those enforcement deletes, and those it says transition are those it
// archives.
func TestPreviewAndEnforcementAgreeOnRandomRepositories(t *testing.T) {
	f := coretest.New(t, coretest.Memory, coretest.Options{})
	s := New(f.Registry(), f.Clock, nil) // enforced by hand: no subscriber, so pushes do not enforce early
	ctx := coretest.AsRoot(reg)
	const policy = `{"rules":[` +
		`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}},` +
		`{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3},"action":{"type":"expire"}},` +
		`{"rulePriority":3,"selection":{"tagStatus":"tagged","tagPatternList":["*rc*"],"countType":"sinceImagePulled","countUnit":"days","countNumber":5},"action":{"type":"transition","targetStorageClass":"archive"}},` +
		`{"rulePriority":4,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}`
	seed := uint64(7)
	rnd := func(n int) int { seed = seed*6364136223846793005 + 1442695040888963407; return int(seed>>33) % n }
	tags := []string{"v1", "v2", "v3", "1-rc1", "2-rc2", "latest", "dev"}
	expired, archived := 0, 0
	for i := range 200 {
		name := fmt.Sprintf("repo-%03d", i)
		f.CreateRepository(reg, name)
		var pushed []coretest.Pushed
		for j := range 1 + rnd(7) {
			tag := ""
			if rnd(3) > 0 {
				tag = tags[rnd(len(tags))]
			}
			p := f.PushImage(reg, name, tag, fmt.Sprint(name, j))
			pushed = append(pushed, p)
			if rnd(3) == 0 && len(pushed) > 1 {
				f.PushIndex(reg, name, "", pushed[rnd(len(pushed))])
			}
			f.Clock.Advance(time.Duration(rnd(48)) * time.Hour)
		}
		if _, err := f.Registry().UpdateRepository(ctx, reg, name, func(r *core.Repository) error { r.LifecyclePolicy = policy; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.StartPreview(ctx, reg, name, ""); err != nil {
			t.Fatal(err)
		}
		s.WaitPreviews()
		pv, err := s.GetPreview(ctx, reg, name)
		if err != nil || pv.Status != PreviewComplete {
			t.Fatalf("%s: preview %+v, %v", name, pv, err)
		}
		var expire, transition []digest.Digest
		for _, d := range pv.Decisions {
			if d.Action == ActionExpire {
				expire = append(expire, d.Image.Digest)
			} else {
				transition = append(transition, d.Image.Digest)
			}
		}
		res, ok, err := s.Enforce(ctx, reg, name)
		if err != nil || !ok {
			t.Fatalf("%s: Enforce: %v %v", name, ok, err)
		}
		if len(res.Failed) > 0 {
			t.Fatalf("%s: enforcement failed on %v", name, res.Failed)
		}
		if !slices.Equal(sorted(expire...), sorted(res.Expired...)) || !slices.Equal(sorted(transition...), sorted(res.Transitioned...)) {
			t.Fatalf("%s: preview expires %v and archives %v; enforcement deleted %v and archived %v", name, expire, transition, res.Expired, res.Transitioned)
		}
		expired, archived = expired+len(res.Expired), archived+len(res.Transitioned)
		left := map[digest.Digest]bool{}
		for _, img := range f.Images(reg, name) {
			left[img.Digest] = true
		}
		for _, dg := range expire {
			if left[dg] {
				t.Fatalf("%s: %s reported expired but still there", name, dg)
			}
		}
	}
	if expired == 0 || archived == 0 {
		t.Fatalf("the population exercised too little: %d expired, %d archived", expired, archived)
	}
	t.Logf("%d images expired and %d archived over 200 repositories, as previewed", expired, archived)
}
