package verify

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/verifiers"
	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

var builtin Plugin

func TestMain(m *testing.M) {
	ctx := context.Background()
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	h, err := plugins.NewHost(ctx, plugins.Config{CacheDir: filepath.Join(dir, "berth-test-plugin-cache")})
	if err != nil {
		panic(err)
	}
	p, err := verifiers.Load(ctx, h)
	if err != nil {
		panic(err)
	}
	p.Warm(1) // as berth runs it
	builtin = p
	code := m.Run()
	h.Close(ctx)
	os.Exit(code)
}

var reg = coretest.RegA

// harness is a registry with the verification hook attached.
type harness struct {
	t   testing.TB
	f   *coretest.Fixture
	v   *Service
	key *sigtest.Key
	ca  *sigtest.CA
}

func newHarness(t testing.TB, mode Mode, pull bool) *harness {
	f := coretest.New(t, coretest.Memory, coretest.Options{CreateOnPush: true})
	// The real clock: the test certificates are valid around now, not the fixture's 2024.
	v := New(Options{Registry: f.Registry(), Verifiers: map[string]Plugin{DefaultVerifier: builtin}, Clock: core.SystemClock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	v.Attach(f.Registry().Bus())
	h := &harness{t: t, f: f, v: v, key: sigtest.NewKey(), ca: sigtest.NewCA("berth test CA")}
	h.setRules(Rule{Name: "prod", Repositories: []string{"prod/*"}, Mode: mode, Pull: pull,
		Keys: []Key{{Name: "ci", PEM: h.key.PublicPEM()}, {Name: "ca", PEM: h.ca.PEM()}}})
	return h
}

func (h *harness) setRules(rules ...Rule) {
	h.t.Helper()
	if err := h.v.SetConfig(Config{Rules: rules}); err != nil {
		h.t.Fatal(err)
	}
}

// image pushes an image by digest (no tag: nothing to verify yet).
func (h *harness) image(repo, seed string) coretest.Pushed {
	return h.f.PushImage(reg, repo, "", seed)
}

func subject(p coretest.Pushed) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: p.MediaType, Digest: p.Digest, Size: int64(len(p.Body))}
}

// store pushes a signature artifact: its blobs, then its manifest under tag (or by digest).
func (h *harness) store(repo, tag string, a sigtest.Artifact) {
	h.t.Helper()
	for _, b := range a.Blobs {
		h.f.PushBlob(reg, repo, b, "")
	}
	ref := tag
	if ref == "" {
		ref = a.Digest.String()
	}
	if _, err := h.f.Registry().PutManifest(coretest.AsRoot(reg), reg, repo, core.PutManifestInput{Reference: ref, ContentType: a.MediaType, Body: a.Manifest}); err != nil {
		h.t.Fatalf("storing signature %s: %v", ref, err)
	}
}

// tag points tag at p, as PutImage and a /v2 manifest PUT by tag do.
func (h *harness) tag(repo, tag string, p coretest.Pushed) error {
	_, err := h.f.Registry().PutManifest(coretest.AsRoot(reg), reg, repo, core.PutManifestInput{Reference: tag, ContentType: p.MediaType, Body: p.Body})
	return err
}

func (h *harness) tagged(repo, tag string) bool {
	_, err := h.f.Registry().ResolveImage(context.Background(), reg, repo, "", tag)
	return err == nil
}

func (h *harness) last() Decision {
	d := h.v.Decisions()
	if len(d) == 0 {
		h.t.Fatal("no decision recorded")
	}
	return d[len(d)-1]
}

func TestEnforceRefusesATagMoveToAnImageWithoutASignatureAndChangesNothing(t *testing.T) {
	h := newHarness(t, Enforce, false)
	img := h.image("prod/app", "a")
	err := h.tag("prod/app", "v1", img)
	if !core.IsKind(err, core.KindSignatureRequired) {
		t.Fatalf("tag move: %v, want KindSignatureRequired", err)
	}
	for _, want := range []string{"rule 'prod'", "no signature found", string(img.Digest)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if h.tagged("prod/app", "v1") {
		t.Fatal("the refused tag was stored")
	}
	if d := h.last(); d.Effect != "Deny" || d.Verified || d.Rule != "prod" || d.Operation != OpTag || d.Tag != "v1" {
		t.Fatalf("decision %+v", d)
	}
}

func TestEnforceVerifiesEachSignatureFormat(t *testing.T) {
	other := sigtest.NewKey()
	otherCA := sigtest.NewCA("another CA")
	for _, tc := range []struct {
		name string
		sign func(h *harness, img coretest.Pushed)
		ok   bool
	}{
		{"cosign legacy signature by the trusted key", func(h *harness, img coretest.Pushed) {
			h.store("prod/app", sigtest.LegacyTag(img.Digest), sigtest.SignLegacy(h.key, "prod/app", img.Digest))
		}, true},
		{"cosign legacy signature by another key", func(h *harness, img coretest.Pushed) {
			h.store("prod/app", sigtest.LegacyTag(img.Digest), sigtest.SignLegacy(other, "prod/app", img.Digest))
		}, false},
		{"cosign legacy signature over a tampered payload", func(h *harness, img coretest.Pushed) {
			p := sigtest.CosignPayload("prod/app", img.Digest)
			h.store("prod/app", sigtest.LegacyTag(img.Digest), sigtest.CosignLegacy([2][]byte{sigtest.Tamper(p), h.key.Sign(p)}))
		}, false},
		{"cosign legacy payload naming another digest", func(h *harness, img coretest.Pushed) {
			h.store("prod/app", sigtest.LegacyTag(img.Digest), sigtest.SignLegacy(h.key, "prod/app", sigtest.HexDigest()))
		}, false},
		{"sigstore bundle referrer by the trusted key", func(h *harness, img coretest.Pushed) {
			h.store("prod/app", "", sigtest.BundleReferrer(h.key, subject(img)))
		}, true},
		{"sigstore bundle referrer by another key", func(h *harness, img coretest.Pushed) {
			h.store("prod/app", "", sigtest.BundleReferrer(other, subject(img)))
		}, false},
		{"Notation referrer under the trusted CA", func(h *harness, img coretest.Pushed) {
			h.store("prod/app", "", sigtest.NotationReferrer(h.ca, subject(img)))
		}, true},
		{"Notation referrer under another CA", func(h *harness, img coretest.Pushed) {
			h.store("prod/app", "", sigtest.NotationReferrer(otherCA, subject(img)))
		}, false},
		{"Notation envelope signing another image, stored as this one's referrer", func(h *harness, img coretest.Pushed) {
			o := subject(img)
			o.Digest = sigtest.HexDigest()
			h.store("prod/app", "", sigtest.NotationReferrerOf(sigtest.NotationEnvelope(h.ca, o), subject(img)))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Enforce, false)
			img := h.image("prod/app", "a")
			tc.sign(h, img)
			err := h.tag("prod/app", "v1", img)
			if tc.ok != (err == nil) {
				t.Fatalf("tag move: %v, want allowed=%v", err, tc.ok)
			}
			if !tc.ok && !core.IsKind(err, core.KindSignatureRequired) {
				t.Fatalf("tag move: %v, want KindSignatureRequired", err)
			}
			if h.tagged("prod/app", "v1") != tc.ok {
				t.Fatalf("tag stored: %v, want %v", !tc.ok, tc.ok)
			}
			d := h.last()
			if d.Verified != tc.ok || d.Cached || len(d.Candidates) != 1 {
				t.Fatalf("decision %+v", d)
			}
		})
	}
}

func TestAuditLetsAnUnsignedTagMoveThroughAndRecordsIt(t *testing.T) {
	h := newHarness(t, Audit, false)
	img := h.image("prod/app", "a")
	if err := h.tag("prod/app", "v1", img); err != nil {
		t.Fatalf("audit mode refused: %v", err)
	}
	if !h.tagged("prod/app", "v1") {
		t.Fatal("tag not stored")
	}
	if d := h.last(); d.Effect != "Allow" || d.Verified || d.Mode != Audit || !strings.Contains(d.Reason, "no signature found") {
		t.Fatalf("decision %+v", d)
	}
}

func TestRepositoriesNoRuleMatchesAreNotVerified(t *testing.T) {
	h := newHarness(t, Enforce, true)
	img := h.image("dev/app", "a")
	if err := h.tag("dev/app", "v1", img); err != nil {
		t.Fatal(err)
	}
	h.f.Pull(reg, "dev/app", "v1")
	if n := len(h.v.Decisions()); n != 0 {
		t.Fatalf("%d decisions for a repository no rule matches", n)
	}
}

func TestSignaturesAreStoredUnderEnforceWithoutBeingSignedThemselves(t *testing.T) {
	h := newHarness(t, Enforce, true)
	img := h.image("prod/app", "a")
	// The .sig tag is a tag move of an unsigned manifest: it stores a signature, not an image.
	h.store("prod/app", sigtest.LegacyTag(img.Digest), sigtest.SignLegacy(h.key, "prod/app", img.Digest))
	h.store("prod/app", "", sigtest.NotationReferrer(h.ca, subject(img)))
	if err := h.tag("prod/app", "v1", img); err != nil {
		t.Fatal(err)
	}
	// Clients verifying read the signatures back: those pulls are not verified either.
	if _, _, err := h.f.Registry().GetManifest(coretest.AsRoot(reg), reg, "prod/app", sigtest.LegacyTag(img.Digest), nil); err != nil {
		t.Fatalf("pulling the .sig tag: %v", err)
	}
}

func TestPullRuleRefusesUnsignedPullsAndAcceptsAPlatformImageOfASignedIndex(t *testing.T) {
	h := newHarness(t, Audit, true)
	signed := h.image("prod/app", "a")
	unsigned := h.image("prod/app", "b")
	h.store("prod/app", sigtest.LegacyTag(signed.Digest), sigtest.SignLegacy(h.key, "prod/app", signed.Digest))
	if err := h.tag("prod/app", "unsigned", unsigned); err != nil { // audit: let through
		t.Fatal(err)
	}
	child := h.image("prod/app", "c")
	index := h.f.PushIndex(reg, "prod/app", "", child)
	h.store("prod/app", sigtest.LegacyTag(index.Digest), sigtest.SignLegacy(h.key, "prod/app", index.Digest))
	h.setRules(Rule{Name: "prod", Repositories: []string{"prod/*"}, Mode: Enforce, Pull: true, Keys: []Key{{Name: "ci", PEM: h.key.PublicPEM()}}})

	get := func(ref string) error {
		_, _, err := h.f.Registry().GetManifest(coretest.AsRoot(reg), reg, "prod/app", ref, nil)
		return err
	}
	if err := get("unsigned"); !core.IsKind(err, core.KindSignatureRequired) || !strings.Contains(err.Error(), "refuses pulling") {
		t.Fatalf("pulling an unsigned image: %v", err)
	}
	if err := get(signed.Digest.String()); err != nil {
		t.Fatalf("pulling a signed image by digest: %v", err)
	}
	if err := get(index.Digest.String()); err != nil {
		t.Fatalf("pulling a signed index: %v", err)
	}
	if err := get(child.Digest.String()); err != nil {
		t.Fatalf("pulling a platform image of a signed index: %v", err)
	}
	if d := h.last(); !d.Verified || !strings.Contains(d.Signature, "of index "+index.Digest.String()) {
		t.Fatalf("decision %+v", d)
	}
}

func TestDecisionsAreCachedAndASignaturePushedOrDeletedChangesThem(t *testing.T) {
	h := newHarness(t, Enforce, false)
	img := h.image("prod/app", "a")
	if err := h.tag("prod/app", "v1", img); err == nil {
		t.Fatal("unsigned image tagged")
	}
	if err := h.tag("prod/app", "v1", img); err == nil || !h.last().Cached {
		t.Fatalf("second refusal: %v, cached %v", err, h.last().Cached)
	}
	sig := sigtest.SignLegacy(h.key, "prod/app", img.Digest)
	h.store("prod/app", sigtest.LegacyTag(img.Digest), sig)
	h.f.Wait()
	if err := h.tag("prod/app", "v1", img); err != nil {
		t.Fatalf("after signing: %v", err)
	}
	if d := h.last(); !d.Verified || d.Cached {
		t.Fatalf("decision after signing %+v", d)
	}
	if err := h.tag("prod/app", "v2", img); err != nil || !h.last().Cached {
		t.Fatalf("second tag: %v, cached %v", err, h.last().Cached)
	}
	if err := h.f.Registry().DeleteManifest(coretest.AsRoot(reg), reg, "prod/app", sig.Digest.String()); err != nil {
		t.Fatal(err)
	}
	h.f.Wait()
	if err := h.tag("prod/app", "v3", img); !core.IsKind(err, core.KindSignatureRequired) {
		t.Fatalf("after the signature's deletion: %v", err)
	}
}

func TestInvalidateDropsTheDecisionsASignatureEventConcerns(t *testing.T) {
	v := New(Options{})
	a, b := digest.FromString("a"), digest.FromString("b")
	sigA := digest.FromString("sig-a")
	v.cache[a] = map[cacheKey]cached{{signatures: string(sigA) + ","}: {res: Result{Verified: true}}}
	v.cache[b] = map[cacheKey]cached{{signatures: ""}: {}}
	v.Invalidate(core.Event{Kind: core.EventPush, Subject: b})
	if _, ok := v.cache[b]; ok {
		t.Fatal("a referrer's push kept its subject's decision")
	}
	v.Invalidate(core.Event{Kind: core.EventDelete, Target: core.TargetManifest, Digest: sigA})
	if _, ok := v.cache[a]; ok {
		t.Fatal("deleting a signature kept the decision that counted it")
	}
	v.cache[a] = map[cacheKey]cached{{}: {}}
	v.Invalidate(core.Event{Kind: core.EventPush, Tags: []string{"sha256-" + a.Encoded() + ".sig"}})
	if _, ok := v.cache[a]; ok {
		t.Fatal("a .sig tag's push kept the decision of the image it names")
	}
}

func TestConfigIsValidatedBeforeItIsPutInForce(t *testing.T) {
	pub := sigtest.NewKey().PublicPEM()
	for _, tc := range []struct{ name, yaml, want string }{
		{"mode", "rules: [{name: r, repositories: [a], mode: block, keys: [{pem: x}]}]", "mode \"block\""},
		{"no keys", "rules: [{name: r, repositories: [a], mode: enforce, keys: []}]", "no keys"},
		{"not PEM", "rules: [{name: r, repositories: [a], mode: enforce, keys: [{pem: nope}]}]", "not PEM"},
		{"no patterns", "rules: [{name: r, mode: audit, keys: [{pem: x}]}]", "no repository patterns"},
		{"unknown field", "rules: [{name: r, repositories: [a], mode: audit, tags: true}]", "unknown field"},
		{"a file over HTTP", "rules: [{name: r, repositories: [a], mode: audit, keys: [{file: /etc/passwd}]}]", "send its PEM inline"},
		{"plugins over HTTP", "pluginsDir: /tmp\nrules: []", "only --verify-config"},
		{"twice", "rules: [{name: r, repositories: [a], mode: audit, keys: [{pem: x}]}, {name: r, repositories: [b], mode: audit, keys: [{pem: x}]}]", "named twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.ReplaceAll(tc.yaml, "{pem: x}", "{pem: "+jsonString(pub)+"}")
			_, err := ParseConfig([]byte(y), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	v := New(Options{Verifiers: map[string]Plugin{}})
	if err := v.SetConfig(Config{Rules: []Rule{{Name: "r", Repositories: []string{"a"}, Mode: Audit, Keys: []Key{{PEM: pub}}}}}); err == nil ||
		!strings.Contains(err.Error(), "not loaded") {
		t.Fatalf("a policy without its verifier plugin: %v", err)
	}
	if len(v.Config().Rules) != 0 {
		t.Fatal("a refused policy was put in force")
	}
}

func TestConfigFileReadsKeyFilesBesideIt(t *testing.T) {
	dir := t.TempDir()
	k := sigtest.NewKey()
	os.WriteFile(filepath.Join(dir, "ci.pub"), []byte(k.PublicPEM()), 0o644)
	os.WriteFile(filepath.Join(dir, "verify.yaml"), []byte("rules:\n  - name: all\n    repositories: ['*']\n    mode: enforce\n    pull: true\n    keys:\n      - name: ci\n        file: ci.pub\n"), 0o644)
	c, err := LoadConfig(filepath.Join(dir, "verify.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Rules[0]; r.Keys[0].PEM != k.PublicPEM() || r.Keys[0].File != "" || !r.Pull || r.Mode != Enforce {
		t.Fatalf("rule %+v", r)
	}
	p, _ := compile(c)
	if p.match("any/thing") == nil || p.match("x") == nil {
		t.Fatal("'*' should match every repository name")
	}
}

func jsonString(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	b.WriteString(strings.ReplaceAll(s, "\n", `\n`))
	b.WriteByte('"')
	return b.String()
}

func TestACachedDecisionIsDecidedAgainAfterItsTTL(t *testing.T) {
	h := newHarness(t, Enforce, false)
	clock := core.NewManualClock(time.Now())
	h.v.clock = clock
	img := h.image("prod/app", "a")
	h.store("prod/app", sigtest.LegacyTag(img.Digest), sigtest.SignLegacy(h.key, "prod/app", img.Digest))
	for i, want := range []bool{false, true} {
		if err := h.tag("prod/app", "v1", img); err != nil {
			t.Fatal(err)
		}
		if h.last().Cached != want {
			t.Fatalf("decision %d cached %v, want %v", i+1, h.last().Cached, want)
		}
	}
	clock.Advance(10*time.Minute + time.Second)
	if err := h.tag("prod/app", "v1", img); err != nil || h.last().Cached {
		t.Fatalf("after the TTL: %v, cached %v", err, h.last().Cached)
	}
}
