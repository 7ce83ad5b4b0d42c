package templates

import (
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
)

var regA = core.RegistryID{Account: "111111111111", Region: "us-east-1"}

const (
	validPolicy    = `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	validLifecycle = `{"rules":[{"rulePriority":1,"description":"expire untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`
)

// Each member is validated as the user guide and the model describe it,
// with the validators the matching repository operations use; a rejection
// names the member.
func TestTemplateValidationNamesTheMember(t *testing.T) {
	ok := func() Template { return Template{Prefix: "team", AppliedFor: []core.CreateReason{core.CreateOnPush}} }
	for _, c := range []struct {
		name   string
		change func(*Template)
		member string // "" for valid
		kind   core.Kind
	}{
		{"minimal", func(*Template) {}, "", ""},
		{"ROOT", func(t *Template) { t.Prefix = "ROOT" }, "", ""},
		{"nested prefix with a trailing slash", func(t *Template) { t.Prefix = "team/a-b/c_d/" }, "", ""},
		{"upper-case prefix", func(t *Template) { t.Prefix = "Team" }, "prefix", core.KindInvalidParameter},
		{"root in lower case", func(t *Template) { t.Prefix = "root/" }, "", ""},
		{"no appliedFor", func(t *Template) { t.AppliedFor = nil }, "appliedFor", core.KindInvalidParameter},
		{"unknown appliedFor", func(t *Template) { t.AppliedFor = []core.CreateReason{"ON_PULL"} }, "appliedFor", core.KindInvalidParameter},
		{"every reason", func(t *Template) { t.AppliedFor = Reasons }, "", ""},
		{"exclusions without a mode that takes them", func(t *Template) { t.MutabilityExclusions = []string{"dev-*"} }, "imageTagMutabilityExclusionFilters", core.KindInvalidParameter},
		{"mutable with exclusions", func(t *Template) {
			t.ImageTagMutability, t.MutabilityExclusions = "MUTABLE_WITH_EXCLUSION", []string{"release-*"}
		}, "", ""},
		{"immutable with exclusions but none given", func(t *Template) { t.ImageTagMutability = "IMMUTABLE_WITH_EXCLUSION" }, "imageTagMutabilityExclusionFilters", core.KindInvalidParameter},
		{"AES256 with a key", func(t *Template) {
			t.EncryptionType, t.KMSKey = "AES256", "arn:aws:kms:us-east-1:111111111111:key/abc"
		}, "encryptionConfiguration.kmsKey", core.KindInvalidParameter},
		{"KMS with the managed key", func(t *Template) { t.EncryptionType = "KMS" }, "", ""},
		{"reserved tag key", func(t *Template) { t.ResourceTags = []core.ResourceTag{{Key: "aws:team", Value: "a"}} }, "", core.KindInvalidTagParameter},
		{"repository policy", func(t *Template) { t.RepositoryPolicy = validPolicy }, "", ""},
		{"repository policy that is not one", func(t *Template) { t.RepositoryPolicy = `{"Version":"2012-10-17"}` }, "repositoryPolicy", core.KindInvalidParameter},
		{"lifecycle policy", func(t *Template) { t.LifecyclePolicy = validLifecycle }, "", ""},
		{"lifecycle policy without rules", func(t *Template) { t.LifecyclePolicy = `{"rules":[]}` + strings.Repeat(" ", 100) }, "lifecyclePolicy", core.KindInvalidParameter},
		{"custom role of the account", func(t *Template) { t.CustomRoleARN = "arn:aws:iam::111111111111:role/ecr-templates" }, "", ""},
		{"custom role of another account", func(t *Template) { t.CustomRoleARN = "arn:aws:iam::222222222222:role/ecr-templates" }, "customRoleArn", core.KindInvalidParameter},
		{"custom role that is a user", func(t *Template) { t.CustomRoleARN = "arn:aws:iam::111111111111:user/bob" }, "customRoleArn", core.KindInvalidParameter},
		{"long description", func(t *Template) { t.Description = strings.Repeat("d", 257) }, "description", core.KindInvalidParameter},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmpl := ok()
			c.change(&tmpl)
			err := tmpl.Validate(regA)
			switch {
			case c.kind == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case c.kind != "" && core.KindOf(err) != c.kind:
				t.Fatalf("err = %v (kind %q), want kind %s", err, core.KindOf(err), c.kind)
			case c.member != "" && !strings.Contains(err.Error(), "'"+c.member+"'"):
				t.Fatalf("the error does not name %s: %v", c.member, err)
			}
		})
	}
}

// appliedFor is stored without repeats, in the model's order; mutability
// defaults to MUTABLE.
func TestValidateNormalizes(t *testing.T) {
	tmpl := Template{Prefix: "team", AppliedFor: []core.CreateReason{core.CreateOnPush, core.CreateForReplication, core.CreateOnPush}}
	if err := tmpl.Validate(regA); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tmpl.AppliedFor, []core.CreateReason{core.CreateForReplication, core.CreateOnPush}) || tmpl.ImageTagMutability != "MUTABLE" {
		t.Fatalf("normalized to %+v", tmpl)
	}
}

// "There is always an assumed / applied to the end of the prefix. If you
// specify ecr-public as the prefix, Amazon ECR treats that as ecr-public/"
// (CreateRepositoryCreationTemplate, prefix); ROOT matches every name.
func TestPrefixesAssumeATrailingSlash(t *testing.T) {
	for _, c := range []struct {
		prefix, name string
		want         bool
	}{
		{"ecr-public", "ecr-public/nginx", true},
		{"ecr-public/", "ecr-public/nginx", true},
		{"ecr-public", "ecr-public", false},
		{"ecr-public", "ecr-publicity/nginx", false},
		{"prod/team", "prod/team/app", true},
		{"prod/team", "prod/teams/app", false},
		{"prod", "prod/team/app", true},
		{"ROOT", "anything/at/all", true},
		{"ROOT", "app", true},
	} {
		if got := Matches(c.prefix, c.name); got != c.want {
			t.Errorf("Matches(%q, %q) = %v, want %v", c.prefix, c.name, got, c.want)
		}
	}
}

// A repository created from a template gets every setting it carries; KMS
// without a key is the AWS-managed key of the registry it is created in.
func TestSettingsCarryEveryMember(t *testing.T) {
	tmpl := Template{Prefix: "team", AppliedFor: []core.CreateReason{core.CreateOnPush}, EncryptionType: "KMS",
		ResourceTags: []core.ResourceTag{{Key: "team", Value: "a"}}, ImageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
		MutabilityExclusions: []string{"latest"}, RepositoryPolicy: validPolicy, LifecyclePolicy: validLifecycle}
	if err := tmpl.Validate(regA); err != nil {
		t.Fatal(err)
	}
	other := core.RegistryID{Account: "111111111111", Region: "eu-west-1"}
	s := tmpl.Settings(other)
	want := core.RepositorySettings{ImageTagMutability: "IMMUTABLE_WITH_EXCLUSION", MutabilityExclusions: []string{"latest"},
		EncryptionType: "KMS", KMSKey: core.AWSManagedKeyARN(other), Tags: []core.ResourceTag{{Key: "team", Value: "a"}},
		Policy: validPolicy, LifecyclePolicy: validLifecycle}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("settings\n got  %+v\n want %+v", s, want)
	}
	if plain := (&Template{Prefix: "x", AppliedFor: Reasons}).Settings(regA); plain.EncryptionType != "" || plain.KMSKey != "" {
		t.Fatalf("a template without encryption gave %+v", plain)
	}
}
