package signing

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/berth-dev/berth/policy"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	bg   = context.Background()
	regA = coretest.RegA
	regB = coretest.RegB
)

// Profiles of regA's account, and one of another account.
const (
	release = "arn:aws:signer:us-east-1:111111111111:/signing-profiles/release"
	audit   = "arn:aws:signer:us-east-1:111111111111:/signing-profiles/audit_2"
	foreign = "arn:aws:signer:us-east-1:222222222222:/signing-profiles/theirs"
)

func filters(patterns ...string) []Filter {
	var out []Filter
	for _, p := range patterns {
		out = append(out, Filter{Filter: p, FilterType: WildcardMatch})
	}
	return out
}

// env is a registry under test with IAM policies deciding and signing
// subscribed, its keys in the fixture's directory on disk.
type env struct {
	*coretest.Fixture
	t    testing.TB
	svc  *Service
	keys *Keys
}

func newEnv(t testing.TB, s coretest.Stores) *env {
	t.Helper()
	authz := policy.NewAuthorizer(policy.RootsOnly{}, policy.AuthorizerOptions{Log: slog.New(slog.DiscardHandler)})
	f := coretest.New(t, s, coretest.Options{Authorizer: authz})
	e := &env{Fixture: f, t: t}
	dir := ""
	if s == coretest.Disk {
		dir = t.TempDir()
	}
	f.Wire(func(r *core.Registry) func() {
		e.keys = NewKeys(dir, r.Clock())
		e.svc = Start(r, e.keys, slog.New(slog.DiscardHandler))
		return nil
	})
	return e
}

func eachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, s := range coretest.AllStores {
		t.Run(string(s), func(t *testing.T) { fn(t, newEnv(t, s)) })
	}
}

func (e *env) configure(reg core.RegistryID, rules ...Rule) {
	e.t.Helper()
	if _, err := e.svc.Put(bg, reg, Configuration{Rules: rules}); err != nil {
		e.t.Fatalf("Put: %v", err)
	}
}

func (e *env) statuses(reg core.RegistryID, repo string, dg digest.Digest) []Status {
	e.t.Helper()
	_, st, err := e.svc.Statuses(bg, reg, repo, dg, "")
	if err != nil {
		e.t.Fatalf("Statuses(%s@%s): %v", repo, dg, err)
	}
	return st
}

// signatures returns the Notation signatures of an image: each manifest
// and its envelope.
func (e *env) signatures(reg core.RegistryID, repo string, dg digest.Digest) (manifests []signatureManifest, envelopes [][]byte) {
	e.t.Helper()
	refs, err := e.Registry().Referrers(bg, reg, repo, dg, ArtifactType)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, img := range refs {
		_, body, err := e.Registry().GetManifest(coretest.AsRoot(reg), reg, repo, img.Digest.String(), nil)
		if err != nil {
			e.t.Fatal(err)
		}
		var m signatureManifest
		if err := json.Unmarshal(body, &m); err != nil {
			e.t.Fatal(err)
		}
		rd, err := e.Registry().OpenBlob(bg, reg, repo, m.Layers[0].Digest)
		if err != nil {
			e.t.Fatal(err)
		}
		env, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		manifests, envelopes = append(manifests, m), append(envelopes, env)
	}
	return manifests, envelopes
}

// trustStore is a Notation trust store holding the given CA certificates
// under every name.
type trustStore []*x509.Certificate

func (s trustStore) GetCertificates(context.Context, truststore.Type, string) ([]*x509.Certificate, error) {
	return s, nil
}

// notationVerify verifies a signature envelope over target with
// notation-go's verifier under a strict trust policy whose only trust
// store holds trusted.
func notationVerify(t testing.TB, trusted *x509.Certificate, ref string, target ocispec.Descriptor, env []byte) error {
	t.Helper()
	doc := &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name: "berth", RegistryScopes: []string{"*"},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: trustpolicy.LevelStrict.Name},
		TrustStores:           []string{"ca:berth"}, TrustedIdentities: []string{"*"},
	}}}
	v, err := verifier.New(doc, trustStore{trusted}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(bg, target, env, notation.VerifierVerifyOptions{ArtifactReference: ref, SignatureMediaType: EnvelopeMediaType})
	return err
}

func otherCA(t testing.TB) *x509.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	name := pkix.Name{Country: []string{"US"}, Organization: []string{"elsewhere"}, CommonName: "another CA"}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: name, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// wallClock sets the registry's clock to now: notation-go checks
// certificates against the wall clock, not berth's.
func (e *env) wallClock() time.Time {
	now := time.Now().UTC().Truncate(time.Second)
	e.Clock.Set(now)
	return now
}

func TestPushToMatchingRepositoryIsSignedWithNotationVerifiableByBerthsCA(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		now := e.wallClock()
		e.configure(regA, Rule{SigningProfileArn: release, RepositoryFilters: filters("app*")})
		e.CreateRepository(regA, "app")
		img := e.PushImage(regA, "app", "v1", "one")
		e.Wait()

		if st := e.statuses(regA, "app", img.Digest); !slices.Equal(st, []Status{{SigningProfileArn: release, Status: Complete}}) {
			t.Fatalf("statuses = %+v, want COMPLETE for %s", st, release)
		}
		ms, envs := e.signatures(regA, "app", img.Digest)
		if len(ms) != 1 {
			t.Fatalf("%d signatures, want 1", len(ms))
		}
		m := ms[0]
		if m.Config.MediaType != ArtifactType || m.Layers[0].MediaType != "application/jose+json" || m.Subject.Digest != img.Digest ||
			m.Annotations[annotationThumbprints] == "" || m.Annotations[annotationCreated] != now.Format(time.RFC3339) {
			t.Fatalf("signature manifest = %+v, not the Notation shape over %s", m, img.Digest)
		}
		ca, err := e.keys.CA()
		if err != nil {
			t.Fatal(err)
		}
		target := ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: int64(len(img.Body))}
		ref := "localhost/app@" + img.Digest.String()
		if err := notationVerify(t, ca, ref, target, envs[0]); err != nil {
			t.Fatalf("notation-go rejects berth's signature with berth's CA: %v", err)
		}
		if err := notationVerify(t, otherCA(t), ref, target, envs[0]); err == nil {
			t.Fatal("notation-go accepts berth's signature with another CA")
		}
		other := target
		other.Digest = digest.FromString("another image")
		if err := notationVerify(t, ca, ref, other, envs[0]); err == nil {
			t.Fatal("notation-go accepts berth's signature for another digest")
		}
	})
}

func TestSignatureRecordsThePushAsCauseSigning(t *testing.T) {
	e := newEnv(t, coretest.Memory)
	e.configure(regA, Rule{SigningProfileArn: release})
	e.CreateRepository(regA, "app")
	rec := e.Record(core.EventPush)
	img := e.PushImage(regA, "app", "v1", "one")
	e.Wait()
	var causes []core.Cause
	for _, ev := range rec.Take() {
		causes = append(causes, ev.Cause)
		if ev.Cause == core.CauseSigning && (ev.Subject != img.Digest || ev.ArtifactType != ArtifactType) {
			t.Fatalf("signing push %+v: want subject %s, artifact type %s", ev, img.Digest, ArtifactType)
		}
	}
	if !slices.Equal(causes, []core.Cause{core.CauseUser, core.CauseSigning}) {
		t.Fatalf("push causes = %v, want the user's then signing's", causes)
	}
}

func TestNonMatchingRepositoryIsNotSigned(t *testing.T) {
	e := newEnv(t, coretest.Memory)
	e.configure(regA, Rule{SigningProfileArn: release, RepositoryFilters: filters("prod/*", "*-release")})
	e.CreateRepository(regA, "dev/app")
	img := e.PushImage(regA, "dev/app", "v1", "one")
	e.Wait()
	if st := e.statuses(regA, "dev/app", img.Digest); len(st) != 0 {
		t.Fatalf("statuses = %+v, want none", st)
	}
	if ms, _ := e.signatures(regA, "dev/app", img.Digest); len(ms) != 0 {
		t.Fatalf("%d signatures, want none", len(ms))
	}
}

func TestWithoutConfigurationNothingIsSigned(t *testing.T) {
	e := newEnv(t, coretest.Memory)
	e.CreateRepository(regA, "app")
	img := e.PushImage(regA, "app", "v1", "one")
	e.Wait()
	if ms, _ := e.signatures(regA, "app", img.Digest); len(ms) != 0 {
		t.Fatalf("%d signatures, want none", len(ms))
	}
}

func TestEachMatchingProfileSignsOnceWithItsOwnStatus(t *testing.T) {
	e := newEnv(t, coretest.Memory)
	e.configure(regA, Rule{SigningProfileArn: release, RepositoryFilters: filters("app")},
		Rule{SigningProfileArn: audit}, Rule{SigningProfileArn: release, RepositoryFilters: filters("*")})
	e.CreateRepository(regA, "app")
	img := e.PushImage(regA, "app", "v1", "one")
	e.Wait()
	want := []Status{{SigningProfileArn: release, Status: Complete}, {SigningProfileArn: audit, Status: Complete}}
	if st := e.statuses(regA, "app", img.Digest); !slices.Equal(st, want) {
		t.Fatalf("statuses = %+v, want %+v", st, want)
	}
	if ms, _ := e.signatures(regA, "app", img.Digest); len(ms) != 2 {
		t.Fatalf("%d signatures, want one per profile", len(ms))
	}
	// Tagging the same image again signs nothing more.
	e.PushManifest(regA, "app", "v2", img.Manifest)
	e.Wait()
	if ms, _ := e.signatures(regA, "app", img.Digest); len(ms) != 2 {
		t.Fatalf("%d signatures after a second push of the image, want 2", len(ms))
	}
}

func TestReferrersAndSignaturesAreNeverSigned(t *testing.T) {
	e := newEnv(t, coretest.Memory)
	e.configure(regA, Rule{SigningProfileArn: release})
	e.CreateRepository(regA, "app")
	img := e.PushImage(regA, "app", "v1", "one")
	sbom := e.PushReferrer(regA, "app", img.Descriptor(), "application/spdx+json", "sbom")
	e.Wait()
	if st := e.statuses(regA, "app", sbom.Digest); len(st) != 0 {
		t.Fatalf("a user's referrer has statuses %+v, want none", st)
	}
	sigs, err := e.Registry().Referrers(bg, regA, "app", img.Digest, ArtifactType)
	if err != nil || len(sigs) != 1 {
		t.Fatalf("signatures of the image = %d, %v; want 1", len(sigs), err)
	}
	if st := e.statuses(regA, "app", sigs[0].Digest); len(st) != 0 {
		t.Fatalf("berth's signature has statuses %+v, want none", st)
	}
	if sub, _ := e.Registry().Referrers(bg, regA, "app", sigs[0].Digest, ""); len(sub) != 0 {
		t.Fatalf("berth's signature was signed: %d referrers", len(sub))
	}
	// cosign's legacy tagged signature is not an image to sign either.
	cosign := e.PushImage(regA, "app", "sha256-"+img.Digest.Encoded()+".sig", "cosign payload")
	e.Wait()
	if st := e.statuses(regA, "app", cosign.Digest); len(st) != 0 {
		t.Fatalf("cosign's tagged signature has statuses %+v, want none", st)
	}
}

func TestIndexAndItsChildrenAreEachSigned(t *testing.T) {
	e := newEnv(t, coretest.Memory)
	e.wallClock()
	e.configure(regA, Rule{SigningProfileArn: release})
	e.CreateRepository(regA, "app")
	a := e.PushImage(regA, "app", "", "amd64")
	b := e.PushImage(regA, "app", "", "arm64")
	idx := e.PushIndex(regA, "app", "v1", a, b)
	e.Wait()
	ca, _ := e.keys.CA()
	for _, p := range []coretest.Pushed{a, b, idx} {
		if st := e.statuses(regA, "app", p.Digest); !slices.Equal(st, []Status{{SigningProfileArn: release, Status: Complete}}) {
			t.Fatalf("%s: statuses %+v", p.MediaType, st)
		}
		_, envs := e.signatures(regA, "app", p.Digest)
		target := ocispec.Descriptor{MediaType: p.MediaType, Digest: p.Digest, Size: int64(len(p.Body))}
		if err := notationVerify(t, ca, "localhost/app@"+p.Digest.String(), target, envs[0]); err != nil {
			t.Fatalf("%s: %v", p.MediaType, err)
		}
	}
}

func TestProfileThePusherMayNotUseFailsWithAccessDenied(t *testing.T) {
	e := newEnv(t, coretest.Memory)
	e.configure(regA, Rule{SigningProfileArn: foreign})
	e.CreateRepository(regA, "app")
	img := e.PushImage(regA, "app", "v1", "one")
	e.Wait()
	st := e.statuses(regA, "app", img.Digest)
	if len(st) != 1 || st[0].Status != Failed || st[0].FailureCode != FailureAccessDenied ||
		!strings.Contains(st[0].FailureReason, "signer:SignPayload") {
		t.Fatalf("statuses = %+v, want FAILED %s naming signer:SignPayload", st, FailureAccessDenied)
	}
	if ms, _ := e.signatures(regA, "app", img.Digest); len(ms) != 0 {
		t.Fatalf("%d signatures, want none", len(ms))
	}
}

func TestDeletingTheImageTakesItsStatusAway(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.configure(regA, Rule{SigningProfileArn: release})
		e.CreateRepository(regA, "app")
		img := e.PushImage(regA, "app", "v1", "one")
		e.Wait()
		sigs, _ := e.Registry().Referrers(bg, regA, "app", img.Digest, ArtifactType)
		ids := []digest.Digest{img.Digest}
		for _, s := range sigs {
			ids = append(ids, s.Digest)
		}
		if _, failed, err := e.Registry().DeleteImages(coretest.AsRoot(regA), regA, "app", ids); err != nil || len(failed) > 0 {
			t.Fatal(err, failed)
		}
		e.PushImage(regA, "app", "v2", "two") // a new image, for the repository to stay
		e.Wait()
		_, _, err := e.svc.Statuses(bg, regA, "app", img.Digest, "")
		if !core.IsKind(err, core.KindManifestNotFound) {
			t.Fatalf("Statuses of a deleted image: %v, want ManifestNotFound", err)
		}
		// Pushed again, it is signed again: its status went with it.
		again := e.PushManifest(regA, "app", "v1", img.Manifest)
		e.Wait()
		if st := e.statuses(regA, "app", again.Digest); len(st) != 1 || st[0].Status != Complete {
			t.Fatalf("statuses after a new push = %+v", st)
		}
	})
}

func TestStatusesOfUnknownImageOrRepository(t *testing.T) {
	e := newEnv(t, coretest.Memory)
	e.CreateRepository(regA, "app")
	if _, _, err := e.svc.Statuses(bg, regA, "app", digest.FromString("nothing"), ""); !core.IsKind(err, core.KindManifestNotFound) {
		t.Fatalf("unknown image: %v", err)
	}
	if _, _, err := e.svc.Statuses(bg, regA, "app", "", "nope"); !core.IsKind(err, core.KindManifestNotFound) {
		t.Fatalf("unknown tag: %v", err)
	}
	if _, _, err := e.svc.Statuses(bg, regA, "nothere", digest.FromString("x"), ""); !core.IsKind(err, core.KindRepositoryNotFound) {
		t.Fatalf("unknown repository: %v", err)
	}
}

func TestConfigurationIsKeptPerRegistryAndDeleted(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		if _, err := e.svc.Get(bg, regA); !errors.Is(err, ErrConfigurationNotFound) {
			t.Fatalf("Get before Put: %v", err)
		}
		if _, err := e.svc.Delete(bg, regA); !errors.Is(err, ErrConfigurationNotFound) {
			t.Fatalf("Delete before Put: %v", err)
		}
		want := Configuration{Rules: []Rule{{SigningProfileArn: release, RepositoryFilters: filters("prod/*")}}}
		e.configure(regA, want.Rules...)
		e.Restart()
		got, err := e.svc.Get(bg, regA)
		if err != nil || !equalConfig(got, want) {
			t.Fatalf("Get = %+v, %v; want %+v", got, err, want)
		}
		if _, err := e.svc.Get(bg, regB); !errors.Is(err, ErrConfigurationNotFound) {
			t.Fatalf("another registry's Get: %v", err)
		}
		deleted, err := e.svc.Delete(bg, regA)
		if err != nil || !equalConfig(deleted, want) {
			t.Fatalf("Delete = %+v, %v", deleted, err)
		}
		if _, err := e.svc.Get(bg, regA); !errors.Is(err, ErrConfigurationNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
	})
}

func equalConfig(a, b Configuration) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestInvalidConfigurationIsRejectedAndChangesNothing(t *testing.T) {
	e := newEnv(t, coretest.Memory)
	e.configure(regA, Rule{SigningProfileArn: release})
	many := make([]Rule, MaxRules+1)
	for i := range many {
		many[i] = Rule{SigningProfileArn: release}
	}
	manyFilters := make([]string, MaxFiltersPerRule+1)
	for i := range manyFilters {
		manyFilters[i] = "r*"
	}
	for name, cfg := range map[string]Configuration{
		"11 rules":          {Rules: many},
		"not a profile ARN": {Rules: []Rule{{SigningProfileArn: "arn:aws:signer:us-east-1:111111111111:/signing-profiles/x"}}},
		"an ECR ARN":        {Rules: []Rule{{SigningProfileArn: "arn:aws:ecr:us-east-1:111111111111:repository/app"}}},
		"PREFIX_MATCH":      {Rules: []Rule{{SigningProfileArn: release, RepositoryFilters: []Filter{{Filter: "app", FilterType: "PREFIX_MATCH"}}}}},
		"upper-case filter": {Rules: []Rule{{SigningProfileArn: release, RepositoryFilters: filters("App*")}}},
		"empty filter list": {Rules: []Rule{{SigningProfileArn: release, RepositoryFilters: []Filter{}}}},
		"101 filters":       {Rules: []Rule{{SigningProfileArn: release, RepositoryFilters: filters(manyFilters...)}}},
		"filter of 257":     {Rules: []Rule{{SigningProfileArn: release, RepositoryFilters: filters(strings.Repeat("a", 257))}}},
	} {
		if _, err := e.svc.Put(bg, regA, cfg); !core.IsKind(err, core.KindInvalidParameter) {
			t.Errorf("%s: Put = %v, want InvalidParameter", name, err)
		}
	}
	got, err := e.svc.Get(bg, regA)
	if err != nil || len(got.Rules) != 1 || got.Rules[0].SigningProfileArn != release {
		t.Fatalf("configuration after rejected Puts = %+v, %v", got, err)
	}
}

func TestWildcardFiltersMatchAsTheModelsExamples(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"myapp/*", "myapp/web", true}, {"myapp/*", "myapp/a/b", true}, {"myapp/*", "other/web", false}, {"myapp/*", "myapp", false},
		{"*/production", "team/production", true}, {"*/production", "a/b/production", true}, {"*/production", "production", false},
		{"*prod*", "prod", true}, {"*prod*", "my-production-app", true}, {"*prod*", "dev", false},
		{"app", "app", true}, {"app", "app2", false}, {"a*b*c", "abc", true}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "acb", false},
		{"*", "anything/at/all", true},
	} {
		r := Rule{SigningProfileArn: release, RepositoryFilters: filters(c.pattern)}
		if got := r.matches(c.name); got != c.want {
			t.Errorf("%q matches %q = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}
