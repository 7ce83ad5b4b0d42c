package replication

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-dev/berth/core"
)

// Configuration is a registry's replication configuration.
type Configuration struct {
	Rules []Rule `json:"rules"`
}

// Rule replicates the repositories its filters match (all, without
// filters) to its destinations.
type Rule struct {
	Destinations      []Destination `json:"destinations"`
	RepositoryFilters []Filter      `json:"repositoryFilters,omitempty"`
}

// Destination is a registry to replicate to: an account and a region.
type Destination struct {
	RegistryID string `json:"registryId"`
	Region     string `json:"region"`
}

// Registry is the destination as a core registry.
func (d Destination) Registry() core.RegistryID {
	return core.RegistryID{Account: d.RegistryID, Region: d.Region}
}

// Filter selects repositories by name.
type Filter struct {
	Filter     string `json:"filter"`
	FilterType string `json:"filterType"`
}

// PrefixMatch is the only filter type: a repository name prefix.
const PrefixMatch = "PREFIX_MATCH"

// Limits of a configuration (the model's and the user guide's).
const (
	MaxRules             = 10
	MaxDestinations      = 25 // unique, across all rules
	MaxFiltersPerRule    = 100
	maxDestinationsInAPI = 100 // per rule, the model's list bound
)

var (
	accountID   = regexp.MustCompile(`^[0-9]{12}$`)
	regionName  = regexp.MustCompile(`^[0-9a-z-]{2,25}$`)
	filterValue = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$`)
)

// invalid words a rejected configuration as ECR words a rejected parameter.
func invalid(format string, args ...any) error {
	return core.InvalidParameter("replicationConfiguration", fmt.Sprintf(format, args...))
}

// Validate checks a configuration for registry src.
func (c *Configuration) Validate(src core.RegistryID) error {
	if len(c.Rules) > MaxRules {
		return invalid("A replication configuration can contain at most %d rules", MaxRules)
	}
	unique := map[Destination]bool{}
	for i, r := range c.Rules {
		if len(r.Destinations) > maxDestinationsInAPI {
			return invalid("Rule %d has %d destinations; a rule can have at most %d", i+1, len(r.Destinations), maxDestinationsInAPI)
		}
		for _, d := range r.Destinations {
			if !accountID.MatchString(d.RegistryID) || !regionName.MatchString(d.Region) {
				return invalid("Destination {registryId: %s, region: %s} is not a registry id and a region", d.RegistryID, d.Region)
			}
			// moto's (and AWS's) wording.
			if d.Registry() == src {
				return invalid("Replication destination cannot be the same as the source registry")
			}
			unique[d] = true
		}
		if len(r.RepositoryFilters) > MaxFiltersPerRule {
			return invalid("Rule %d has %d repository filters; a rule can have at most %d", i+1, len(r.RepositoryFilters), MaxFiltersPerRule)
		}
		for _, f := range r.RepositoryFilters {
			if f.FilterType != PrefixMatch {
				return invalid("Repository filter type '%s' is not supported; the only type is %s", f.FilterType, PrefixMatch)
			}
			if len(f.Filter) < 2 || len(f.Filter) > 256 || !filterValue.MatchString(f.Filter) {
				return invalid("Repository filter '%s' is not a repository name prefix of 2 to 256 characters", f.Filter)
			}
		}
	}
	if len(unique) > MaxDestinations {
		return invalid("A replication configuration can have at most %d unique destinations across all rules, not %d", MaxDestinations, len(unique))
	}
	return nil
}

// matches reports whether the rule replicates repository repo: it has no
// filters, or one is a prefix of the name.
func (r *Rule) matches(repo string) bool {
	if len(r.RepositoryFilters) == 0 {
		return true
	}
	return slices.ContainsFunc(r.RepositoryFilters, func(f Filter) bool {
		return f.FilterType == PrefixMatch && strings.HasPrefix(repo, f.Filter)
	})
}

// DestinationsFor lists, once each and in rule order, the destinations of
// the rules that replicate repository repo.
func (c *Configuration) DestinationsFor(repo string) []Destination {
	var out []Destination
	for i := range c.Rules {
		if !c.Rules[i].matches(repo) {
			continue
		}
		for _, d := range c.Rules[i].Destinations {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}
