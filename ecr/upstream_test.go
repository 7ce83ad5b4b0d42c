package ecr

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// manifestUpstream has one manifest, which it imports through core when asked.
type manifestUpstream struct {
	reg      *core.Registry
	manifest []byte
	calls    int
}

func (u *manifestUpstream) FetchManifest(ctx context.Context, reg core.RegistryID, repo, ref string) error {
	u.calls++
	if ref != "3.20" {
		return core.Errorf(core.KindManifestNotFound, "no %s upstream", ref)
	}
	_, err := u.reg.ImportManifest(core.WithCause(ctx, core.CausePullThrough), reg, repo, core.PutManifestInput{Reference: ref, Body: u.manifest})
	return err
}

func (u *manifestUpstream) FetchBlob(ctx context.Context, reg core.RegistryID, repo string, d digest.Digest) (core.UpstreamBlob, error) {
	return core.UpstreamBlob{}, core.Errorf(core.KindBlobNotFound, "no blobs upstream")
}

func (u *manifestUpstream) RefreshDue(ctx context.Context, reg core.RegistryID, repo, tag string, held digest.Digest) bool {
	return false
}

// BatchGetImage of an image a pull-through cache has not fetched yet — in a
// repository that does not exist yet either — is served from the upstream.
func TestBatchGetImageFetchesOnMiss(t *testing.T) {
	u := &manifestUpstream{manifest: []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":2},"layers":[]}`, digest.FromString("{}")))}
	reg := core.New(core.Options{KV: kv.NewMem(), Blobs: blob.NewMem(), Upstream: u, Log: slog.New(slog.DiscardHandler)})
	u.reg = reg
	t.Cleanup(func() { reg.Close() })
	h := New(Config{Registry: reg, Tokens: core.NewTokens(core.RandomSecret(), nil), DefaultAccount: "000000000000", Region: "us-east-1"})

	rec, out := post(t, h, "BatchGetImage", `{"repositoryName":"hub/alpine","imageIds":[{"imageTag":"3.20"},{"imageTag":"edge"}]}`, "", "")
	if rec.Code != 200 {
		t.Fatalf("BatchGetImage: %d %v", rec.Code, out)
	}
	images, failures := out["images"].([]any), out["failures"].([]any)
	if len(images) != 1 || images[0].(map[string]any)["imageManifest"] != string(u.manifest) {
		t.Fatalf("images %v", images)
	}
	if len(failures) != 1 || failures[0].(map[string]any)["failureCode"] != "ImageNotFound" {
		t.Fatalf("failures %v", failures)
	}
	// Without an upstream, a missing repository is still the answer.
	rec, out = post(t, newTestHandler(t), "BatchGetImage", `{"repositoryName":"hub/alpine","imageIds":[{"imageTag":"3.20"}]}`, "", "")
	if out["__type"] != "RepositoryNotFoundException" {
		t.Fatalf("without an upstream: %d %v", rec.Code, out)
	}
}
