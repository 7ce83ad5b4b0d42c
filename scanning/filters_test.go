package scanning

import (
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
)

// The table of the user guide's "Filters to choose which repositories are
// scanned in Amazon ECR": filters down, repository names across.
func TestFilterMatchesAsTheUserGuidesTable(t *testing.T) {
	repos := []string{"prod", "repo-prod", "prod-repo", "repo-prod-repo", "prodrepo"}
	table := map[string][]bool{
		"prod":      {true, true, true, true, true},
		"*prod":     {true, true, false, false, false},
		"prod*":     {true, false, true, false, true},
		"*prod*":    {true, true, true, true, true},
		"prod*repo": {false, false, true, false, true},
	}
	for filter, want := range table {
		for i, repo := range repos {
			if got := FilterMatches(filter, repo); got != want[i] {
				t.Errorf("filter %q, repository %q: %v, the guide says %v", filter, repo, got, want[i])
			}
		}
	}
}

func TestAppliedFollowsTheRepositoryOnlyWithoutRegistryRules(t *testing.T) {
	on := core.Repository{Name: "app", RepositorySettings: core.RepositorySettings{ScanOnPush: true}}
	off := core.Repository{Name: "app"}
	for _, c := range []struct {
		name string
		cfg  *core.ScanningConfig
		repo core.Repository
		want RepositoryConfig
	}{
		{"default, repository on", nil, on, RepositoryConfig{ScanOnPush: true, Frequency: FrequencyScanOnPush, ScanType: ScanTypeBasic}},
		{"default, repository off", nil, off, RepositoryConfig{Frequency: FrequencyManual, ScanType: ScanTypeBasic}},
		{"basic rule matching, repository off", &core.ScanningConfig{ScanType: ScanTypeBasic, Rules: []core.ScanningRule{{ScanFrequency: FrequencyScanOnPush, Filters: []string{"ap*", "zz"}}}}, off,
			RepositoryConfig{ScanOnPush: true, Frequency: FrequencyScanOnPush, AppliedFilters: []string{"ap*"}, ScanType: ScanTypeBasic}},
		{"basic rule not matching, repository on", &core.ScanningConfig{ScanType: ScanTypeBasic, Rules: []core.ScanningRule{{ScanFrequency: FrequencyScanOnPush, Filters: []string{"prod"}}}}, on,
			RepositoryConfig{Frequency: FrequencyManual, ScanType: ScanTypeBasic}},
		{"enhanced without rules scans nothing", &core.ScanningConfig{ScanType: ScanTypeEnhanced}, on, RepositoryConfig{Frequency: FrequencyManual, ScanType: ScanTypeEnhanced}},
		{"continuous wins over scan on push", &core.ScanningConfig{ScanType: ScanTypeEnhanced, Rules: []core.ScanningRule{
			{ScanFrequency: FrequencyScanOnPush, Filters: []string{"*"}}, {ScanFrequency: FrequencyContinuous, Filters: []string{"app"}}}}, off,
			RepositoryConfig{ScanOnPush: true, Frequency: FrequencyContinuous, AppliedFilters: []string{"app"}, ScanType: ScanTypeEnhanced}},
		{"continuous first", &core.ScanningConfig{ScanType: ScanTypeEnhanced, Rules: []core.ScanningRule{
			{ScanFrequency: FrequencyContinuous, Filters: []string{"app"}}, {ScanFrequency: FrequencyScanOnPush, Filters: []string{"*"}}}}, off,
			RepositoryConfig{ScanOnPush: true, Frequency: FrequencyContinuous, AppliedFilters: []string{"app"}, ScanType: ScanTypeEnhanced}},
	} {
		got := Applied(c.cfg, c.repo)
		if got.ScanOnPush != c.want.ScanOnPush || got.Frequency != c.want.Frequency || got.ScanType != c.want.ScanType || !slices.Equal(got.AppliedFilters, c.want.AppliedFilters) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestValidateConfigRefusesFrequenciesTheScanTypeDoesNotTake(t *testing.T) {
	rule := func(freq string) core.ScanningRule {
		return core.ScanningRule{ScanFrequency: freq, Filters: []string{"*"}}
	}
	for _, c := range []struct {
		cfg  core.ScanningConfig
		want string // "" accepted
	}{
		{core.ScanningConfig{ScanType: ScanTypeBasic}, ""},
		{core.ScanningConfig{ScanType: ScanTypeBasic, Rules: []core.ScanningRule{rule(FrequencyScanOnPush)}}, ""},
		{core.ScanningConfig{ScanType: ScanTypeEnhanced, Rules: []core.ScanningRule{rule(FrequencyScanOnPush), rule(FrequencyContinuous)}}, ""},
		{core.ScanningConfig{ScanType: ScanTypeBasic, Rules: []core.ScanningRule{rule(FrequencyContinuous)}}, "CONTINUOUS_SCAN is not supported with scan type BASIC"},
		{core.ScanningConfig{ScanType: ScanTypeEnhanced, Rules: []core.ScanningRule{rule(FrequencyManual)}}, "MANUAL is not supported"},
		{core.ScanningConfig{ScanType: ScanTypeBasic, Rules: []core.ScanningRule{rule(FrequencyScanOnPush), rule(FrequencyScanOnPush)}}, "more than one rule"},
		{core.ScanningConfig{ScanType: "DEEP"}, "scanType must be BASIC or ENHANCED"},
	} {
		err := ValidateConfig(c.cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v refused: %v", c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestScanConfigFirstMatchingRuleWins(t *testing.T) {
	s, err := ParseSelection([]byte(`
rules:
  - registry: "222222222222"
    repositories: "*"
    scanners: [b]
  - repositories: "team-a/*"
    scanners: [a, b]
  - repositories: "team-*"
    scanners: [a]
`), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	other := core.RegistryID{Account: "222222222222", Region: "us-east-1"}
	for _, c := range []struct {
		reg  core.RegistryID
		repo string
		want []string
		ok   bool
	}{
		{reg, "team-a/api/v2", []string{"a", "b"}, true},
		{reg, "team-b/api", []string{"a"}, true},
		{reg, "web", nil, false},
		{other, "team-a/api", []string{"b"}, true},
	} {
		got, ok := s.For(c.reg, c.repo)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("%s %s: %v %v, want %v %v", c.reg, c.repo, got, ok, c.want, c.ok)
		}
	}
}

func TestScanConfigRefusesWhatItCannotUse(t *testing.T) {
	for doc, want := range map[string]string{
		"rules:\n  - scanners: [a]\n":                                                  "repositories is missing",
		"rules:\n  - repositories: x\n":                                                "scanners is empty",
		"rules:\n  - repositories: x\n    scanners: [nope]\n":                          `no scanner named "nope" is loaded`,
		"rules:\n  - repositories: x\n    scanner: [a]\n":                              "unknown field",
		"rules:\n  - registry: 000000000001\n    repositories: x\n    scanners: [a]\n": "not a 12-digit account id",
		"rules: [": "",
	} {
		_, err := ParseSelection([]byte(doc), []string{"a"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", doc, err, want)
		}
	}
}
