package pullthrough

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
)

func digestOf(h v1.Hash) digest.Digest { return digest.Digest(h.String()) }

// A pull of <prefix>/<name>:<tag> that misses is fetched from the live
// upstream (no manual copy), creates the repository, and is served; a
// second pull is served locally: the upstream sees one fetch of each part.
func TestPullThroughFromALiveUpstream(t *testing.T) {
	u := newUpstream(t)
	img := u.push(t, "library/app", "v1", 4096, 2)
	u.resetCounts()
	c := newCache(t, "", nil)
	c.rule(t, Input{Prefix: "hub", UpstreamURL: "http://" + u.host})

	c.pull(t, "hub/library/app", "v1", img)
	if _, err := c.r.GetRepository(bg(), reg, "hub/library/app"); err != nil {
		t.Fatalf("the cache repository was not created: %v", err)
	}
	manifests, blobs := u.count("GET manifests"), u.count("GET blobs")
	if manifests != 1 || blobs != 3 {
		t.Fatalf("first pull: the upstream served %d manifests and %d blobs, want 1 and 3", manifests, blobs)
	}
	c.pull(t, "hub/library/app", "v1", img)
	if u.count("GET manifests") != 1 || u.count("GET blobs") != 3 || u.count("HEAD manifests") != 0 {
		t.Fatalf("the second pull went upstream: %v", u.counts)
	}
	// The image was recorded as pushed by the pull-through cache.
	if imgs := c.f.Images(reg, "hub/library/app"); len(imgs) != 1 || len(imgs[0].Tags) != 1 || imgs[0].Tags[0] != "v1" {
		t.Fatalf("cached images %+v", imgs)
	}
	// A name under no rule, or one the upstream lacks, is a plain miss.
	_, _, err := c.r.GetManifest(bg(), reg, "other/app", "v1", nil)
	if !core.IsKind(err, core.KindRepositoryNotFound) {
		t.Fatalf("a repository under no rule: %v", err)
	}
	_, _, err = c.r.GetManifest(bg(), reg, "hub/library/app", "v2", nil)
	if !core.IsKind(err, core.KindManifestNotFound) {
		t.Fatalf("a tag the upstream lacks: %v", err)
	}
}

// Concurrent first pulls of one image fetch each part from the upstream once.
func TestConcurrentFirstPullsFetchOnce(t *testing.T) {
	u := newUpstream(t)
	img := u.push(t, "library/app", "v1", 1<<20, 3)
	u.resetCounts()
	c := newCache(t, "", nil)
	c.rule(t, Input{Prefix: "hub", UpstreamURL: "http://" + u.host})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); c.pull(t, "hub/library/app", "v1", img) }()
	}
	wg.Wait()
	if m, b := u.count("GET manifests"), u.count("GET blobs"); m != 1 || b != 4 {
		t.Fatalf("8 concurrent first pulls: %d manifest and %d blob fetches, want 1 and 4", m, b)
	}
}

// An upstream that is down, or failing, is reported as
// KindUpstreamUnavailable with its reason, for manifests and blobs alike;
// nothing is stored.
func TestUpstreamOutage(t *testing.T) {
	u := newUpstream(t)
	img := u.push(t, "library/app", "v1", 1024, 1)
	c := newCache(t, "", nil)
	c.rule(t, Input{Prefix: "hub", UpstreamURL: "http://" + u.host})

	u.status.Store(503)
	_, _, err := c.r.GetManifest(bg(), reg, "hub/library/app", "v1", nil)
	if !core.IsKind(err, core.KindUpstreamUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a failing upstream: %v", err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	_, err = c.r.OpenBlob(bg(), reg, "hub/library/app", digestOf(ld))
	if !core.IsKind(err, core.KindUpstreamUnavailable) {
		t.Fatalf("a failing upstream, for a blob: %v", err)
	}
	u.status.Store(0)
	u.Close() // gone altogether
	_, _, err = c.r.GetManifest(bg(), reg, "hub/library/app", "v1", nil)
	if !core.IsKind(err, core.KindUpstreamUnavailable) || !strings.Contains(err.Error(), "could not be reached") {
		t.Fatalf("an unreachable upstream: %v", err)
	}
	if _, err := c.r.GetRepository(bg(), reg, "hub/library/app"); !core.IsKind(err, core.KindRepositoryNotFound) {
		t.Fatalf("a failed first pull left a repository: %v", err)
	}
}

// An upstream that lies about a digest is rejected and nothing is stored:
// a blob whose bytes do not hash to it, a manifest fetched by digest that
// is another, a tag whose manifest is not the digest the upstream claims.
func TestLyingUpstreamIsRejected(t *testing.T) {
	u := newUpstream(t)
	img := u.push(t, "library/app", "v1", 50000, 1)
	c := newCache(t, "", nil)
	c.rule(t, Input{Prefix: "hub", UpstreamURL: "http://" + u.host})
	c.pull(t, "hub/library/app", "v1", img) // the manifest and config are honest

	other := u.push(t, "library/app", "v2", 50000, 1)
	u.corrupt.Store(true)
	layers, _ := other.Layers()
	ld, _ := layers[0].Digest()
	if _, _, err := c.r.GetManifest(bg(), reg, "hub/library/app", "v2", nil); err != nil {
		t.Fatal(err)
	}
	rd, err := c.r.OpenBlob(bg(), reg, "hub/library/app", digestOf(ld))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rd)
	rd.Close()
	if !core.IsKind(err, core.KindUpstreamUnavailable) || !strings.Contains(err.Error(), "does not match digest") {
		t.Fatalf("a corrupted blob: %v", err)
	}
	if _, err := c.r.StatBlob(bg(), reg, "hub/library/app", digestOf(ld)); !core.IsKind(err, core.KindBlobNotFound) {
		t.Fatalf("a corrupted blob was stored: %v", err)
	}
	u.corrupt.Store(false)

	lie := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	asked := digest.FromString("the manifest that was asked for")
	u.lies["/v2/library/app/manifests/"+asked.String()] = lie
	_, _, err = c.r.GetManifest(bg(), reg, "hub/library/app", asked.String(), nil)
	if !core.IsKind(err, core.KindUpstreamUnavailable) || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("a manifest that is not the digest asked for: %v", err)
	}
	u.lies["/v2/library/app/manifests/v3"] = lie
	u.liesHdr["/v2/library/app/manifests/v3"] = asked.String()
	_, _, err = c.r.GetManifest(bg(), reg, "hub/library/app", "v3", nil)
	if !core.IsKind(err, core.KindUpstreamUnavailable) {
		t.Fatalf("a tag whose manifest is not the digest claimed: %v", err)
	}
	for _, ref := range []string{asked.String(), "v3", digest.FromBytes(lie).String()} {
		if _, err := c.r.StatManifest(core.WithCause(bg(), core.CausePullThrough), reg, "hub/library/app", ref, nil); err == nil {
			t.Fatalf("a lie was stored as %s", ref)
		}
	}
}

// A tag pulled through is served from the cache until --ptc-refresh has
// passed on the clock; then one pull checks it upstream (a HEAD), and
// fetches it again only if it moved.
func TestTagRefreshAfterInterval(t *testing.T) {
	u := newUpstream(t)
	v1img := u.push(t, "library/app", "latest", 2048, 1)
	c := newCache(t, "", nil)
	c.svc.refresh = time.Hour
	c.rule(t, Input{Prefix: "hub", UpstreamURL: "http://" + u.host})
	c.pull(t, "hub/library/app", "latest", v1img)

	v2img := u.push(t, "library/app", "latest", 2048, 1) // the tag moves upstream
	u.resetCounts()
	c.f.Clock.Advance(59 * time.Minute)
	c.pull(t, "hub/library/app", "latest", v1img)
	if n := u.count("HEAD manifests") + u.count("GET manifests"); n != 0 {
		t.Fatalf("the tag was checked upstream before its refresh was due (%d requests)", n)
	}
	c.f.Clock.Advance(time.Minute)
	c.pull(t, "hub/library/app", "latest", v2img)
	if u.count("HEAD manifests") != 1 || u.count("GET manifests") != 1 {
		t.Fatalf("the due refresh asked %v", u.counts)
	}
	// Checked again an hour later, unchanged: a HEAD and nothing more.
	u.resetCounts()
	c.f.Clock.Advance(time.Hour)
	c.pull(t, "hub/library/app", "latest", v2img)
	if u.count("HEAD manifests") != 1 || u.count("GET manifests") != 0 || u.count("GET blobs") != 0 {
		t.Fatalf("an unchanged tag's refresh asked %v", u.counts)
	}
	// Due, but the upstream is down: the cached image is served.
	c.f.Clock.Advance(time.Hour)
	u.status.Store(502)
	c.pull(t, "hub/library/app", "latest", v2img)
}

const secret = "arn:aws:secretsmanager:us-east-1:111111111111:secret:ecr-pullthroughcache/hub-AbCdEf"

// An upstream that needs a password gets the one the rule's credentialArn
// names in the credentials file; a wrong one is an authentication failure,
// reported by ValidatePullThroughCacheRule too.
func TestCredentialsFromTheFile(t *testing.T) {
	u := newUpstream(t)
	u.user, u.pass = "alice", "s3cret"
	img := u.push(t, "team/app", "v1", 1024, 1)
	c := newCache(t, secret+":\n  username: alice\n  accessToken: s3cret\n", nil)
	c.rule(t, Input{Prefix: "priv", UpstreamURL: "http://" + u.host, UpstreamRegistry: DockerHub, CredentialARN: secret})
	c.pull(t, "priv/team/app", "v1", img)
	if _, failure, err := c.svc.Validate(bg(), reg, "priv"); err != nil || failure != "" {
		t.Fatalf("Validate with the right password: %q %v", failure, err)
	}

	u.pass = "rotated"
	u.push(t, "team/app", "v2", 1024, 1)
	_, _, err := c.r.GetManifest(bg(), reg, "priv/team/app", "v2", nil)
	if !core.IsKind(err, core.KindUpstreamUnavailable) || !strings.Contains(err.Error(), "authentication to the upstream registry failed") {
		t.Fatalf("a wrong password: %v", err)
	}
	if _, failure, err := c.svc.Validate(bg(), reg, "priv"); err != nil || !strings.Contains(failure, "authentication") {
		t.Fatalf("Validate with a wrong password: %q %v", failure, err)
	}

	// Without the rule's secret, a rule needing one cannot be created.
	_, err = c.svc.Create(bg(), reg, Input{Prefix: "gh", UpstreamURL: "ghcr.io", CredentialARN: secret + "-missing"})
	if !errors.Is(err, ErrSecretNotFound) {
		t.Fatalf("Create naming a missing secret: %v", err)
	}
}

// recordingAuthorizer allows everything but what deny names (a principal,
// or "principal action"), and remembers what it was asked.
type recordingAuthorizer struct {
	mu    sync.Mutex
	asked []core.AuthRequest
	deny  string
}

func (a *recordingAuthorizer) Authorize(ctx context.Context, req core.AuthRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, req)
	if a.deny != "" && (a.deny == req.Principal || a.deny == req.Principal+" "+req.Action) {
		return core.AccessDenied(req, req.Resources[0], "no resource-based policy allows the "+req.Action+" action")
	}
	return nil
}

// ECR-to-ECR inside berth: an upstream URL naming a registry berth holds is
// pulled from berth's own core, as the rule's role, after the authorizer
// decided; blobs are linked, not fetched over the network.
func TestECRUpstreamInsideBerth(t *testing.T) {
	authz := &recordingAuthorizer{}
	c := newCache(t, "", authz)
	upReg := coretest.RegB
	c.f.CreateRepository(upReg, "team-a/app")
	pushed := c.f.PushImage(upReg, "team-a/app", "v1", "upstream image")
	role := "arn:aws:iam::111111111111:role/ptc-puller"
	c.rule(t, Input{Prefix: "mirror", UpstreamURL: "222222222222.dkr.ecr.us-east-1.amazonaws.com", CustomRoleARN: role, UpstreamPrefix: "team-a"})

	m, _, err := c.r.GetManifest(bg(), reg, "mirror/app", "v1", nil)
	if err != nil || m.Digest != pushed.Digest {
		t.Fatalf("ECR-to-ECR pull: %v %v", m.Digest, err)
	}
	for _, b := range append([]core.Descriptor{*pushed.Manifest.Config}, pushed.Manifest.Layers...) {
		if _, err := c.r.StatBlob(bg(), reg, "mirror/app", b.Digest); err != nil {
			t.Fatalf("blob %s was not linked: %v", b.Digest, err)
		}
	}
	authz.mu.Lock()
	var asked []core.AuthRequest
	for _, a := range authz.asked {
		if a.Principal != core.RootPrincipal(reg.Account) {
			asked = append(asked, a)
		}
	}
	authz.mu.Unlock()
	if len(asked) != 1 || asked[0].Action != "ecr:BatchGetImage" || asked[0].Principal != "arn:aws:sts::111111111111:assumed-role/ptc-puller/berth" ||
		asked[0].Resources[0].ARN != core.RepositoryARN(upReg, "team-a/app") {
		t.Fatalf("the upstream pull was authorized as %+v", asked)
	}

	// Denied upstream: an upstream failure with the authorizer's reason;
	// nothing is read.
	authz.deny = roleSession(role)
	_, _, err = c.r.GetManifest(bg(), reg, "mirror/other", "v1", nil)
	if !core.IsKind(err, core.KindUpstreamUnavailable) || !strings.Contains(err.Error(), "not authorized to perform: ecr:BatchGetImage") {
		t.Fatalf("a denied upstream pull: %v", err)
	}
	if _, failure, err := c.svc.Validate(bg(), reg, "mirror"); err != nil || !strings.Contains(failure, "not authorized") {
		t.Fatalf("Validate of a denied rule: %q %v", failure, err)
	}
	authz.deny = ""
	if _, failure, err := c.svc.Validate(bg(), reg, "mirror"); err != nil || failure != "" {
		t.Fatalf("Validate of an allowed rule: %q %v", failure, err)
	}
}

// Same account, no role: the registry pulls as its own account, and a blob
// asked for before its manifest is streamed from the upstream repository.
func TestECRUpstreamSameAccountBlobFirst(t *testing.T) {
	c := newCache(t, "", nil)
	upReg := coretest.RegA2 // same account, another region
	c.f.CreateRepository(upReg, "app")
	pushed := c.f.PushImage(upReg, "app", "v1", "seed")
	c.rule(t, Input{Prefix: "west", UpstreamURL: "111111111111.dkr.ecr.eu-west-1.amazonaws.com"})
	layer := pushed.Manifest.Layers[0]
	rd, err := c.r.OpenBlob(bg(), reg, "west/app", layer.Digest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rd)
	rd.Close()
	if err != nil || digest.FromBytes(b) != layer.Digest {
		t.Fatalf("a blob pulled first: %v", err)
	}
	if m := c.f.Pull(reg, "west/app", "v1"); m.Digest != pushed.Digest {
		t.Fatalf("pulled %s", m.Digest)
	}
}

// The caller whose pull misses needs ecr:BatchImportUpstreamImage on the
// cache repository, and ecr:CreateRepository while it does not exist (ECR
// user guide, IAM permissions required to sync an upstream registry);
// refused, it is denied before anything is fetched, and other callers are
// not.
func TestTheCallerMayImport(t *testing.T) {
	u := newUpstream(t)
	img := u.push(t, "library/app", "v1", 1024, 1)
	u.resetCounts()
	authz := &recordingAuthorizer{}
	c := newCache(t, "", authz)
	c.rule(t, Input{Prefix: "hub", UpstreamURL: "http://" + u.host})
	puller := "arn:aws:iam::111111111111:user/puller"
	as := coretest.As(reg, puller)
	for _, action := range []string{"ecr:CreateRepository", "ecr:BatchImportUpstreamImage"} {
		authz.deny = puller + " " + action
		_, _, err := c.r.GetManifest(as, reg, "hub/library/app", "v1", nil)
		if !core.IsKind(err, core.KindDenied) || !strings.Contains(err.Error(), action) {
			t.Fatalf("a caller refused %s: %v", action, err)
		}
	}
	if n := u.count("GET manifests"); n != 0 {
		t.Fatalf("a refused caller's pull reached the upstream (%d)", n)
	}
	c.pull(t, "hub/library/app", "v1", img) // root may
	// Once the repository exists, importing needs no CreateRepository.
	authz.deny = puller + " ecr:CreateRepository"
	u.push(t, "library/app", "v2", 1024, 1)
	if _, _, err := c.r.GetManifest(as, reg, "hub/library/app", "v2", nil); err != nil {
		t.Fatalf("an import into an existing cache repository: %v", err)
	}
	// The registry's own reads (no caller) import without asking.
	authz.mu.Lock()
	authz.asked = nil
	authz.mu.Unlock()
	u.push(t, "library/app", "v3", 1024, 1)
	if _, _, err := c.r.GetManifest(context.Background(), reg, "hub/library/app", "v3", nil); err != nil {
		t.Fatal(err)
	}
	authz.mu.Lock()
	defer authz.mu.Unlock()
	if len(authz.asked) != 0 {
		t.Fatalf("the registry's own read asked %+v", authz.asked)
	}
}
