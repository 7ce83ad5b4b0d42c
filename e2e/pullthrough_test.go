package e2e

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/berth-dev/berth/berthtest"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ---- a live upstream ------------------------------------------------------

// liveUpstream is a registry started by the test (go-containerregistry's)
// that counts the requests berth sends it and can be made to fail, to lie
// about blobs, or to want a password.
type liveUpstream struct {
	*httptest.Server
	host string

	mu     sync.Mutex
	counts map[string]int // "GET manifests", "GET blobs", …

	status     atomic.Int32 // when set, every request is answered with it
	corrupt    atomic.Bool  // blobs are sent with a byte changed
	user, pass string       // when set, requests need HTTP Basic user:pass
}

func newLiveUpstream(t *testing.T, user, pass string) *liveUpstream {
	t.Helper()
	u := &liveUpstream{counts: map[string]int{}, user: user, pass: pass}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := r.URL.Path
		if i := strings.LastIndex(kind, "/"); strings.Contains(kind, "/manifests/") || strings.Contains(kind, "/blobs/") {
			kind = kind[strings.LastIndex(kind[:i], "/")+1 : i]
		}
		u.mu.Lock()
		u.counts[r.Method+" "+kind]++
		u.mu.Unlock()
		if s := u.status.Load(); s != 0 {
			http.Error(w, "upstream maintenance", int(s))
			return
		}
		if u.user != "" {
			got, pass, _ := r.BasicAuth()
			if subtle.ConstantTimeCompare([]byte(got+":"+pass), []byte(u.user+":"+u.pass)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="upstream"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"who are you"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if u.corrupt.Load() && r.Method == http.MethodGet && kind == "blobs" {
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			b := rec.Body.Bytes()
			if len(b) > 0 {
				b[len(b)/2] ^= 0xff
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(rec.Code)
			w.Write(b)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	u.host = strings.TrimPrefix(u.URL, "http://")
	t.Cleanup(u.Close)
	return u
}

func (u *liveUpstream) count(key string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts[key]
}

func (u *liveUpstream) resetCounts() {
	u.mu.Lock()
	u.counts = map[string]int{}
	u.mu.Unlock()
}

// push writes a random image of layers layers of size bytes to repo:tag.
func (u *liveUpstream) push(t *testing.T, repo, tag string, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(u.host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var opts []remote.Option
	if u.user != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: u.user, Password: u.pass}))
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("pushing %s:%s upstream: %v", repo, tag, err)
	}
	return img
}

// pullAll pulls ref as a client does, reading (and so verifying) every
// layer, and returns the image's digest.
func pullAll(ref name.Reference, opts []remote.Option) (v1.Hash, error) {
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return v1.Hash{}, err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return v1.Hash{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		rc, err := l.Compressed() // go-containerregistry checks the digest at the end
		if err != nil {
			return v1.Hash{}, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return v1.Hash{}, err
		}
	}
	return img.Digest()
}

func wantDigest(t *testing.T, what string, got v1.Hash, err error, want v1.Image) {
	t.Helper()
	w, _ := want.Digest()
	if err != nil || got != w {
		t.Fatalf("%s: %v %v, want %s", what, got, err, w)
	}
}

func (s *sdk) createRule(in *ecr.CreatePullThroughCacheRuleInput) *ecr.CreatePullThroughCacheRuleOutput {
	s.t.Helper()
	out, err := s.ecr.CreatePullThroughCacheRule(s.ctx, in)
	if err != nil {
		s.t.Fatalf("CreatePullThroughCacheRule(%s): %v", aws.ToString(in.EcrRepositoryPrefix), err)
	}
	return out
}

// ---- ECR to ECR, inside berth --------------------------------------------

// ptcIAMConfig gives the cache account a role the pull-through cache
// assumes, allowed to pull by its identity policy, as the ECR user guide's
// "IAM policies required for cross-account ECR to ECR pull through cache"
// describes.
const ptcIAMConfig = `accounts:
  - id: "111111111111"
  - id: "222222222222"
    roles:
      - name: ptc-puller
        policies:
          - |
            {"Version":"2012-10-17","Statement":[{"Effect":"Allow",
             "Action":["ecr:GetAuthorizationToken","ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchImportUpstreamImage"],"Resource":"*"}]}
`

// ECR-to-ECR pull through inside berth: an upstream URL naming another
// account's registry that berth holds is pulled from berth itself, as the
// rule's role, once the upstream registry's policy lets the cache account
// pull; until then both surfaces answer with the upstream's refusal.
func TestPullThroughECRToECRInsideBerth(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "iam.yaml")
	if err := os.WriteFile(cfg, []byte(ptcIAMConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	b := Start(t, "--iam-config", cfg)
	tr := newTransport(t, b)
	owner, cache := newSDK(t, b, ownerAccount, "us-east-1"), newSDK(t, b, callerAccount, "us-east-1")
	owner.createRepo("team-a/app")
	hostOf := func(account string) string { return ecrHost(account, "us-east-1") + ":" + port(t, b) }
	upRef, _ := name.ParseReference(hostOf(ownerAccount)+"/team-a/app:v1", name.Insecure)
	img, _ := random.Image(3000, 2)
	if err := remote.Write(upRef, img, ggcr(tr, owner.token())...); err != nil {
		t.Fatalf("the owner pushes team-a/app:v1: %v", err)
	}

	role := "arn:aws:iam::" + callerAccount + ":role/ptc-puller"
	out := cache.createRule(&ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("mirror"),
		UpstreamRegistryUrl: aws.String(ownerAccount + ".dkr.ecr.us-east-1.amazonaws.com"), CustomRoleArn: aws.String(role),
		UpstreamRepositoryPrefix: aws.String("team-a")})
	eq(t, "upstreamRegistry", out.UpstreamRegistry, types.UpstreamRegistryEcr)
	eq(t, "upstreamRepositoryPrefix", aws.ToString(out.UpstreamRepositoryPrefix), "team-a")

	// The owner's registry lets nobody else pull yet.
	v, err := cache.ecr.ValidatePullThroughCacheRule(cache.ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("mirror")})
	noErr(t, "ValidatePullThroughCacheRule", err)
	if v.IsValid || !strings.Contains(aws.ToString(v.Failure), "is not authorized to perform: ecr:BatchGetImage") {
		t.Fatalf("Validate before the owner allows it: %v %q", v.IsValid, aws.ToString(v.Failure))
	}
	cacheRef, _ := name.ParseReference(hostOf(callerAccount)+"/mirror/app:v1", name.Insecure)
	cacheToken := cache.token()
	_, err = pullAll(cacheRef, ggcr(tr, cacheToken, remote.WithRetryStatusCodes()))
	if code, status := transportCode(err); status != http.StatusBadGateway {
		t.Fatalf("a /v2 pull the upstream refuses: %v (%s %d), want 502", err, code, status)
	}
	_, err = cache.ecr.BatchGetImage(cache.ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("mirror/app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if ae := wantCode(t, err, "UnableToGetUpstreamImageException"); !strings.Contains(ae.ErrorMessage(), "assumed-role/ptc-puller") {
		t.Fatalf("the refusal does not say who was refused: %s", ae.ErrorMessage())
	}

	// "The upstream registry owner must also grant the cache registry owner
	// with the required permissions to pull the images" (user guide).
	_, err = owner.ecr.PutRegistryPolicy(owner.ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::` + callerAccount + `:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],
		"Resource":"arn:aws:ecr:us-east-1:` + ownerAccount + `:repository/team-a/*"}]}`)})
	noErr(t, "PutRegistryPolicy", err)
	v, err = cache.ecr.ValidatePullThroughCacheRule(cache.ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("mirror")})
	if err != nil || !v.IsValid {
		t.Fatalf("Validate once allowed: %v %q", err, aws.ToString(v.Failure))
	}
	got, err := pullAll(cacheRef, ggcr(tr, cacheToken))
	wantDigest(t, "the cache's first pull", got, err, img)
	repos, err := cache.ecr.DescribeRepositories(cache.ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"mirror/app"}})
	noErr(t, "DescribeRepositories of the cache repository", err)
	eq(t, "cache repository", aws.ToString(repos.Repositories[0].RepositoryName), "mirror/app")
	d := cache.describeImage("mirror/app", types.ImageIdentifier{ImageTag: aws.String("v1")})
	w, _ := img.Digest()
	eq(t, "cached image", aws.ToString(d.ImageDigest), w.String())

	// The rule goes; what it cached stays, and nothing more is pulled through.
	del, err := cache.ecr.DeletePullThroughCacheRule(cache.ctx, &ecr.DeletePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("mirror")})
	noErr(t, "DeletePullThroughCacheRule", err)
	eq(t, "deleted rule's role", aws.ToString(del.CustomRoleArn), role)
	if _, err := pullAll(cacheRef, ggcr(tr, cacheToken)); err != nil {
		t.Fatalf("the cached image after its rule went: %v", err)
	}
	gone, err := cache.ecr.BatchGetImage(cache.ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("mirror/app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v2")}}})
	noErr(t, "BatchGetImage without a rule", err)
	if len(gone.Failures) != 1 || gone.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound {
		t.Fatalf("a tag pulled after the rule went: %+v", gone.Failures)
	}
}

// ---- a live upstream ------------------------------------------------------

// A pull from a live upstream started by the test, with no manual copy: the
// first pull fetches each part once, the second is served locally, and
// concurrent first pulls of another image still fetch each part once.
func TestPullThroughFromALiveUpstream(t *testing.T) {
	t.Parallel()
	u := newLiveUpstream(t, "", "")
	img := u.push(t, "library/app", "v1", 200000, 3)
	other := u.push(t, "library/app", "v2", 200000, 3)
	u.resetCounts()
	b := Start(t)
	s := defaultSDK(t, b)
	out := s.createRule(&ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String(u.URL)})
	eq(t, "upstreamRegistryUrl", aws.ToString(out.UpstreamRegistryUrl), u.URL)
	opts := ggcr(newTransport(t, b), b.Token(""))

	got, err := pullAll(ref(t, b, "hub/library/app:v1"), opts)
	wantDigest(t, "first pull", got, err, img)
	if m, bl := u.count("GET manifests"), u.count("GET blobs"); m != 1 || bl != 4 {
		t.Fatalf("the first pull fetched %d manifests and %d blobs, want 1 and 4 (%v)", m, bl, u.counts)
	}
	got, err = pullAll(ref(t, b, "hub/library/app:v1"), opts)
	wantDigest(t, "second pull", got, err, img)
	if m, bl := u.count("GET manifests"), u.count("GET blobs"); m != 1 || bl != 4 {
		t.Fatalf("the second pull went upstream: %v", u.counts)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := pullAll(ref(t, b, "hub/library/app:v2"), opts)
			if w, _ := other.Digest(); err == nil && got != w {
				err = fmt.Errorf("pulled %s", got)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, "a concurrent first pull", err)
	}
	if m, bl := u.count("GET manifests"), u.count("GET blobs"); m != 2 || bl != 8 {
		t.Fatalf("6 concurrent first pulls fetched %d manifests and %d blobs in all, want 2 and 8 (%v)", m, bl, u.counts)
	}
	repos, err := s.ecr.DescribeRepositories(s.ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"hub/library/app"}})
	noErr(t, "DescribeRepositories of the cache repository", err)
	eq(t, "cache repository", len(repos.Repositories), 1)
}

// An upstream outage is UnableToGetUpstreamImageException or
// UnableToGetUpstreamLayerException on the API and 502 on /v2, with the
// upstream's reason; an image cached before the outage is still served.
func TestPullThroughUpstreamOutage(t *testing.T) {
	t.Parallel()
	u := newLiveUpstream(t, "", "")
	cached := u.push(t, "library/app", "v1", 1000, 1)
	b := Start(t)
	s := defaultSDK(t, b)
	s.createRule(&ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String(u.URL)})
	opts := ggcr(newTransport(t, b), b.Token(""))
	got, err := pullAll(ref(t, b, "hub/library/app:v1"), opts)
	wantDigest(t, "a pull before the outage", got, err, cached)
	missed := u.push(t, "library/app", "v2", 1000, 1)
	layers, _ := missed.Layers()
	layer, _ := layers[0].Digest()

	u.status.Store(http.StatusServiceUnavailable)
	c := raw(t, b, b.Token(""))
	resp, body := c.do(http.MethodGet, "/v2/hub/library/app/manifests/v2", nil, nil)
	if msg := expectOCIError(t, "/v2 manifest GET during the outage", resp, body, http.StatusBadGateway, "UNKNOWN"); !strings.Contains(msg, "503") {
		t.Fatalf("the upstream's reason is missing: %s", msg)
	}
	resp, body = c.do(http.MethodGet, "/v2/hub/library/app/blobs/"+layer.String(), nil, nil)
	expectOCIError(t, "/v2 blob GET during the outage", resp, body, http.StatusBadGateway, "UNKNOWN")
	_, err = s.ecr.BatchGetImage(s.ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("hub/library/app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v2")}}})
	if ae := wantCode(t, err, "UnableToGetUpstreamImageException"); !strings.Contains(ae.ErrorMessage(), "503") {
		t.Fatalf("BatchGetImage's reason: %s", ae.ErrorMessage())
	}
	_, err = s.ecr.GetDownloadUrlForLayer(s.ctx, &ecr.GetDownloadUrlForLayerInput{RepositoryName: aws.String("hub/library/app"), LayerDigest: aws.String(layer.String())})
	wantCode(t, err, "UnableToGetUpstreamLayerException")
	v, err := s.ecr.ValidatePullThroughCacheRule(s.ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub")})
	if err != nil || v.IsValid || !strings.Contains(aws.ToString(v.Failure), "503") {
		t.Fatalf("Validate during the outage: %v %v %q", err, v.IsValid, aws.ToString(v.Failure))
	}
	got, err = pullAll(ref(t, b, "hub/library/app:v1"), opts)
	wantDigest(t, "the cached image during the outage", got, err, cached)
}

// An upstream that lies about a blob's digest is rejected: the client's
// pull fails, berth stores nothing, and the API says why.
func TestPullThroughRejectsALyingUpstream(t *testing.T) {
	t.Parallel()
	u := newLiveUpstream(t, "", "")
	img := u.push(t, "library/app", "v1", 300000, 1)
	b := Start(t)
	s := defaultSDK(t, b)
	s.createRule(&ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String(u.URL)})
	u.corrupt.Store(true)
	if _, err := pullAll(ref(t, b, "hub/library/app:v1"), ggcr(newTransport(t, b), b.Token(""), remote.WithRetryStatusCodes())); err == nil {
		t.Fatal("a pull of corrupted blobs succeeded")
	}
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	check, err := s.ecr.BatchCheckLayerAvailability(s.ctx, &ecr.BatchCheckLayerAvailabilityInput{RepositoryName: aws.String("hub/library/app"),
		LayerDigests: []string{layer.String()}})
	noErr(t, "BatchCheckLayerAvailability", err)
	if len(check.Layers) != 0 || len(check.Failures) != 1 || check.Failures[0].FailureCode != types.LayerFailureCodeMissingLayerDigest {
		t.Fatalf("a rejected layer is available: %+v %+v", check.Layers, check.Failures)
	}
	_, err = s.ecr.GetDownloadUrlForLayer(s.ctx, &ecr.GetDownloadUrlForLayerInput{RepositoryName: aws.String("hub/library/app"), LayerDigest: aws.String(layer.String())})
	if ae := wantCode(t, err, "UnableToGetUpstreamLayerException"); !strings.Contains(ae.ErrorMessage(), "does not match digest") {
		t.Fatalf("the reason: %s", ae.ErrorMessage())
	}
	// Honest again: the same pull completes.
	u.corrupt.Store(false)
	got, err := pullAll(ref(t, b, "hub/library/app:v1"), ggcr(newTransport(t, b), b.Token("")))
	wantDigest(t, "the pull once the upstream is honest", got, err, img)
}

// An upstream that wants a password gets the one --ptc-credentials holds
// for the rule's credentialArn; a rule naming a secret the file lacks is
// refused with SecretNotFoundException.
func TestPullThroughWithCredentials(t *testing.T) {
	t.Parallel()
	u := newLiveUpstream(t, "puller", "t0ken")
	img := u.push(t, "team/app", "v1", 1000, 1)
	secret := "arn:aws:secretsmanager:us-east-1:" + defaultAccount + ":secret:ecr-pullthroughcache/private-AbCdEf"
	file := filepath.Join(t.TempDir(), "ptc.json")
	if err := os.WriteFile(file, []byte(`{"`+secret+`": {"username": "puller", "accessToken": "t0ken"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b := Start(t, "--ptc-credentials", file)
	s := defaultSDK(t, b)
	s.createRule(&ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("priv"), UpstreamRegistryUrl: aws.String(u.URL),
		UpstreamRegistry: types.UpstreamRegistryDockerHub, CredentialArn: aws.String(secret)})
	v, err := s.ecr.ValidatePullThroughCacheRule(s.ctx, &ecr.ValidatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("priv")})
	if err != nil || !v.IsValid {
		t.Fatalf("Validate: %v %q", err, aws.ToString(v.Failure))
	}
	got, err := pullAll(ref(t, b, "priv/team/app:v1"), ggcr(newTransport(t, b), b.Token("")))
	wantDigest(t, "a pull with credentials", got, err, img)
	_, err = s.ecr.CreatePullThroughCacheRule(s.ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"),
		UpstreamRegistryUrl: aws.String("registry-1.docker.io"), CredentialArn: aws.String(secret + "x")})
	wantCode(t, err, "SecretNotFoundException")
	_, err = s.ecr.CreatePullThroughCacheRule(s.ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"),
		UpstreamRegistryUrl: aws.String("registry-1.docker.io")})
	wantCode(t, err, "InvalidParameterException")
	_, err = s.ecr.CreatePullThroughCacheRule(s.ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"),
		UpstreamRegistryUrl: aws.String("registry.example.com")})
	wantCode(t, err, "UnsupportedUpstreamRegistryException")
	rules, err := s.ecr.DescribePullThroughCacheRules(s.ctx, &ecr.DescribePullThroughCacheRulesInput{})
	noErr(t, "DescribePullThroughCacheRules", err)
	if len(rules.PullThroughCacheRules) != 1 || aws.ToString(rules.PullThroughCacheRules[0].CredentialArn) != secret {
		t.Fatalf("rules: %+v", rules.PullThroughCacheRules)
	}
}

// A tag pulled through is served from the cache until --ptc-refresh has
// passed on berth's clock; then a pull checks it upstream and follows it.
// (In process, on a manual clock.)
func TestPullThroughRefreshOnTheInjectedClock(t *testing.T) {
	t.Parallel()
	u := newLiveUpstream(t, "", "")
	first := u.push(t, "library/app", "latest", 1000, 1)
	clock := core.NewManualClock(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
	srv := berthtest.New(t, berthtest.WithClock(clock), func(c *server.Config) { c.PTCRefresh = time.Hour })
	client := ecr.NewFromConfig(srv.AWSConfig)
	if _, err := client.CreatePullThroughCacheRule(context.Background(), &ecr.CreatePullThroughCacheRuleInput{
		EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String(u.URL)}); err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(srv.Host+"/hub/library/app:latest", name.Insecure)
	pull := func() (v1.Hash, error) {
		return pullAll(r, []remote.Option{remote.WithAuth(&authn.Basic{Username: "AWS", Password: srv.Token()})})
	}
	got, err := pull()
	wantDigest(t, "first pull", got, err, first)
	moved := u.push(t, "library/app", "latest", 1000, 1)
	u.resetCounts()
	clock.Advance(59 * time.Minute)
	got, err = pull()
	wantDigest(t, "a pull before the refresh is due", got, err, first)
	if n := u.count("HEAD manifests") + u.count("GET manifests"); n != 0 {
		t.Fatalf("the tag was checked upstream early (%v)", u.counts)
	}
	clock.Advance(time.Minute)
	got, err = pull()
	wantDigest(t, "a pull once the refresh is due", got, err, moved)
}

// A repository the pull-through cache creates takes the settings of the
// PULL_THROUGH_CACHE creation template that matches it (and not those of
// a template applied for other reasons).
func TestPullThroughAppliesItsCreationTemplate(t *testing.T) {
	t.Parallel()
	u := newLiveUpstream(t, "", "")
	img := u.push(t, "library/app", "v1", 1000, 1)
	b := Start(t)
	s := defaultSDK(t, b)
	_, err := s.ecr.CreateRepositoryCreationTemplate(s.ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("hub"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForPullThroughCache},
		ImageTagMutability: types.ImageTagMutabilityImmutable, ResourceTags: []types.Tag{{Key: aws.String("origin"), Value: aws.String("cache")}}})
	noErr(t, "CreateRepositoryCreationTemplate", err)
	_, err = s.ecr.CreateRepositoryCreationTemplate(s.ctx, &ecr.CreateRepositoryCreationTemplateInput{
		Prefix: aws.String("ROOT"), AppliedFor: []types.RCTAppliedFor{types.RCTAppliedForCreateOnPush},
		ResourceTags: []types.Tag{{Key: aws.String("origin"), Value: aws.String("push")}}})
	noErr(t, "CreateRepositoryCreationTemplate ROOT", err)
	s.createRule(&ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String(u.URL)})
	got, err := pullAll(ref(t, b, "hub/library/app:v1"), ggcr(newTransport(t, b), b.Token("")))
	wantDigest(t, "a first pull", got, err, img)
	repos, err := s.ecr.DescribeRepositories(s.ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"hub/library/app"}})
	noErr(t, "DescribeRepositories", err)
	eq(t, "imageTagMutability", repos.Repositories[0].ImageTagMutability, types.ImageTagMutabilityImmutable)
	tags, err := s.ecr.ListTagsForResource(s.ctx, &ecr.ListTagsForResourceInput{ResourceArn: repos.Repositories[0].RepositoryArn})
	noErr(t, "ListTagsForResource", err)
	eq(t, "tags", fmt.Sprint(tagMap(tags.Tags)), "map[origin:cache]")
}
