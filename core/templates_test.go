package core

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

// prefixTemplates is a TemplateSource like the creation templates: one
// template per prefix, for some reasons; it counts lookups.
type prefixTemplates struct {
	mu      sync.Mutex
	prefix  string
	reasons []CreateReason
	set     RepositorySettings
	lookups int
}

func (p *prefixTemplates) RepositoryTemplate(ctx context.Context, reg RegistryID, name string, reason CreateReason) (RepositorySettings, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lookups++
	if len(name) < len(p.prefix) || name[:len(p.prefix)] != p.prefix {
		return RepositorySettings{}, false, nil
	}
	for _, r := range p.reasons {
		if r == reason {
			return p.set, true, nil
		}
	}
	return RepositorySettings{}, false, nil
}

// A push to a missing repository creates it only when a CREATE_ON_PUSH
// template applies, with the template's settings, in the push's own
// transaction; replication creates a repository with or without one.
func TestRepositoryCreationThroughTemplates(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rec := f.record()
		tmpl := &prefixTemplates{prefix: "team/", reasons: []CreateReason{CreateOnPush, CreateForReplication},
			set: RepositorySettings{ImageTagMutability: "IMMUTABLE", Tags: []ResourceTag{{Key: "team", Value: "a"}}, Policy: `{"Version":"2012-10-17"}`}}
		f.r.templates = tmpl

		// No template for this name: the push fails and nothing is created.
		_, err := f.r.PutBlob(bg, regA, "other/app", digest.FromString("x"), strings.NewReader("x"))
		wantKind(t, err, KindRepositoryNotFound, "push outside every template")
		wantKind(t, f.r.HasRepository(bg, regA, "other/app"), KindRepositoryNotFound, "not created")

		img := f.newImage(regA, "team/app", "templated")
		_, err = f.r.PutManifest(bg, regA, "team/app", PutManifestInput{Reference: "v1", Body: img.body})
		must(t, err, "push")
		repo, err := f.r.GetRepository(bg, regA, "team/app")
		must(t, err, "GetRepository")
		if !reflect.DeepEqual(repo.RepositorySettings, tmpl.set) {
			t.Fatalf("created with %+v, want the template's %+v", repo.RepositorySettings, tmpl.set)
		}
		evs := rec.take(f)
		if len(evs) < 2 || evs[0].Kind != EventRepositoryCreated || evs[1].Kind != EventPolicyChanged || evs[1].Cause != CauseTemplate {
			t.Fatalf("events %+v", evs)
		}
		// An existing repository costs no template lookup.
		before := tmpl.lookups
		f.newImage(regA, "team/app", "second")
		if tmpl.lookups != before {
			t.Fatal("a push into an existing repository looked up a template")
		}

		// Replication creates with defaults where no template applies.
		f.createRepo(regA, "src")
		f.pushImage(regA, "src", "v1", "replicated")
		_, err = f.r.CopyImage(bg, CopyImageInput{From: regA, FromRepository: "src", Reference: "v1", To: regB, ToRepository: "elsewhere", Create: CreateForReplication})
		must(t, err, "CopyImage without a template")
		repo, err = f.r.GetRepository(bg, regB, "elsewhere")
		must(t, err, "replicated repository")
		if !reflect.DeepEqual(repo.RepositorySettings, RepositorySettings{}) {
			t.Fatalf("defaults expected, got %+v", repo.RepositorySettings)
		}
		_, err = f.r.CopyImage(bg, CopyImageInput{From: regA, FromRepository: "src", Reference: "v1", To: regB, ToRepository: "team/replica", Create: CreateForReplication})
		must(t, err, "CopyImage with a template")
		repo, _ = f.r.GetRepository(bg, regB, "team/replica")
		if repo.ImageTagMutability != "IMMUTABLE" {
			t.Fatalf("replicated repository ignored its template: %+v", repo.RepositorySettings)
		}
	})
}

// --create-on-push is the simplest template source: every push creates.
func TestCreateOnPushIsAnImplicitTemplate(t *testing.T) {
	ctx := bg
	for _, enabled := range []bool{false, true} {
		s, ok, err := CreateOnPushTemplates{Enabled: enabled}.RepositoryTemplate(ctx, regA, "any/name", CreateOnPush)
		if err != nil || ok != enabled || !reflect.DeepEqual(s, RepositorySettings{}) {
			t.Fatalf("enabled=%v: %+v %v %v", enabled, s, ok, err)
		}
		if _, ok, _ := (CreateOnPushTemplates{Enabled: enabled}).RepositoryTemplate(ctx, regA, "x", CreateForReplication); ok {
			t.Fatal("the implicit template applies to replication")
		}
	}
}

// The settings validators the ECR API and the templates share.
func TestRepositorySettingsValidation(t *testing.T) {
	for _, c := range []struct {
		mode       string
		exclusions []string
		want       string
		ok         bool
	}{
		{"", nil, "MUTABLE", true},
		{"IMMUTABLE", nil, "IMMUTABLE", true},
		{"MUTABLE_WITH_EXCLUSION", []string{"dev-*"}, "MUTABLE_WITH_EXCLUSION", true},
		{"IMMUTABLE_WITH_EXCLUSION", nil, "", false},
		{"MUTABLE", []string{"x"}, "", false},
	} {
		got, _, err := NormalizeMutability(c.mode, c.exclusions)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("NormalizeMutability(%q, %v) = %q, %v", c.mode, c.exclusions, got, err)
		}
		if err != nil {
			wantKind(t, err, KindInvalidParameter, "mutability")
		}
	}
	// AWS reports the account's AWS-managed key by its key ARN, the same each time.
	_, key, err := DefaultEncryption(regA, "KMS", "")
	if err != nil || !regexp.MustCompile(`^arn:aws:kms:us-east-1:111111111111:key/[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(key) {
		t.Fatalf("KMS default key %q, %v", key, err)
	}
	if again, other := AWSManagedKeyARN(regA), AWSManagedKeyARN(regA2); again != key || other == key || AWSManagedKeyARN(regB) == key {
		t.Fatalf("the managed key is not stable per account and region: %s %s %s", key, again, other)
	}
	_, _, err = DefaultEncryption(regA, "AES256", "arn:aws:kms:us-east-1:111111111111:key/x")
	wantKind(t, err, KindInvalidParameter, "AES256 with a key")

	tags, err := MergeTags([]ResourceTag{{"a", "1"}}, []ResourceTag{{"a", "2"}, {"b", "3"}})
	if err != nil || !reflect.DeepEqual(tags, []ResourceTag{{"a", "2"}, {"b", "3"}}) {
		t.Fatalf("MergeTags = %v, %v", tags, err)
	}
	_, err = MergeTags(nil, []ResourceTag{{"aws:reserved", "x"}})
	wantKind(t, err, KindInvalidTagParameter, "reserved key")
	many := make([]ResourceTag, 51)
	for i := range many {
		many[i] = ResourceTag{Key: "k" + itoa(int64(i))}
	}
	_, err = MergeTags(nil, many)
	wantKind(t, err, KindTooManyTags, "51 tags")
}
