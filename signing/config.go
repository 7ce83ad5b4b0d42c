package signing

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-dev/berth/core"
)

// Configuration is a registry's signing configuration.
type Configuration struct {
	Rules []Rule `json:"rules"`
}

// Rule signs the images pushed to the repositories its filters match (all,
// without filters) with one signing profile.
type Rule struct {
	SigningProfileArn string   `json:"signingProfileArn"`
	RepositoryFilters []Filter `json:"repositoryFilters,omitempty"`
}

// Filter selects repositories by name.
type Filter struct {
	Filter     string `json:"filter"`
	FilterType string `json:"filterType"`
}

// WildcardMatch is the only filter type: a name pattern where * matches any
// sequence of characters, slashes included ("myapp/*", "*/production",
// "*prod*": the model's SigningRepositoryFilter examples).
const WildcardMatch = "WILDCARD_MATCH"

// Limits of a configuration, the model's: SigningRuleList max 10,
// SigningRepositoryFilterList 1 to 100 ("Maximum of 100 filters per rule"),
// SigningRepositoryFilterValue 1 to 256 characters, SigningProfileArn at
// most 200.
const (
	MaxRules          = 10
	MaxFiltersPerRule = 100
	maxFilterLen      = 256
	maxProfileArnLen  = 200
)

var (
	// The model's SigningProfileArn and SigningRepositoryFilterValue patterns.
	profileArn  = regexp.MustCompile(`^arn:aws(-[a-z]+)*:signer:([a-z0-9-]+):([0-9]{12}):/signing-profiles/([a-zA-Z0-9_]{2,})$`)
	filterValue = regexp.MustCompile(`^(?:[a-z0-9*]+(?:[._-][a-z0-9*]+)*/)*[a-z0-9*]+(?:[._-][a-z0-9*]+)*$`)
)

// invalid words a rejected configuration as ECR words a rejected parameter.
func invalid(format string, args ...any) error {
	return core.InvalidParameter("signingConfiguration", fmt.Sprintf(format, args...))
}

// ValidProfileArn reports whether arn is a signing profile ARN as the model
// gives it.
func ValidProfileArn(arn string) bool {
	return len(arn) <= maxProfileArnLen && profileArn.MatchString(arn)
}

// ProfileOf splits a valid signing profile ARN into its region, account and
// profile name.
func ProfileOf(arn string) (region, account, name string, ok bool) {
	m := profileArn.FindStringSubmatch(arn)
	if m == nil {
		return "", "", "", false
	}
	return m[2], m[3], m[4], true
}

// Validate checks a configuration against the model's constraints, so that
// the package holds them however it is called.
func (c *Configuration) Validate() error {
	if len(c.Rules) > MaxRules {
		return invalid("A signing configuration can contain at most %d rules, not %d", MaxRules, len(c.Rules))
	}
	for i, r := range c.Rules {
		if !ValidProfileArn(r.SigningProfileArn) {
			return invalid("Rule %d: '%s' is not a signing profile ARN (arn:aws:signer:<region>:<account>:/signing-profiles/<name>)", i+1, r.SigningProfileArn)
		}
		if r.RepositoryFilters != nil && len(r.RepositoryFilters) == 0 {
			return invalid("Rule %d: repositoryFilters must hold at least 1 filter when given", i+1)
		}
		if len(r.RepositoryFilters) > MaxFiltersPerRule {
			return invalid("Rule %d has %d repository filters; a rule can have at most %d", i+1, len(r.RepositoryFilters), MaxFiltersPerRule)
		}
		for _, f := range r.RepositoryFilters {
			if f.FilterType != WildcardMatch {
				return invalid("Repository filter type '%s' is not supported; the only type is %s", f.FilterType, WildcardMatch)
			}
			if len(f.Filter) > maxFilterLen || !filterValue.MatchString(f.Filter) {
				return invalid("Repository filter '%s' is not a repository name pattern of 1 to %d characters", f.Filter, maxFilterLen)
			}
		}
	}
	return nil
}

// matches reports whether the rule signs images of repository repo: it has
// no filters, or one matches the name.
func (r *Rule) matches(repo string) bool {
	if len(r.RepositoryFilters) == 0 {
		return true
	}
	return slices.ContainsFunc(r.RepositoryFilters, func(f Filter) bool {
		return f.FilterType == WildcardMatch && wildcard(f.Filter, repo)
	})
}

// ProfilesFor lists, once each and in rule order, the signing profiles of
// the rules that sign images pushed to repository repo.
func (c *Configuration) ProfilesFor(repo string) []string {
	var out []string
	for i := range c.Rules {
		if c.Rules[i].matches(repo) && !slices.Contains(out, c.Rules[i].SigningProfileArn) {
			out = append(out, c.Rules[i].SigningProfileArn)
		}
	}
	return out
}

// wildcard matches name against pattern, where * stands for any sequence
// of characters (none included) and everything else for itself.
func wildcard(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	first, last := parts[0], parts[len(parts)-1]
	if !strings.HasPrefix(name, first) {
		return false
	}
	name = name[len(first):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return strings.HasSuffix(name, last)
}
