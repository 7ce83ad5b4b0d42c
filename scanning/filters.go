package scanning

import (
	"strings"

	"github.com/berth-dev/berth/core"
)

// Scan types and frequencies, as ECR names them.
const (
	ScanTypeBasic    = "BASIC"
	ScanTypeEnhanced = "ENHANCED"

	FrequencyScanOnPush = "SCAN_ON_PUSH"
	FrequencyContinuous = "CONTINUOUS_SCAN"
	FrequencyManual     = "MANUAL"
)

// FilterMatches applies an ECR scanning repository filter of type WILDCARD.
// The user guide ("Filters to choose which repositories are scanned in Amazon
// ECR") says a filter without a wildcard matches every repository name that
// contains it (prod matches repo-prod-repo), and a filter with '*' matches a
// name where each '*' stands for zero or more characters (*prod matches
// repo-prod, not prod-repo; prod*repo matches prodrepo, not repo-prod-repo).
func FilterMatches(filter, repo string) bool {
	if !strings.Contains(filter, "*") {
		return strings.Contains(repo, filter)
	}
	return core.WildcardMatch(filter, repo)
}

// RepositoryConfig is how a repository is scanned under its registry's
// configuration: BatchGetRepositoryScanningConfiguration's answer.
type RepositoryConfig struct {
	ScanOnPush bool
	// Frequency is SCAN_ON_PUSH, CONTINUOUS_SCAN or MANUAL.
	Frequency string
	// AppliedFilters are the filters of the registry's rule that matched.
	AppliedFilters []string
	// ScanType is the registry's: BASIC or ENHANCED.
	ScanType string
}

// Applied decides how repo is scanned. Without registry rules, a BASIC
// registry follows each repository's own scanOnPush (the setting
// PutImageScanningConfiguration, which ECR deprecates in favour of registry
// rules, sets). Once the registry has rules they decide alone: the user guide
// ("Filters to choose which repositories are scanned") says repositories that
// match no basic scan-on-push filter are set to the manual frequency, and that
// with enhanced scanning repositories matching no filter are not scanned, a
// continuous-scan filter winning over a scan-on-push one.
func Applied(cfg *core.ScanningConfig, repo core.Repository) RepositoryConfig {
	scanType := ScanTypeBasic
	if cfg != nil && cfg.ScanType != "" {
		scanType = cfg.ScanType
	}
	out := RepositoryConfig{Frequency: FrequencyManual, ScanType: scanType}
	if cfg == nil || len(cfg.Rules) == 0 {
		if scanType == ScanTypeBasic && repo.ScanOnPush {
			out.ScanOnPush, out.Frequency = true, FrequencyScanOnPush
		}
		return out
	}
	for _, rule := range cfg.Rules {
		var matched []string
		for _, f := range rule.Filters {
			if FilterMatches(f, repo.Name) {
				matched = append(matched, f)
			}
		}
		if len(matched) == 0 || out.Frequency == FrequencyContinuous {
			continue
		}
		out.Frequency, out.AppliedFilters = rule.ScanFrequency, matched
	}
	out.ScanOnPush = out.Frequency != FrequencyManual
	return out
}

// ValidateConfig checks a registry scanning configuration before it is
// stored. The API model allows at most two rules and checks each filter's
// pattern; what it cannot say is which frequencies a scan type takes: the
// model's RegistryScanningRule documents SCAN_ON_PUSH for BASIC and
// SCAN_ON_PUSH or CONTINUOUS_SCAN for ENHANCED (MANUAL is what a repository
// matching no rule gets, not a rule's).
func ValidateConfig(cfg core.ScanningConfig) error {
	if cfg.ScanType != ScanTypeBasic && cfg.ScanType != ScanTypeEnhanced {
		return &ConfigError{Reason: "scanType must be BASIC or ENHANCED, got '" + cfg.ScanType + "'"}
	}
	seen := map[string]bool{}
	for _, rule := range cfg.Rules {
		switch {
		case rule.ScanFrequency == FrequencyScanOnPush:
		case rule.ScanFrequency == FrequencyContinuous && cfg.ScanType == ScanTypeEnhanced:
		default:
			return &ConfigError{Reason: "scan frequency " + rule.ScanFrequency + " is not supported with scan type " + cfg.ScanType +
				" (BASIC supports SCAN_ON_PUSH; ENHANCED supports SCAN_ON_PUSH and CONTINUOUS_SCAN)"}
		}
		if seen[rule.ScanFrequency] {
			return &ConfigError{Reason: "more than one rule has scan frequency " + rule.ScanFrequency + "; put all its repository filters in one rule"}
		}
		seen[rule.ScanFrequency] = true
	}
	return nil
}

// ConfigError is a registry scanning configuration that cannot be stored.
type ConfigError struct{ Reason string }

func (e *ConfigError) Error() string { return e.Reason }
