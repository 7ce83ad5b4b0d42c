package coretest_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/opencontainers/go-digest"
)

var reg = coretest.RegA

// Each runs the test on both store configurations, in that order, and the
// disk one really is on disk.
func TestEachRunsEveryStoreConfiguration(t *testing.T) {
	var seen []coretest.Stores
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		seen = append(seen, f.Stores)
		if !strings.HasSuffix(t.Name(), "/"+string(f.Stores)) {
			t.Errorf("subtest %s is not named after its stores %s", t.Name(), f.Stores)
		}
		switch f.Stores {
		case coretest.Memory:
			if f.Dir() != "" {
				t.Errorf("memory fixture has a directory %q", f.Dir())
			}
		case coretest.Disk:
			if _, err := os.Stat(filepath.Join(f.Dir(), "meta.db")); err != nil {
				t.Errorf("no bolt file: %v", err)
			}
			p := f.PushBlob(reg, mustRepo(f, "on-disk"), []byte("bytes on disk"), coretest.MediaTypePayload)
			if _, err := os.Stat(filepath.Join(f.Dir(), "blobs")); err != nil {
				t.Errorf("no blob directory after pushing %s: %v", p.Digest, err)
			}
		}
	})
	if !slices.Equal(seen, coretest.AllStores) || len(seen) != 2 {
		t.Fatalf("Each ran on %v, want %v", seen, coretest.AllStores)
	}
}

func mustRepo(f *coretest.Fixture, name string) string {
	f.CreateRepository(reg, name)
	return name
}

// A pushed image is listed by Registry.Images with its tags; an image pushed
// with no tag is untagged; both are stamped with the fixture's time, and
// their blobs are in the repository.
func TestPushImageIsListedWithItsTags(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		f.CreateRepository(reg, "app")
		v1 := f.PushImage(reg, "app", "v1", "one")
		untagged := f.PushImage(reg, "app", "", "two")
		if v1.Digest == untagged.Digest {
			t.Fatal("two seeds gave one digest")
		}
		if v1.Image.Digest != v1.Digest || !slices.Equal(v1.Image.Tags, []string{"v1"}) {
			t.Fatalf("PushImage returned the record %+v, want %s tagged v1", v1.Image, v1.Digest)
		}
		byDigest := map[digest.Digest]core.Image{}
		for _, img := range f.Images(reg, "app") {
			byDigest[img.Digest] = img
		}
		if len(byDigest) != 2 {
			t.Fatalf("Images lists %d images, want 2", len(byDigest))
		}
		if got := byDigest[v1.Digest]; !slices.Equal(got.Tags, []string{"v1"}) || got.MediaType != core.MediaTypeOCIManifest {
			t.Errorf("v1 is listed as %+v", got)
		}
		if got, ok := byDigest[untagged.Digest]; !ok || len(got.Tags) != 0 {
			t.Errorf("the untagged image is listed as %+v (listed: %v)", got, ok)
		}
		for _, p := range []coretest.Pushed{v1, untagged} {
			if got := byDigest[p.Digest]; !got.PushedAt.Equal(coretest.Start) {
				t.Errorf("%s pushed at %v, want the fixture's start %v", p.Digest, got.PushedAt, coretest.Start)
			}
			body, err := f.Registry().ManifestBytes(context.Background(), reg, "app", p.Digest)
			if err != nil || !bytes.Equal(body, p.Body) {
				t.Errorf("stored manifest of %s: %s, %v; want the pushed bytes", p.Digest, body, err)
			}
			for _, d := range append([]core.Descriptor{*p.Config}, p.Layers...) {
				if size, err := f.Registry().StatBlob(context.Background(), reg, "app", d.Digest); err != nil || size != d.Size {
					t.Errorf("blob %s in the repository: size %d, %v; want %d", d.Digest, size, err, d.Size)
				}
			}
		}
		if got := f.Image(reg, "app", v1.Digest); got.Digest != v1.Digest {
			t.Errorf("Image(%s) = %+v", v1.Digest, got)
		}
	})
}

// Content depends on the seed only: one seed is one digest in any
// repository, and the layer is a real gzipped tar that the config's diff id
// describes (scanners can read it).
func TestSeedsMakeRealDistinctContent(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		f.CreateRepository(reg, "repo-a")
		f.CreateRepository(coretest.RegB, "repo-b")
		a := f.PushImage(reg, "repo-a", "x", "same")
		b := f.PushImage(coretest.RegB, "repo-b", "y", "same")
		c := f.PushImage(reg, "repo-a", "z", "other")
		if a.Digest != b.Digest {
			t.Errorf("one seed, two digests: %s, %s", a.Digest, b.Digest)
		}
		if c.Digest == a.Digest || c.Layers[0].Digest == a.Layers[0].Digest || c.Config.Digest == a.Config.Digest {
			t.Errorf("two seeds share content: %+v, %+v", a.Manifest, c.Manifest)
		}

		rd, err := f.Registry().OpenBlob(context.Background(), reg, "repo-a", a.Layers[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		zr, err := gzip.NewReader(rd)
		if err != nil {
			t.Fatalf("layer is not gzip: %v", err)
		}
		tarball, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(bytes.NewReader(tarball))
		h, err := tr.Next()
		if err != nil || h.Name != "seed.txt" {
			t.Fatalf("layer's first entry: %+v, %v", h, err)
		}
		if text, _ := io.ReadAll(tr); string(text) != "same\n" {
			t.Errorf("seed.txt holds %q", text)
		}

		cr, err := f.Registry().OpenBlob(context.Background(), reg, "repo-a", a.Config.Digest)
		if err != nil {
			t.Fatal(err)
		}
		defer cr.Close()
		var cfg struct {
			OS     string `json:"os"`
			RootFS struct {
				DiffIDs []digest.Digest `json:"diff_ids"`
			} `json:"rootfs"`
		}
		if err := json.NewDecoder(cr).Decode(&cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != digest.FromBytes(tarball) {
			t.Errorf("config %+v does not describe the layer (diff id %s)", cfg, digest.FromBytes(tarball))
		}
	})
}

// An index lists its children; the registry records them as its children.
func TestPushIndex(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		f.CreateRepository(reg, "multi")
		amd := f.PushImage(reg, "multi", "", "amd64")
		arm := f.PushImage(reg, "multi", "", "arm64")
		idx := f.PushIndex(reg, "multi", "v1", amd, arm)
		if !idx.Image.IsIndex() || !slices.Equal(idx.Image.Tags, []string{"v1"}) {
			t.Fatalf("index record %+v", idx.Image)
		}
		if len(idx.Manifests) != 2 || idx.Manifests[0].Digest != amd.Digest || idx.Manifests[1].Digest != arm.Digest {
			t.Fatalf("index lists %+v", idx.Manifests)
		}
		// A manifest list's size is its largest image's (ECR's imageSizeInBytes).
		if want := max(amd.Image.ImageSize, arm.Image.ImageSize); idx.Image.ImageSize != want {
			t.Errorf("index image size %d, want its largest image's %d", idx.Image.ImageSize, want)
		}
		for _, c := range []coretest.Pushed{amd, arm} {
			if got := f.Image(reg, "multi", c.Digest); !slices.Equal(got.Parents, []digest.Digest{idx.Digest}) {
				t.Errorf("child %s has parents %v, want the index %s", c.Digest, got.Parents, idx.Digest)
			}
		}
		if len(f.Images(reg, "multi")) != 3 {
			t.Errorf("want 3 images")
		}
	})
}

// A referrer is listed by Registry.Referrers of its subject, with its
// artifact type, and its push event names the subject.
func TestPushReferrer(t *testing.T) {
	const sigType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		f.CreateRepository(reg, "signed")
		img := f.PushImage(reg, "signed", "v1", "app")
		rec := f.Record(core.EventPush)
		sig := f.PushReferrer(reg, "signed", img.Descriptor(), sigType, "sig")
		sbom := f.PushReferrer(reg, "signed", img.Descriptor(), "application/spdx+json", "sbom")

		refs, err := f.Registry().Referrers(context.Background(), reg, "signed", img.Digest, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 2 {
			t.Fatalf("Referrers = %+v, want the signature and the SBOM", refs)
		}
		sigs, err := f.Registry().Referrers(context.Background(), reg, "signed", img.Digest, sigType)
		if err != nil {
			t.Fatal(err)
		}
		if len(sigs) != 1 || sigs[0].Digest != sig.Digest || sigs[0].ArtifactType != sigType || sigs[0].Subject == nil || sigs[0].Subject.Digest != img.Digest {
			t.Fatalf("signatures of %s: %+v, want %s", img.Digest, sigs, sig.Digest)
		}
		if len(sig.Image.Tags) != 0 {
			t.Errorf("the referrer was tagged %v", sig.Image.Tags)
		}
		evs := rec.Take()
		if len(evs) != 2 {
			t.Fatalf("push events %+v", evs)
		}
		for i, p := range []coretest.Pushed{sig, sbom} {
			if e := evs[i]; e.Digest != p.Digest || e.Subject != img.Digest || e.ArtifactType != p.ArtifactType {
				t.Errorf("event %d = %+v, want %s about %s", i, e, p.Digest, img.Digest)
			}
		}
	})
}

// The registry and the fixture share one clock: what core stamps is the
// fixture's time, and advancing it fires the registry's timers.
func TestClockIsShared(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		if f.Registry().Clock() != core.Clock(f.Clock) {
			t.Fatal("the registry runs on another clock")
		}
		if !f.Clock.Now().Equal(coretest.Start) {
			t.Fatalf("the clock starts at %v, want %v", f.Clock.Now(), coretest.Start)
		}
		repo := f.CreateRepository(reg, "timed")
		if !repo.CreatedAt.Equal(coretest.Start) {
			t.Errorf("created at %v", repo.CreatedAt)
		}
		f.Clock.Advance(90 * time.Minute)
		p := f.PushImage(reg, "timed", "v1", "x")
		if want := coretest.Start.Add(90 * time.Minute); !p.Image.PushedAt.Equal(want) {
			t.Errorf("pushed at %v, want %v", p.Image.PushedAt, want)
		}

		// Pull times are written by a timer on the clock.
		f.Clock.Advance(time.Hour)
		pulledAt := f.Clock.Now()
		f.Pull(reg, "timed", "v1")
		f.Clock.Advance(time.Second)
		if got := f.Image(reg, "timed", p.Digest).LastPulledAt; !got.Equal(pulledAt) {
			t.Errorf("last pulled at %v, want %v", got, pulledAt)
		}

		// Upload sessions age on it too.
		up, err := f.Registry().StartUpload(coretest.AsRoot(reg), reg, "timed")
		if err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(23 * time.Hour)
		if n, err := f.Registry().ExpireUploads(context.Background(), 24*time.Hour); err != nil || n != 0 {
			t.Fatalf("ExpireUploads after 23h: %d, %v", n, err)
		}
		f.Clock.Advance(2 * time.Hour)
		if n, err := f.Registry().ExpireUploads(context.Background(), 24*time.Hour); err != nil || n != 1 {
			t.Fatalf("ExpireUploads after 25h: %d, %v", n, err)
		}
		if _, err := f.Registry().GetUpload(coretest.AsRoot(reg), reg, "timed", up.ID); !core.IsKind(err, core.KindUploadNotFound) {
			t.Errorf("the expired upload: %v", err)
		}
	})
}

// Restart keeps what was written (on disk: what bolt and the blob directory
// hold), builds a new Registry, and keeps the clock.
func TestRestartKeepsData(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		f.CreateRepository(reg, "kept")
		img := f.PushImage(reg, "kept", "v1", "kept")
		f.Clock.Advance(time.Hour)
		up, err := f.Registry().StartUpload(coretest.AsRoot(reg), reg, "kept")
		if err != nil {
			t.Fatal(err)
		}
		content := []byte("half of it, then the other half")
		if _, err := f.Registry().WriteUpload(coretest.AsRoot(reg), reg, "kept", up.ID, 0, bytes.NewReader(content[:10])); err != nil {
			t.Fatal(err)
		}
		before, kvBefore := f.Registry(), f.KV()

		f.Restart()

		if f.Registry() == before {
			t.Fatal("Restart kept the Registry")
		}
		if f.Stores == coretest.Disk && f.KV() == kvBefore {
			t.Error("Restart did not reopen the bolt file")
		}
		if f.Registry().Clock() != core.Clock(f.Clock) || !f.Clock.Now().Equal(coretest.Start.Add(time.Hour)) {
			t.Error("Restart changed the clock")
		}
		got := f.Image(reg, "kept", img.Digest)
		if !slices.Equal(got.Tags, []string{"v1"}) || !got.PushedAt.Equal(coretest.Start) {
			t.Errorf("after Restart the image is %+v", got)
		}
		body, err := f.Registry().ManifestBytes(context.Background(), reg, "kept", img.Digest)
		if err != nil || !bytes.Equal(body, img.Body) {
			t.Errorf("manifest after Restart: %v", err)
		}
		st, err := f.Registry().GetUpload(coretest.AsRoot(reg), reg, "kept", up.ID)
		if err != nil || st.Size != 10 {
			t.Fatalf("upload after Restart: %+v, %v", st, err)
		}
		d, err := f.Registry().CompleteUpload(coretest.AsRoot(reg), reg, "kept", up.ID, 10, bytes.NewReader(content[10:]), digest.FromBytes(content))
		if err != nil || d.Size != int64(len(content)) {
			t.Fatalf("completing the upload after Restart: %+v, %v", d, err)
		}
		// The helpers work on the new Registry, and upload ids go on.
		f.PushImage(reg, "kept", "v2", "after")
		up2, err := f.Registry().StartUpload(coretest.AsRoot(reg), reg, "kept")
		if err != nil || up2.ID == up.ID {
			t.Fatalf("upload after Restart: %+v, %v (first was %s)", up2, err, up.ID)
		}
		if len(f.Images(reg, "kept")) != 2 {
			t.Errorf("want 2 images")
		}
	})
}

// Wire starts a feature on each Registry and stops it before that one
// closes; Record and Subscribe keep listening across Restart.
func TestWireAcrossRestart(t *testing.T) {
	for _, s := range coretest.AllStores {
		var log []string
		var regs []*core.Registry
		t.Run(string(s), func(t *testing.T) {
			f := coretest.New(t, s, coretest.Options{})
			f.Wire(func(r *core.Registry) func() {
				regs = append(regs, r)
				log = append(log, "start")
				return func() { log = append(log, "stop") }
			})
			f.Wire(func(r *core.Registry) func() { log = append(log, "start nil"); return nil })
			rec := f.Record(core.EventPush, core.EventRepositoryCreated)
			f.CreateRepository(reg, "wired")
			f.PushImage(reg, "wired", "v1", "a")
			if evs := rec.Take(); len(evs) != 2 || evs[0].Kind != core.EventRepositoryCreated || evs[1].Kind != core.EventPush {
				t.Fatalf("recorded %+v", evs)
			}
			f.Restart()
			if len(regs) != 2 || regs[1] != f.Registry() || regs[0] == regs[1] {
				t.Fatalf("start saw %v; the registry is %p", regs, f.Registry())
			}
			f.PushImage(reg, "wired", "v2", "b")
			if evs := rec.Take(); len(evs) != 1 || evs[0].Tag != "v2" {
				t.Fatalf("after Restart the recorder heard %+v", evs)
			}
		})
		want := []string{"start", "start nil", "stop", "start", "start nil", "stop"}
		if !slices.Equal(log, want) {
			t.Errorf("%s: wiring ran %v, want %v", s, log, want)
		}
	}
}

// Wait returns once slow subscribers are done, and a subscriber retrying on
// the manual clock is let go by advancing it.
func TestWaitForSubscribers(t *testing.T) {
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		var handled atomic.Int32
		f.Subscribe(core.Subscriber{Name: "slow", Kinds: []core.EventKind{core.EventPush}, Workers: 2,
			Handle: func(ctx context.Context, e core.Event) error {
				time.Sleep(20 * time.Millisecond)
				handled.Add(1)
				return nil
			}})
		f.CreateRepository(reg, "slow")
		for _, seed := range []string{"a", "b", "c"} {
			f.PushImage(reg, "slow", seed, seed)
		}
		f.Wait()
		if n := handled.Load(); n != 3 {
			t.Fatalf("Wait returned after %d of 3 events", n)
		}

		var attempts atomic.Int32
		f.Subscribe(core.Subscriber{Name: "flaky", Kinds: []core.EventKind{core.EventTag}, Backoff: time.Second,
			Handle: func(ctx context.Context, e core.Event) error {
				if attempts.Add(1) == 1 {
					return errors.New("not yet")
				}
				return nil
			}})
		pending := f.Clock.Pending()
		f.PushImage(reg, "slow", "d", "d")
		deadline := time.Now().Add(coretest.WaitTimeout)
		for f.Clock.Pending() == pending { // the retry is armed on the fixture's clock
			if time.Now().After(deadline) {
				t.Fatal("the failed event's retry was never armed")
			}
			time.Sleep(time.Millisecond)
		}
		f.Clock.Advance(time.Second)
		f.Wait()
		if n := attempts.Load(); n != 2 {
			t.Fatalf("%d attempts, want 2", n)
		}
	})
}

// AsRoot and As name the caller; the helpers act as the account's root.
func TestCallerContext(t *testing.T) {
	alice := "arn:aws:iam::111111111111:user/alice"
	if c := core.CallerFrom(coretest.AsRoot(reg)); c.Registry != reg || c.Principal != "arn:aws:iam::111111111111:root" {
		t.Fatalf("AsRoot: %+v", c)
	}
	if c := core.CallerFrom(coretest.As(coretest.RegA2, alice)); c.Registry != coretest.RegA2 || c.Principal != alice {
		t.Fatalf("As: %+v", c)
	}
	coretest.Each(t, func(t *testing.T, f *coretest.Fixture) {
		rec := f.Record(core.EventPush)
		f.CreateRepository(reg, "who")
		own := f.BuildImage(reg, "who", "alice's")
		f.PushImage(reg, "who", "root", "root's")
		if _, err := f.Registry().PutManifest(coretest.As(reg, alice), reg, "who", core.PutManifestInput{Reference: "alice", ContentType: own.MediaType, Body: own.Body}); err != nil {
			t.Fatal(err)
		}
		evs := rec.Take()
		if len(evs) != 2 || evs[0].Actor != core.RootPrincipal(reg.Account) || evs[1].Actor != alice {
			t.Fatalf("push events %+v, want root's then alice's", evs)
		}
		if evs[0].Cause != core.CauseUser {
			t.Errorf("the helpers' writes are caused by %q", evs[0].Cause)
		}
	})
}

type fakeAuthorizer struct {
	mu   sync.Mutex
	seen []core.AuthRequest
}

func (a *fakeAuthorizer) Authorize(ctx context.Context, req core.AuthRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, req)
	return core.Denied("fake says no")
}

type immutableTemplates struct{}

func (immutableTemplates) RepositoryTemplate(ctx context.Context, reg core.RegistryID, name string, reason core.CreateReason) (core.RepositorySettings, bool, error) {
	return core.RepositorySettings{ImageTagMutability: "IMMUTABLE"}, reason == core.CreateOnPush, nil
}

type fakeUpstream struct {
	mu   sync.Mutex
	refs []string
}

func (u *fakeUpstream) FetchManifest(ctx context.Context, reg core.RegistryID, repo, ref string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.refs = append(u.refs, repo+":"+ref)
	return core.Errorf(core.KindManifestNotFound, "upstream has no %s", ref)
}

func (u *fakeUpstream) FetchBlob(ctx context.Context, reg core.RegistryID, repo string, d digest.Digest) (core.UpstreamBlob, error) {
	return core.UpstreamBlob{}, core.Errorf(core.KindBlobNotFound, "upstream has no %s", d)
}

func (u *fakeUpstream) RefreshDue(ctx context.Context, reg core.RegistryID, repo, tag string, held digest.Digest) bool {
	return false
}

// Options reach the Registry, before and after Restart.
func TestOptionsReachCore(t *testing.T) {
	t.Run("CreateOnPush", func(t *testing.T) {
		coretest.EachWith(t, coretest.Options{CreateOnPush: true}, func(t *testing.T, f *coretest.Fixture) {
			f.PushImage(reg, "created/on-push", "v1", "a")
			f.Restart()
			f.PushImage(reg, "created/again", "v1", "a")
			if len(f.Images(reg, "created/on-push")) != 1 || len(f.Images(reg, "created/again")) != 1 {
				t.Fatal("pushes did not create their repositories")
			}
		})
	})
	t.Run("default", func(t *testing.T) {
		f := coretest.New(t, coretest.Memory, coretest.Options{})
		_, err := f.Registry().PutBlob(coretest.AsRoot(reg), reg, "missing", digest.FromString("x"), strings.NewReader("x"))
		if !core.IsKind(err, core.KindRepositoryNotFound) {
			t.Fatalf("a push to a missing repository without CreateOnPush: %v", err)
		}
		// Upload ids are the same on every run (the seed corpora name them).
		up, err := f.Registry().StartUpload(coretest.AsRoot(reg), reg, mustRepo(f, "ids"))
		again := coretest.New(t, coretest.Memory, coretest.Options{})
		up2, err2 := again.Registry().StartUpload(coretest.AsRoot(reg), reg, mustRepo(again, "ids"))
		if err != nil || err2 != nil || up.ID != up2.ID {
			t.Fatalf("first upload ids %q, %q (%v, %v); want one", up.ID, up2.ID, err, err2)
		}
	})
	t.Run("Templates", func(t *testing.T) {
		coretest.EachWith(t, coretest.Options{Templates: immutableTemplates{}}, func(t *testing.T, f *coretest.Fixture) {
			f.PushImage(reg, "templated", "v1", "a")
			repo, err := f.Registry().GetRepository(context.Background(), reg, "templated")
			if err != nil || repo.ImageTagMutability != "IMMUTABLE" {
				t.Fatalf("repository %+v, %v; want it made IMMUTABLE by the template", repo, err)
			}
		})
	})
	t.Run("Authorizer", func(t *testing.T) {
		authz := &fakeAuthorizer{}
		coretest.EachWith(t, coretest.Options{Authorizer: authz}, func(t *testing.T, f *coretest.Fixture) {
			for range 2 {
				err := f.Registry().Authorize(coretest.AsRoot(reg), core.AuthRequest{Action: "ecr:DescribeImages",
					Resources: []core.Resource{core.RepositoryResource(reg, "x")}})
				if !core.IsKind(err, core.KindDenied) || !strings.Contains(err.Error(), "fake says no") {
					t.Fatalf("Authorize: %v", err)
				}
				f.Restart()
			}
		})
		if len(authz.seen) != 4 || authz.seen[0].Principal != core.RootPrincipal(reg.Account) {
			t.Fatalf("the authorizer saw %+v", authz.seen)
		}
	})
	t.Run("Upstream", func(t *testing.T) {
		up := &fakeUpstream{}
		coretest.EachWith(t, coretest.Options{Upstream: up}, func(t *testing.T, f *coretest.Fixture) {
			f.CreateRepository(reg, "cache")
			_, _, err := f.Registry().GetManifest(coretest.AsRoot(reg), reg, "cache", "latest", nil)
			if !core.IsKind(err, core.KindManifestNotFound) {
				t.Fatalf("GetManifest of a miss: %v", err)
			}
		})
		if !slices.Equal(up.refs, []string{"cache:latest", "cache:latest"}) {
			t.Fatalf("the upstream was asked for %v", up.refs)
		}
	})
	t.Run("Core", func(t *testing.T) {
		o := coretest.Options{Core: func(o *core.Options) { o.MaxUploads = 1 }}
		f := coretest.New(t, coretest.Disk, o)
		repo := mustRepo(f, "ids")
		_, err := f.Registry().StartUpload(coretest.AsRoot(reg), reg, repo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Registry().StartUpload(coretest.AsRoot(reg), reg, repo); !core.IsKind(err, core.KindLimitExceeded) {
			t.Fatalf("a second upload with MaxUploads 1: %v", err)
		}
	})
}
