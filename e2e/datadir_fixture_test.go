package e2e

import (
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	gtypes "github.com/google/go-containerregistry/pkg/v1/types"
)

// A data dir written by an older berth must open in this one with
// everything in it served as before, through /v2 and the ECR API. Each
// fixture under testdata/ is a data dir as an older build left it (its
// layout version is in the name), written by TestWriteDataDirFixture with
// that build:
//
//	go test ./e2e -run TestWriteDataDirFixture -write-data-dir-fixture "$PWD/e2e/testdata/datadir-layoutN"
//
// Its content is made from fixed bytes (fixtureContent), so the test that
// opens it rebuilds what it must find instead of reading expectations
// written beside it.
var writeDataDirFixture = flag.String("write-data-dir-fixture", "",
	"write a data dir fixture for TestOpenServesOlderDataDirs to this directory (with the berth built from this tree) and exit the test")

// dataDirFixtures are the data dirs of older layouts that this berth must
// open: testdata/<dir>, as written by the build that used that layout.
var dataDirFixtures = []string{"datadir-layout6", "datadir-layout7"}

const (
	fixtureApp    = "fixture/app"   // created by CreateRepository, with settings
	fixtureMulti  = "fixture/multi" // created on push, holds an index
	fixturePolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"CrossAccountPull","Effect":"Allow",` +
		`"Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	fixtureLifecycle = `{"rules":[{"rulePriority":1,"description":"expire untagged","selection":` +
		`{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":30},"action":{"type":"expire"}}]}`
)

// fixtureContent is what a fixture holds, built from fixed bytes: in
// fixture/app an image tagged v1 (a small config, one layer small enough
// to be kept in the metadata store and one too large for it: a file) and
// an untagged image; in fixture/multi an index of two images, tagged idx.
type fixtureContent struct {
	tagged, untagged v1.Image
	index            v1.ImageIndex
}

func newFixtureContent(t testing.TB) fixtureContent {
	t.Helper()
	tagged := fixtureImage(t, 1, 40, 100_000)
	untagged := fixtureImage(t, 2, 300)
	idx := mutate.IndexMediaType(empty.Index, gtypes.OCIImageIndex)
	for i, arch := range []string{"amd64", "arm64"} {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        fixtureImage(t, byte(10+i), 500+i),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return fixtureContent{tagged: tagged, untagged: untagged, index: idx}
}

// fixtureImage is an OCI image whose layers are the pattern bytes of seed in
// the given sizes, with a fixed creation time.
func fixtureImage(t testing.TB, seed byte, sizes ...int) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, gtypes.OCIManifestSchema1), gtypes.OCIConfigJSON)
	for i, n := range sizes {
		var err error
		img, err = mutate.AppendLayers(img, static.NewLayer(patternBytes(seed+byte(i), n), gtypes.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestWriteDataDirFixture writes a fixture (see writeDataDirFixture); it
// does nothing unless asked to.
func TestWriteDataDirFixture(t *testing.T) {
	dir := *writeDataDirFixture
	if dir == "" {
		t.Skip("writes a data dir fixture only when -write-data-dir-fixture is given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("%s is not empty", dir)
	}
	b := StartOnDataDir(t, dir, "--create-on-push")
	s := defaultSDK(t, b)
	c := newFixtureContent(t)
	s.createRepo(fixtureApp, func(in *ecr.CreateRepositoryInput) {
		in.ImageTagMutability = types.ImageTagMutabilityImmutable
		in.Tags = []types.Tag{{Key: aws.String("team"), Value: aws.String("fixture")}}
	})
	if _, err := s.ecr.SetRepositoryPolicy(s.ctx, &ecr.SetRepositoryPolicyInput{
		RepositoryName: aws.String(fixtureApp), PolicyText: aws.String(fixturePolicy)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ecr.PutLifecyclePolicy(s.ctx, &ecr.PutLifecyclePolicyInput{
		RepositoryName: aws.String(fixtureApp), LifecyclePolicyText: aws.String(fixtureLifecycle)}); err != nil {
		t.Fatal(err)
	}

	tr := newTransport(t, b)
	opts := ggcr(tr, b.Token(""))
	if err := remote.Write(ref(t, b, fixtureApp+":v1"), c.tagged, opts...); err != nil {
		t.Fatal(err)
	}
	udg, _ := c.untagged.Digest()
	if err := remote.Write(ref(t, b, fixtureApp+"@"+udg.String()), c.untagged, opts...); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref(t, b, fixtureMulti+":idx"), c.index, opts...); err != nil {
		t.Fatal(err)
	}
	// A pull, so that the image has a pull time to carry over.
	if _, err := remote.Image(ref(t, b, fixtureApp+":v1"), opts...); err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections()
	b.Stop()
}

// TestOpenServesOlderDataDirs opens each fixture (a data dir written by an
// older berth) with this one and checks that everything in it is served as
// it was, through /v2 and the ECR API, that writes work after the upgrade,
// and that both survive a restart.
func TestOpenServesOlderDataDirs(t *testing.T) {
	t.Parallel()
	for _, name := range dataDirFixtures {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", name))); err != nil {
				t.Fatal(err)
			}
			// berth keeps its data dir private; git does not keep modes.
			if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() {
					return os.Chmod(p, 0o700)
				}
				return os.Chmod(p, 0o600)
			}); err != nil {
				t.Fatal(err)
			}
			b := StartOnDataDir(t, dir, "--create-on-push", "--log-level", "info")
			// Every fixture is of an older layout than this berth's: it
			// must have been upgraded, not merely opened.
			if log := b.Stderr(); !strings.Contains(log, "upgrading the metadata store") {
				t.Fatalf("berth opened %s without upgrading it; its log:\n%s", name, log)
			}
			c := newFixtureContent(t)
			checkFixtureServed(t, b, c)

			// Writes after the upgrade: a new tagged image, the untagged one deleted.
			added := fixtureImage(t, 3, 70_000)
			tr := newTransport(t, b)
			opts := ggcr(tr, b.Token(""))
			if err := remote.Write(ref(t, b, fixtureApp+":v2"), added, opts...); err != nil {
				t.Fatal(err)
			}
			s := defaultSDK(t, b)
			udg, _ := c.untagged.Digest()
			out, err := s.ecr.BatchDeleteImage(s.ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String(fixtureApp),
				ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(udg.String())}}})
			if err != nil || len(out.Failures) > 0 || len(out.ImageIds) != 1 {
				t.Fatalf("BatchDeleteImage of the untagged image: %+v, %v", out, err)
			}
			tr.CloseIdleConnections()
			b.Restart()

			got, err := remote.Image(ref(t, b, fixtureApp+":v2"), opts...)
			if err != nil {
				t.Fatalf("pull of the image pushed after the upgrade, after a restart: %v", err)
			}
			compareImages(t, added, got)
			if _, err := remote.Image(ref(t, b, fixtureApp+"@"+udg.String()), opts...); err == nil {
				t.Fatal("the image deleted after the upgrade is served after a restart")
			}
			c.untagged = nil
			checkFixtureServed(t, b, c)
		})
	}
}

// checkFixtureServed checks that b serves c (without c.untagged when nil):
// every image pulled bit for bit by tag and by digest over /v2, and the
// repositories, their settings and policies and the images' details
// through the ECR API.
func checkFixtureServed(t *testing.T, b *Berth, c fixtureContent) {
	t.Helper()
	tr := newTransport(t, b)
	defer tr.CloseIdleConnections()
	opts := ggcr(tr, b.Token(""))
	tdg, _ := c.tagged.Digest()
	for _, r := range []string{fixtureApp + ":v1", fixtureApp + "@" + tdg.String()} {
		got, err := remote.Image(ref(t, b, r), opts...)
		if err != nil {
			t.Fatalf("pull %s: %v", r, err)
		}
		compareImages(t, c.tagged, got)
	}
	if c.untagged != nil {
		udg, _ := c.untagged.Digest()
		got, err := remote.Image(ref(t, b, fixtureApp+"@"+udg.String()), opts...)
		if err != nil {
			t.Fatalf("pull of the untagged image: %v", err)
		}
		compareImages(t, c.untagged, got)
	}
	idg, _ := c.index.Digest()
	gotIdx, err := remote.Index(ref(t, b, fixtureMulti+":idx"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := gotIdx.Digest(); d != idg {
		t.Fatalf("index digest %s, want %s", d, idg)
	}
	im, err := c.index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		want, _ := c.index.Image(m.Digest)
		got, err := remote.Image(ref(t, b, fixtureMulti+"@"+m.Digest.String()), opts...)
		if err != nil {
			t.Fatalf("pull of the index's image %s: %v", m.Digest, err)
		}
		compareImages(t, want, got)
	}

	s := defaultSDK(t, b)
	repos, err := s.ecr.DescribeRepositories(s.ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{fixtureApp, fixtureMulti}})
	if err != nil {
		t.Fatal(err)
	}
	if len(repos.Repositories) != 2 {
		t.Fatalf("DescribeRepositories: %d repositories", len(repos.Repositories))
	}
	app := repos.Repositories[0]
	if aws.ToString(app.RepositoryName) != fixtureApp {
		app = repos.Repositories[1]
	}
	if app.ImageTagMutability != types.ImageTagMutabilityImmutable {
		t.Errorf("%s: imageTagMutability %s, want IMMUTABLE", fixtureApp, app.ImageTagMutability)
	}
	if app.CreatedAt == nil || app.CreatedAt.After(time.Now()) || !strings.HasSuffix(aws.ToString(app.RepositoryUri), "/"+fixtureApp) {
		t.Errorf("%s: createdAt %v, uri %q", fixtureApp, app.CreatedAt, aws.ToString(app.RepositoryUri))
	}
	tags, err := s.ecr.ListTagsForResource(s.ctx, &ecr.ListTagsForResourceInput{ResourceArn: app.RepositoryArn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" || aws.ToString(tags.Tags[0].Value) != "fixture" {
		t.Errorf("ListTagsForResource %s: %+v, %v", fixtureApp, tags, err)
	}
	pol, err := s.ecr.GetRepositoryPolicy(s.ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(fixtureApp)})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "repository policy", aws.ToString(pol.PolicyText), fixturePolicy)
	lc, err := s.ecr.GetLifecyclePolicy(s.ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(fixtureApp)})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "lifecycle policy", aws.ToString(lc.LifecyclePolicyText), fixtureLifecycle)

	imgs, err := s.ecr.DescribeImages(s.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(fixtureApp)})
	if err != nil {
		t.Fatal(err)
	}
	byDigest := map[string]types.ImageDetail{}
	for _, d := range imgs.ImageDetails {
		byDigest[aws.ToString(d.ImageDigest)] = d
	}
	d, ok := byDigest[tdg.String()]
	if !ok {
		t.Fatalf("DescribeImages %s: no %s among %d images", fixtureApp, tdg, len(imgs.ImageDetails))
	}
	if !slices.Contains(d.ImageTags, "v1") || d.LastRecordedPullTime == nil || d.ImagePushedAt == nil ||
		d.LastRecordedPullTime.Before(*d.ImagePushedAt) || aws.ToInt64(d.ImageSizeInBytes) <= 100_000 {
		t.Errorf("DescribeImages %s: the tagged image: tags %v, pushed %v, last pulled %v, size %d",
			fixtureApp, d.ImageTags, d.ImagePushedAt, d.LastRecordedPullTime, aws.ToInt64(d.ImageSizeInBytes))
	}
	if c.untagged != nil {
		udg, _ := c.untagged.Digest()
		if u, ok := byDigest[udg.String()]; !ok || len(u.ImageTags) != 0 {
			t.Errorf("DescribeImages %s: the untagged image: %+v (found %v)", fixtureApp, u, ok)
		}
	}
	list, err := s.ecr.ListImages(s.ctx, &ecr.ListImagesInput{RepositoryName: aws.String(fixtureMulti)})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, id := range list.ImageIds {
		listed = append(listed, aws.ToString(id.ImageDigest)+" "+aws.ToString(id.ImageTag))
	}
	want := []string{idg.String() + " idx"}
	for _, m := range im.Manifests {
		want = append(want, m.Digest.String()+" ")
	}
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("ListImages %s: %v, want %v", fixtureMulti, listed, want)
	}
}

// sameJSON fails unless got and want are the same JSON value.
func sameJSON(t testing.TB, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %v: %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: %s, want %s", what, got, want)
	}
}
