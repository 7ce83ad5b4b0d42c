package templates

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/lifecycle"
	"github.com/berth-dev/berth/policy"
)

// Root is the prefix of the template that applies to every repository no
// other template does.
const Root = "ROOT"

// Template is one repository creation template.
type Template struct {
	Prefix      string              `json:"prefix"`
	Description string              `json:"description,omitempty"`
	AppliedFor  []core.CreateReason `json:"appliedFor"`
	// EncryptionType is AES256 (also when empty), KMS or KMS_DSSE; KMSKey is
	// empty for the account's AWS-managed key.
	EncryptionType       string             `json:"encryptionType,omitempty"`
	KMSKey               string             `json:"kmsKey,omitempty"`
	ResourceTags         []core.ResourceTag `json:"resourceTags,omitempty"`
	ImageTagMutability   string             `json:"imageTagMutability,omitempty"` // MUTABLE when empty
	MutabilityExclusions []string           `json:"mutabilityExclusions,omitempty"`
	RepositoryPolicy     string             `json:"repositoryPolicy,omitempty"`
	LifecyclePolicy      string             `json:"lifecyclePolicy,omitempty"`
	CustomRoleARN        string             `json:"customRoleArn,omitempty"`
	CreatedAt            time.Time          `json:"createdAt"`
	UpdatedAt            time.Time          `json:"updatedAt"`
}

// Reasons are the values of appliedFor, in the model's order.
var Reasons = []core.CreateReason{core.CreateForReplication, core.CreateForPullThrough, core.CreateOnPush}

// prefixPattern is the model's Prefix.
var prefixPattern = regexp.MustCompile(`^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*/?|ROOT)$`)

// roleARN is an IAM role's ARN; its account is the first group.
var roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$`)

// Validate checks a template of registry reg and puts it in the form it is
// stored in: appliedFor without repeats in the model's order, the
// mutability defaulted, the tags checked. A rejected template is a core
// KindInvalidParameter (or tag) error naming the member.
func (t *Template) Validate(reg core.RegistryID) error {
	if !prefixPattern.MatchString(t.Prefix) || len(t.Prefix) > 256 {
		return core.InvalidParameter("prefix", "The prefix must be ROOT or a repository namespace of 1 to 256 characters")
	}
	if len(t.AppliedFor) == 0 {
		return core.InvalidParameter("appliedFor", "appliedFor must list at least one of REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH")
	}
	var applied []core.CreateReason
	for _, r := range Reasons {
		if slices.Contains(t.AppliedFor, r) {
			applied = append(applied, r)
		}
	}
	for _, r := range t.AppliedFor {
		if !slices.Contains(Reasons, r) {
			return core.InvalidParameter("appliedFor", "Member must satisfy enum value set: [REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH]")
		}
	}
	t.AppliedFor = applied
	if len([]rune(t.Description)) > 256 {
		return core.InvalidParameter("description", "Member must have length less than or equal to 256")
	}
	var err error
	if t.ImageTagMutability, t.MutabilityExclusions, err = core.NormalizeMutability(t.ImageTagMutability, t.MutabilityExclusions); err != nil {
		return err
	}
	if t.EncryptionType != "" || t.KMSKey != "" {
		if t.EncryptionType == "" {
			return core.InvalidParameter("encryptionConfiguration.encryptionType", "An encryption type is required with a KMS key")
		}
		if _, _, err := core.DefaultEncryption(reg, t.EncryptionType, t.KMSKey); err != nil {
			return err
		}
	}
	if t.ResourceTags, err = core.MergeTags(nil, t.ResourceTags); err != nil {
		return err
	}
	if len(t.ResourceTags) == 0 {
		t.ResourceTags = nil
	}
	if t.RepositoryPolicy != "" {
		if _, err := policy.Parse(t.RepositoryPolicy, policy.Repository); err != nil {
			return core.InvalidParameter("repositoryPolicy", "Invalid repository policy provided: "+err.Error())
		}
	}
	if t.LifecyclePolicy != "" {
		if _, err := lifecycle.Parse(t.LifecyclePolicy); err != nil {
			// lifecycle words it for PutLifecyclePolicy's member.
			msg := strings.Replace(err.Error(), "at 'lifecyclePolicyText'", "at 'lifecyclePolicy'", 1)
			return &core.Error{Kind: core.KindInvalidParameter, Message: msg, Err: err}
		}
	}
	if t.CustomRoleARN != "" {
		m := roleARN.FindStringSubmatch(t.CustomRoleARN)
		if m == nil {
			return core.InvalidParameter("customRoleArn", "The custom role must be an IAM role ARN")
		}
		if m[1] != reg.Account {
			return core.InvalidParameter("customRoleArn", "The custom role must be in the same account as the registry ("+reg.Account+")")
		}
	}
	return nil
}

// AppliesTo reports whether the template is used when the registry creates
// repository name for reason: appliedFor holds reason and the prefix
// matches name.
func (t *Template) AppliesTo(name string, reason core.CreateReason) bool {
	return slices.Contains(t.AppliedFor, reason) && Matches(t.Prefix, name)
}

// Matches reports whether a template prefix covers a repository name: ROOT
// covers every name, and any other prefix p the names under "p/" — AWS
// assumes a / after the prefix, so "prod" covers prod/app but neither
// production/app nor prod itself.
func Matches(prefix, name string) bool {
	if prefix == Root {
		return true
	}
	return strings.HasPrefix(name, namespace(prefix))
}

// namespace is a prefix with its assumed trailing slash: "prod" and "prod/"
// are one namespace, so one template.
func namespace(prefix string) string {
	if prefix == Root {
		return Root
	}
	return strings.TrimSuffix(prefix, "/") + "/"
}

// specificity orders matching templates: ROOT least, then longer
// namespaces over shorter ones.
func specificity(prefix string) int {
	if prefix == Root {
		return 0
	}
	return len(namespace(prefix))
}

// Settings are the settings of a repository created from the template in
// registry reg: KMS without a key is the account's AWS-managed key there.
func (t *Template) Settings(reg core.RegistryID) core.RepositorySettings {
	s := core.RepositorySettings{
		ImageTagMutability:   t.ImageTagMutability,
		MutabilityExclusions: slices.Clone(t.MutabilityExclusions),
		Tags:                 slices.Clone(t.ResourceTags),
		Policy:               t.RepositoryPolicy,
		LifecyclePolicy:      t.LifecyclePolicy,
	}
	if t.EncryptionType != "" {
		s.EncryptionType, s.KMSKey, _ = core.DefaultEncryption(reg, t.EncryptionType, t.KMSKey) // validated when stored
	}
	return s
}
