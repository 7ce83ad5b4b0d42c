package e2e

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

// verifyPolicy is a --verify-config / PUT /_berth/verification body: prod/* enforced with
// the given keys (and pulls too if pull), audit/* audited.
func verifyPolicy(pull bool, keys ...string) string {
	var b strings.Builder
	b.WriteString("rules:\n  - name: prod-signed\n    repositories: ['prod/*']\n    mode: enforce\n")
	if pull {
		b.WriteString("    pull: true\n")
	}
	b.WriteString("    keys:\n")
	for _, k := range keys {
		b.WriteString("      - pem: |\n")
		for _, line := range strings.Split(strings.TrimSpace(k), "\n") {
			b.WriteString("          " + line + "\n")
		}
	}
	b.WriteString("  - name: audit-only\n    repositories: ['audit/*']\n    mode: audit\n    keys:\n      - pem: |\n")
	for _, line := range strings.Split(strings.TrimSpace(keys[0]), "\n") {
		b.WriteString("          " + line + "\n")
	}
	return b.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pushByDigest writes a random image without a tag: nothing to verify yet.
func pushByDigest(t *testing.T, b *Berth, tr http.RoundTripper, token, repo string) (v1.Image, v1.Hash) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	dg, _ := img.Digest()
	if err := remote.Write(ref(t, b, repo+"@"+dg.String()), img, ggcr(tr, token)...); err != nil {
		t.Fatalf("pushing %s by digest: %v", repo, err)
	}
	return img, dg
}

// storeArtifact pushes a signature artifact's blobs and its manifest (under tag, or by digest).
func storeArtifact(t *testing.T, c *rawClient, repo, tag string, a sigtest.Artifact) {
	t.Helper()
	for _, blob := range a.Blobs {
		c.pushBlob(repo, blob)
	}
	r := tag
	if r == "" {
		r = a.Digest.String()
	}
	resp, body := c.do(http.MethodPut, "/v2/"+repo+"/manifests/"+r, a.Manifest, map[string]string{"Content-Type": a.MediaType})
	expect(t, "storing signature "+r, resp, body, http.StatusCreated)
}

func manifestOf(t *testing.T, img v1.Image) (string, string) {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := img.MediaType()
	return string(raw), string(mt)
}

func TestVerifyEnforceAndAuditThroughTheSDKAndGoContainerRegistry(t *testing.T) {
	key, ca := sigtest.NewKey(), sigtest.NewCA("berth e2e CA")
	cfg := writeFile(t, t.TempDir(), "verify.yaml", verifyPolicy(false, key.PublicPEM(), ca.PEM()))
	b := Start(t, "--create-on-push", "--verify-config", cfg)
	token := b.Token("")
	tr := newTransport(t, b)
	c := raw(t, b, token)
	s := defaultSDK(t, b)

	img, dg := pushByDigest(t, b, tr, token, "prod/app")
	manifest, mt := manifestOf(t, img)

	// Unsigned: PutImage answers InvalidParameterException naming the rule; /v2 403 DENIED.
	_, err := s.ecr.PutImage(s.ctx, &ecr.PutImageInput{RepositoryName: aws.String("prod/app"), ImageTag: aws.String("v1"),
		ImageManifest: aws.String(manifest), ImageManifestMediaType: aws.String(mt)})
	var ipe *types.InvalidParameterException
	if !errors.As(err, &ipe) || !strings.Contains(ipe.ErrorMessage(), "rule 'prod-signed'") || !strings.Contains(ipe.ErrorMessage(), "no signature found") {
		t.Fatalf("PutImage of an unsigned image: %v, want InvalidParameterException naming the rule", err)
	}
	err = remote.Tag(ref(t, b, "prod/app:v1").Context().Tag("v1"), img, ggcr(tr, token)...)
	if code, status := transportCode(err); code != transport.DeniedErrorCode || status != http.StatusForbidden ||
		!strings.Contains(err.Error(), "rule 'prod-signed'") {
		t.Fatalf("/v2 tag of an unsigned image: %v (%s, %d), want 403 DENIED naming the rule", err, code, status)
	}
	out, err := s.ecr.DescribeImages(s.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("prod/app")})
	if err != nil || len(out.ImageDetails) != 1 || len(out.ImageDetails[0].ImageTags) != 0 {
		t.Fatalf("after the refusals: %+v, %v; want the image untagged", out, err)
	}

	// A signature by another key changes nothing; the trusted key's lets both surfaces tag.
	other := sigtest.NewKey()
	d := digest.Digest(dg.String())
	storeArtifact(t, c, "prod/app", sigtest.LegacyTag(d), sigtest.SignLegacy(other, b.Addr+"/prod/app", d))
	if _, err := s.ecr.PutImage(s.ctx, &ecr.PutImageInput{RepositoryName: aws.String("prod/app"), ImageTag: aws.String("v1"),
		ImageManifest: aws.String(manifest), ImageManifestMediaType: aws.String(mt)}); !errors.As(err, &ipe) ||
		!strings.Contains(ipe.ErrorMessage(), "does not verify") {
		t.Fatalf("PutImage with a signature by an untrusted key: %v", err)
	}
	storeArtifact(t, c, "prod/app", sigtest.LegacyTag(d), sigtest.SignLegacy(key, b.Addr+"/prod/app", d))
	if _, err := s.ecr.PutImage(s.ctx, &ecr.PutImageInput{RepositoryName: aws.String("prod/app"), ImageTag: aws.String("v1"),
		ImageManifest: aws.String(manifest), ImageManifestMediaType: aws.String(mt)}); err != nil {
		t.Fatalf("PutImage of a signed image: %v", err)
	}
	if err := remote.Tag(ref(t, b, "prod/app:v2").Context().Tag("v2"), img, ggcr(tr, token)...); err != nil {
		t.Fatalf("/v2 tag of a signed image: %v", err)
	}

	// A Notation signature under the trusted CA, stored as a referrer, is enough too.
	img2, dg2 := pushByDigest(t, b, tr, token, "prod/app")
	m2, _ := manifestOf(t, img2)
	storeArtifact(t, c, "prod/app", "", sigtest.NotationReferrer(ca, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
		Digest: digest.Digest(dg2.String()), Size: int64(len(m2))}))
	if err := remote.Tag(ref(t, b, "prod/app:notation").Context().Tag("notation"), img2, ggcr(tr, token)...); err != nil {
		t.Fatalf("/v2 tag of a Notation-signed image: %v", err)
	}

	// Audit lets an unsigned image through and records the decision.
	aimg, _ := pushByDigest(t, b, tr, token, "audit/app")
	if err := remote.Tag(ref(t, b, "audit/app:v1").Context().Tag("v1"), aimg, ggcr(tr, token)...); err != nil {
		t.Fatalf("audit mode refused: %v", err)
	}
	resp, body := c.do(http.MethodGet, "/_berth/decisions", nil, nil)
	expect(t, "GET /_berth/decisions", resp, body, http.StatusOK)
	var decisions []struct {
		Kind, Effect, Rule, Tag, Reason string
		Verified                        bool
	}
	if err := json.Unmarshal(body, &decisions); err != nil {
		t.Fatal(err)
	}
	var audited, denied, allowed int
	for _, d := range decisions {
		switch {
		case d.Kind != "verification":
		case d.Rule == "audit-only" && d.Effect == "Allow" && !d.Verified && strings.Contains(d.Reason, "no signature found"):
			audited++
		case d.Rule == "prod-signed" && d.Effect == "Deny":
			denied++
		case d.Rule == "prod-signed" && d.Effect == "Allow" && d.Verified:
			allowed++
		}
	}
	if audited != 1 || denied != 3 || allowed != 3 {
		t.Fatalf("decisions: %d audited, %d denied, %d allowed; want 1, 3, 3: %s", audited, denied, allowed, body)
	}
}

func TestVerificationPolicyOverHTTPAndPullRules(t *testing.T) {
	b := Start(t, "--create-on-push")
	token := b.Token("")
	tr := newTransport(t, b)
	c := raw(t, b, token)
	key := sigtest.NewKey()

	resp, body := c.do(http.MethodGet, "/_berth/verification", nil, nil)
	expect(t, "GET /_berth/verification", resp, body, http.StatusOK)
	if strings.TrimSpace(string(body)) != `{"rules":[]}` {
		t.Fatalf("policy at start: %s", body)
	}
	resp, body = c.do(http.MethodPut, "/_berth/verification", []byte("rules: [{name: x, repositories: [a], mode: maybe, keys: []}]"), nil)
	expect(t, "PUT of an invalid policy", resp, body, http.StatusBadRequest)

	signed, sdg := pushByDigest(t, b, tr, token, "prod/app")
	unsigned, _ := pushByDigest(t, b, tr, token, "prod/app")
	// Tag the unsigned image before any rule, then sign the other.
	if err := remote.Tag(ref(t, b, "prod/app:old").Context().Tag("old"), unsigned, ggcr(tr, token)...); err != nil {
		t.Fatal(err)
	}
	d := digest.Digest(sdg.String())
	storeArtifact(t, c, "prod/app", sigtest.LegacyTag(d), sigtest.SignLegacy(key, "prod/app", d))

	resp, body = c.do(http.MethodPut, "/_berth/verification", []byte(verifyPolicy(true, key.PublicPEM())), nil)
	expect(t, "PUT /_berth/verification", resp, body, http.StatusOK)
	var got struct {
		Rules []struct {
			Name string
			Pull bool
		}
	}
	if err := json.Unmarshal(body, &got); err != nil || len(got.Rules) != 2 || got.Rules[0].Name != "prod-signed" || !got.Rules[0].Pull {
		t.Fatalf("policy after PUT: %s (%v)", body, err)
	}

	_, err := remote.Image(ref(t, b, "prod/app:old"), ggcr(tr, token)...)
	if code, status := transportCode(err); code != transport.DeniedErrorCode || status != http.StatusForbidden || !strings.Contains(err.Error(), "refuses pulling") {
		t.Fatalf("pulling an unsigned image under a pull rule: %v", err)
	}
	if _, err := remote.Image(ref(t, b, "prod/app@"+sdg.String()), ggcr(tr, token)...); err != nil {
		t.Fatalf("pulling a signed image: %v", err)
	}
	_ = signed
	s := defaultSDK(t, b)
	_, err = s.ecr.BatchGetImage(s.ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("prod/app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("old")}}})
	var ipe *types.InvalidParameterException
	if !errors.As(err, &ipe) || !strings.Contains(ipe.ErrorMessage(), "refuses pulling") {
		t.Fatalf("BatchGetImage of an unsigned image under a pull rule: %v", err)
	}
}

// The real cosign CLI, built from its module once per machine and version (the first build
// takes minutes; later runs reuse the binary). TestMain builds it before any test runs, so the
// build does not count against go test's -timeout, which bounds the tests alone.
const cosignVersion = "v2.6.5"

// cosignTest is the test that needs the cosign CLI; TestMain builds it only when -run selects it.
const cosignTest = "TestCosignCLISignsVerifiesAndBerthEnforces"

var cosignBuild struct {
	once sync.Once
	path string
	err  error
}

// buildCosign builds (or finds) the cosign binary once per process.
func buildCosign() (string, error) {
	cosignBuild.once.Do(func() {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		bin := filepath.Join(dir, "berth-tools", "cosign-"+cosignVersion)
		cosignBuild.path = filepath.Join(bin, "cosign")
		if _, err := os.Stat(cosignBuild.path); err == nil {
			return
		}
		start := time.Now()
		fmt.Fprintf(os.Stderr, "e2e: building cosign %s into %s (once per machine; takes minutes)\n", cosignVersion, bin)
		cmd := exec.Command("go", "install", "github.com/sigstore/cosign/v2/cmd/cosign@"+cosignVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			cosignBuild.err = errors.New("building cosign: " + err.Error() + "\n" + string(out))
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: built cosign %s in %v\n", cosignVersion, time.Since(start).Round(time.Second))
	})
	return cosignBuild.path, cosignBuild.err
}

// prebuildCosign builds cosign before the tests when -run selects the test that needs it.
func prebuildCosign() error {
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		top, _, _ := strings.Cut(f.Value.String(), "/")
		if re, err := regexp.Compile(top); err == nil && !re.MatchString(cosignTest) {
			return nil
		}
	}
	_, err := buildCosign()
	return err
}

func cosignBinary(t *testing.T) string {
	t.Helper()
	path, err := buildCosign()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCosignCLISignsVerifiesAndBerthEnforces(t *testing.T) {
	cosign := cosignBinary(t)
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cosign, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "COSIGN_YES=true", "HOME="+dir, "DOCKER_CONFIG="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("generate-key-pair")
	pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "verify.yaml", verifyPolicy(false, string(pub)))
	b := Start(t, "--create-on-push", "--verify-config", cfg)
	token := b.Token("")
	tr := newTransport(t, b)
	registry := []string{"--allow-http-registry", "--allow-insecure-registry", "--registry-username", "AWS", "--registry-password", token}

	signed, dg := pushByDigest(t, b, tr, token, "prod/app")
	image := b.Addr + "/prod/app@" + dg.String()
	run(append([]string{"sign", "--key", "cosign.key", "--tlog-upload=false", "--yes"}, append(registry, image)...)...)
	if out := run(append([]string{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog"}, append(registry, image)...)...); !strings.Contains(out, dg.String()) {
		t.Fatalf("cosign verify printed no payload naming the image:\n%s", out)
	}
	if out := run(append([]string{"tree"}, append(registry, image)...)...); !strings.Contains(out, "sha256-"+dg.Hex+".sig") {
		t.Fatalf("cosign tree shows no signature:\n%s", out)
	}

	// The sigstore bundle format: cosign stores it as an OCI 1.1 referrer of the image.
	bundled, bdg := pushByDigest(t, b, tr, token, "prod/app")
	run(append([]string{"sign", "--key", "cosign.key", "--new-bundle-format", "--use-signing-config=false", "--tlog-upload=false", "--yes"},
		append(registry, b.Addr+"/prod/app@"+bdg.String())...)...)

	unsigned, _ := pushByDigest(t, b, tr, token, "prod/app")
	for tag, img := range map[string]v1.Image{"signed": signed, "bundled": bundled} {
		if err := remote.Tag(ref(t, b, "prod/app:"+tag).Context().Tag(tag), img, ggcr(tr, token)...); err != nil {
			t.Fatalf("tagging the image cosign signed (%s): %v", tag, err)
		}
	}
	s := defaultSDK(t, b)
	manifest, mt := manifestOf(t, unsigned)
	_, err = s.ecr.PutImage(s.ctx, &ecr.PutImageInput{RepositoryName: aws.String("prod/app"), ImageTag: aws.String("unsigned"),
		ImageManifest: aws.String(manifest), ImageManifestMediaType: aws.String(mt)})
	var ipe *types.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Fatalf("PutImage of an image cosign did not sign: %v", err)
	}
	err = remote.Tag(ref(t, b, "prod/app:unsigned").Context().Tag("unsigned"), unsigned, ggcr(tr, token)...)
	if code, status := transportCode(err); code != transport.DeniedErrorCode || status != http.StatusForbidden {
		t.Fatalf("/v2 tag of an image cosign did not sign: %v", err)
	}
}

func TestAUsersVerifierPluginDecidesInsteadOfTheBuiltIn(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, "verifiers")
	os.Mkdir(plugins, 0o755)
	build := exec.Command("go", "build", "-o", filepath.Join(plugins, "approved.wasm"), "./testdata/approvedverifier")
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the verifier plugin: %v\n%s", err, out)
	}
	writeFile(t, plugins, "approved.json", `{"name": "approved", "kind": "verifier", "version": "1.0.0", "abi": 1}`)
	key := sigtest.NewKey()
	cfg := writeFile(t, dir, "verify.yaml", "verifier: approved\npluginsDir: verifiers\n"+verifyPolicy(false, key.PublicPEM()))
	b := Start(t, "--create-on-push", "--verify-config", cfg)
	token := b.Token("")
	tr := newTransport(t, b)
	c := raw(t, b, token)

	// Signed by the trusted key but not approved: the built-in would accept it, this plugin does not.
	img, dg := pushByDigest(t, b, tr, token, "prod/app")
	d := digest.Digest(dg.String())
	storeArtifact(t, c, "prod/app", sigtest.LegacyTag(d), sigtest.SignLegacy(key, "prod/app", d))
	err := remote.Tag(ref(t, b, "prod/app:v1").Context().Tag("v1"), img, ggcr(tr, token)...)
	if code, _ := transportCode(err); code != transport.DeniedErrorCode || !strings.Contains(err.Error(), "no approval in the payload") {
		t.Fatalf("tag move the user's verifier refuses: %v", err)
	}
	approved := []byte(`{"critical":{"image":{"docker-manifest-digest":"` + dg.String() + `"}},"optional":{"approved-by":"qa"}}`)
	storeArtifact(t, c, "prod/app", sigtest.LegacyTag(d), sigtest.CosignLegacy([2][]byte{approved, []byte("not a signature")}))
	if err := remote.Tag(ref(t, b, "prod/app:v1").Context().Tag("v1"), img, ggcr(tr, token)...); err != nil {
		t.Fatalf("tag move the user's verifier accepts: %v", err)
	}
}

// A policy PUT in enforce mode is stored before the PUT answers and enforced after a restart
// on the same data dir; a --verify-config that changed between starts replaces it, and berth
// says so.
func TestAPutVerificationPolicyIsEnforcedAfterARestartUntilTheFileChanges(t *testing.T) {
	key := sigtest.NewKey()
	cfg := writeFile(t, t.TempDir(), "verify.yaml", "rules: []\n")
	b := Start(t, "--create-on-push", "--verify-config", cfg)
	token := b.Token("")
	tr := newTransport(t, b)
	c := raw(t, b, token)
	img, dg := pushByDigest(t, b, tr, token, "prod/app")
	manifest, mt := manifestOf(t, img)
	resp, body := c.do(http.MethodPut, "/_berth/verification", []byte(verifyPolicy(false, key.PublicPEM())), nil)
	expect(t, "PUT /_berth/verification", resp, body, http.StatusOK)

	tr.CloseIdleConnections()
	c.closeIdle()
	b.Restart()

	resp, body = c.do(http.MethodGet, "/_berth/verification", nil, nil)
	expect(t, "GET /_berth/verification after the restart", resp, body, http.StatusOK)
	if !strings.Contains(string(body), `"name":"prod-signed"`) || !strings.Contains(string(body), `"mode":"enforce"`) {
		t.Fatalf("policy after the restart: %s, want the PUT's", body)
	}
	s := defaultSDK(t, b)
	_, err := s.ecr.PutImage(s.ctx, &ecr.PutImageInput{RepositoryName: aws.String("prod/app"), ImageTag: aws.String("v1"),
		ImageManifest: aws.String(manifest), ImageManifestMediaType: aws.String(mt)})
	var ipe *types.InvalidParameterException
	if !errors.As(err, &ipe) || !strings.Contains(ipe.ErrorMessage(), "rule 'prod-signed'") {
		t.Fatalf("PutImage of an unsigned image after the restart: %v, want InvalidParameterException naming the rule", err)
	}
	err = remote.Tag(ref(t, b, "prod/app:v1").Context().Tag("v1"), img, ggcr(tr, token)...)
	if code, status := transportCode(err); code != transport.DeniedErrorCode || status != http.StatusForbidden ||
		!strings.Contains(err.Error(), "rule 'prod-signed'") {
		t.Fatalf("/v2 tag of an unsigned image after the restart: %v (%s, %d), want 403 DENIED naming the rule", err, code, status)
	}
	// The rule still knows its key: signed, the image is tagged.
	d := digest.Digest(dg.String())
	storeArtifact(t, c, "prod/app", sigtest.LegacyTag(d), sigtest.SignLegacy(key, b.Addr+"/prod/app", d))
	if err := remote.Tag(ref(t, b, "prod/app:v1").Context().Tag("v1"), img, ggcr(tr, token)...); err != nil {
		t.Fatalf("/v2 tag of a signed image after the restart: %v", err)
	}

	// The file changes: at the next start its policy (audit only) replaces the PUT's.
	writeFile(t, filepath.Dir(cfg), "verify.yaml", "rules:\n  - name: audit-all\n    repositories: ['*']\n    mode: audit\n    keys:\n      - pem: |\n"+
		"          "+strings.ReplaceAll(strings.TrimSpace(key.PublicPEM()), "\n", "\n          ")+"\n")
	tr.CloseIdleConnections()
	c.closeIdle()
	b.Restart()
	if !strings.Contains(b.Stderr(), "the file's policy replaces the stored one") {
		t.Errorf("berth did not say the changed file replaced the stored policy:\n%s", b.Stderr())
	}
	unsigned, _ := pushByDigest(t, b, tr, token, "prod/app")
	if err := remote.Tag(ref(t, b, "prod/app:v2").Context().Tag("v2"), unsigned, ggcr(tr, token)...); err != nil {
		t.Fatalf("/v2 tag of an unsigned image under the changed file's audit rule: %v", err)
	}
}
