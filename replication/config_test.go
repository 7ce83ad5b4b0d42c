package replication

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
)

var src = core.RegistryID{Account: "111111111111", Region: "us-east-1"}

func dest(account, region string) Destination {
	return Destination{RegistryID: account, Region: region}
}

// destinations returns n distinct destinations of another account.
func destinations(n int) []Destination {
	var out []Destination
	for i := range n {
		out = append(out, dest("222222222222", fmt.Sprintf("region-%d", i)))
	}
	return out
}

// A configuration is held to the model's bounds and the user guide's: at
// most 10 rules, 25 unique destinations across them, 100 PREFIX_MATCH
// filters per rule, and never the source registry itself (moto's and AWS's
// "Replication destination cannot be the same as the source registry").
func TestConfigurationValidation(t *testing.T) {
	rule := func(ds ...Destination) Rule { return Rule{Destinations: ds} }
	many := func(n int) []Rule {
		rs := make([]Rule, n)
		for i := range rs {
			rs[i] = rule(dest("222222222222", "us-west-2"))
		}
		return rs
	}
	for _, c := range []struct {
		name string
		cfg  Configuration
		want string // "" for valid; else part of the message
	}{
		{"empty", Configuration{}, ""},
		{"cross-region", Configuration{Rules: []Rule{rule(dest(src.Account, "us-west-2"))}}, ""},
		{"ten rules", Configuration{Rules: many(10)}, ""},
		{"eleven rules", Configuration{Rules: many(11)}, "at most 10 rules"},
		{"the source itself", Configuration{Rules: []Rule{rule(dest(src.Account, src.Region))}}, "Replication destination cannot be the same as the source registry"},
		{"the source's account in another region, and another account in its region", Configuration{Rules: []Rule{rule(dest(src.Account, "eu-west-1"), dest("222222222222", src.Region))}}, ""},
		{"25 unique destinations", Configuration{Rules: []Rule{{Destinations: destinations(20)}, {Destinations: destinations(25)}}}, ""},
		{"26 unique destinations", Configuration{Rules: []Rule{{Destinations: destinations(20)}, {Destinations: destinations(26)[20:]}}}, "at most 25 unique destinations"},
		{"a prefix filter", Configuration{Rules: []Rule{{Destinations: destinations(1), RepositoryFilters: []Filter{{Filter: "prod/", FilterType: PrefixMatch}}}}}, ""},
		{"another filter type", Configuration{Rules: []Rule{{Destinations: destinations(1), RepositoryFilters: []Filter{{Filter: "prod", FilterType: "WILDCARD"}}}}}, "PREFIX_MATCH"},
		{"a one-character filter", Configuration{Rules: []Rule{{Destinations: destinations(1), RepositoryFilters: []Filter{{Filter: "p", FilterType: PrefixMatch}}}}}, "2 to 256"},
		{"101 filters", Configuration{Rules: []Rule{{Destinations: destinations(1), RepositoryFilters: func() []Filter {
			fs := make([]Filter, 101)
			for i := range fs {
				fs[i] = Filter{Filter: fmt.Sprintf("p%d", i), FilterType: PrefixMatch}
			}
			return fs
		}()}}}, "at most 100"},
		{"a malformed account", Configuration{Rules: []Rule{rule(dest("2222", "us-west-2"))}}, "not a registry id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate(src)
			if c.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !core.IsKind(err, core.KindInvalidParameter) || !strings.Contains(err.Error(), c.want) ||
				!strings.HasPrefix(err.Error(), "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: ") {
				t.Fatalf("err = %v, want an InvalidParameter saying %q", err, c.want)
			}
		})
	}
}

// A repository is replicated by the rules without filters and those with a
// filter that prefixes its name; each destination once.
func TestDestinationsForAFilteredRepository(t *testing.T) {
	west, east2, b := dest(src.Account, "us-west-2"), dest(src.Account, "us-east-2"), dest("222222222222", "us-east-1")
	cfg := Configuration{Rules: []Rule{
		{Destinations: []Destination{west}, RepositoryFilters: []Filter{{Filter: "prod", FilterType: PrefixMatch}}},
		{Destinations: []Destination{east2, west}, RepositoryFilters: []Filter{{Filter: "test", FilterType: PrefixMatch}, {Filter: "prod/web", FilterType: PrefixMatch}}},
		{Destinations: []Destination{b}},
	}}
	for _, c := range []struct {
		repo string
		want []Destination
	}{
		{"prod/api", []Destination{west, b}},
		{"production", []Destination{west, b}}, // a prefix of the name, not a namespace
		{"prod/web", []Destination{west, east2, b}},
		{"test-app", []Destination{east2, west, b}},
		{"other", []Destination{b}},
	} {
		if got := cfg.DestinationsFor(c.repo); !reflect.DeepEqual(got, c.want) {
			t.Errorf("DestinationsFor(%s) = %v, want %v", c.repo, got, c.want)
		}
	}
}
