package scanning

import (
	"fmt"
	"os"
	"slices"

	"github.com/berth-dev/berth/core"
	"github.com/goccy/go-yaml"
)

// Selection says which scanners scan which repositories: berth's own
// --scan-config file, not part of ECR. Without a rule that matches, an image
// is scanned by every loaded scanner.
//
//	rules:
//	  - repositories: "team-a/*"     # '*' stands for any characters, '/' included
//	    scanners: [ospkg, banned-packages]
//	  - registry: "222222222222"     # an account (quoted: YAML reads 0-led digits as a number)
//	    repositories: "*"
//	    scanners: [banned-packages]
//
// The first rule whose registry (if given) and repositories pattern match
// wins.
type Selection struct {
	Rules []SelectionRule `yaml:"rules"`
}

// SelectionRule is one rule of a Selection.
type SelectionRule struct {
	// Registry is an account id; empty matches every account.
	Registry string `yaml:"registry"`
	// Repositories is a pattern over the whole repository name.
	Repositories string   `yaml:"repositories"`
	Scanners     []string `yaml:"scanners"`
}

// LoadSelection reads a --scan-config file; known are the names of the
// scanners loaded, which its rules may name.
func LoadSelection(file string, known []string) (Selection, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return Selection{}, err
	}
	s, err := ParseSelection(data, known)
	if err != nil {
		return Selection{}, fmt.Errorf("%s: %w", file, err)
	}
	return s, nil
}

// ParseSelection parses and checks a --scan-config document.
func ParseSelection(data []byte, known []string) (Selection, error) {
	var s Selection
	if err := yaml.UnmarshalWithOptions(data, &s, yaml.Strict()); err != nil {
		return Selection{}, fmt.Errorf("%s", yaml.FormatError(err, false, true))
	}
	for i, r := range s.Rules {
		switch {
		case r.Repositories == "":
			return Selection{}, fmt.Errorf("rule %d: repositories is missing (\"*\" matches every repository)", i+1)
		case r.Registry != "" && !core.ValidAccountID(r.Registry):
			return Selection{}, fmt.Errorf("rule %d: registry %q is not a 12-digit account id (quote it: YAML reads digits as a number)", i+1, r.Registry)
		case len(r.Scanners) == 0:
			return Selection{}, fmt.Errorf("rule %d: scanners is empty; name at least one of %v", i+1, known)
		}
		for _, name := range r.Scanners {
			if !slices.Contains(known, name) {
				return Selection{}, fmt.Errorf("rule %d: no scanner named %q is loaded (loaded: %v)", i+1, name, known)
			}
		}
	}
	return s, nil
}

// For returns the scanners the first matching rule names; ok is false when
// no rule matches.
func (s Selection) For(reg core.RegistryID, repo string) (names []string, ok bool) {
	for _, r := range s.Rules {
		if (r.Registry == "" || r.Registry == reg.Account) && core.WildcardMatch(r.Repositories, repo) {
			return r.Scanners, true
		}
	}
	return nil, false
}
