// Package osv reads OSV records (ossf.github.io/osv-schema) and decides which affect a
// package version, with the version order of the package's distribution.
package osv

import (
	"encoding/json"
	"slices"
	"strings"
)

// Record is the part of an OSV record a package scanner uses.
type Record struct {
	ID         string      `json:"id"`
	Modified   string      `json:"modified"`
	Withdrawn  string      `json:"withdrawn"`
	Aliases    []string    `json:"aliases"`
	Upstream   []string    `json:"upstream"`
	Summary    string      `json:"summary"`
	Details    string      `json:"details"`
	Severity   []Severity  `json:"severity"`
	Affected   []Affected  `json:"affected"`
	References []Reference `json:"references"`
	// DatabaseSpecific is free-form; only a textual "severity" in it is read.
	DatabaseSpecific Specific `json:"database_specific"`
}

// Severity is a scored severity: type CVSS_V2, CVSS_V3, CVSS_V4 (a vector) or Ubuntu (a word).
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected is one affected package with the versions of it that are affected.
type Affected struct {
	Package           Package    `json:"package"`
	Severity          []Severity `json:"severity"`
	Ranges            []Range    `json:"ranges"`
	Versions          []string   `json:"versions"`
	EcosystemSpecific Specific   `json:"ecosystem_specific"`
	DatabaseSpecific  Specific   `json:"database_specific"`
}

// Package names a package within an ecosystem.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
}

// Range is a list of events over versions.
type Range struct {
	Type   string  `json:"type"`
	Events []Event `json:"events"`
}

// Event is one event of a range; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a link about the vulnerability.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Specific is a free-form object of which only textual severity fields are kept: a
// database's "severity" (GitHub's "HIGH", Alpine's or others') and Debian's "urgency".
type Specific struct {
	Severity string
	Urgency  string
}

// UnmarshalJSON keeps the string fields it knows and ignores the rest, whatever their shape,
// so that one database's choice of layout never makes a record unreadable.
func (s *Specific) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil // not an object: nothing to keep
	}
	_ = json.Unmarshal(m["severity"], &s.Severity)
	_ = json.Unmarshal(m["urgency"], &s.Urgency)
	return nil
}

// Compare orders two versions of an ecosystem: -1, 0 or 1.
type Compare func(a, b string) int

// Affects returns the affected entry of r naming the package (ecosystem and name exactly as
// given) whose versions include version, following the schema's evaluation (IsVulnerable):
// version listed in versions[], or inside one of the ECOSYSTEM ranges. A withdrawn record
// affects nothing.
func (r *Record) Affects(ecosystem, name, version string, cmp Compare) (*Affected, bool) {
	if r.Withdrawn != "" {
		return nil, false
	}
	for i := range r.Affected {
		a := &r.Affected[i]
		if a.Package.Ecosystem != ecosystem || a.Package.Name != name {
			continue
		}
		if a.Includes(version, cmp) {
			return a, true
		}
	}
	return nil, false
}

// Includes reports whether version is one of the affected versions.
func (a *Affected) Includes(version string, cmp Compare) bool {
	// The guards spare the sandbox's check at a loop's head when there is nothing to loop
	// over (Debian's records list no versions).
	if len(a.Versions) > 0 {
		for _, v := range a.Versions {
			if cmp(v, version) == 0 {
				return true
			}
		}
	}
	for _, r := range a.Ranges {
		// SEMVER and GIT ranges do not describe distribution package versions.
		if r.Type == "ECOSYSTEM" && r.includes(version, cmp) {
			return true
		}
	}
	return false
}

// includes walks the range's events in version order: introduced opens an affected
// interval, fixed closes it at that version, last_affected just after it; limit events bound
// the whole range from above.
func (r Range) includes(v string, cmp Compare) bool {
	hasLimit, belowLimit := false, false
	for _, e := range r.Events {
		if e.Limit != "" {
			hasLimit = true
			if e.Limit == "*" || cmp(v, e.Limit) < 0 {
				belowLimit = true
			}
		}
	}
	if hasLimit && !belowLimit {
		return false
	}
	events := r.Events
	// Ranges are almost always written in order; sort a copy only when this one is not.
	for i := 1; i < len(events); i++ {
		if eventOrder(events[i-1], events[i], cmp) > 0 {
			events = slices.Clone(events)
			slices.SortStableFunc(events, func(x, y Event) int { return eventOrder(x, y, cmp) })
			break
		}
	}
	vulnerable := false
	for _, e := range events {
		switch {
		case e.Introduced != "":
			if e.Introduced == "0" || cmp(v, e.Introduced) >= 0 {
				vulnerable = true
			}
		case e.Fixed != "":
			if cmp(v, e.Fixed) >= 0 {
				vulnerable = false
			}
		case e.LastAffected != "":
			if cmp(v, e.LastAffected) > 0 {
				vulnerable = false
			}
		}
	}
	return vulnerable
}

func eventVersion(e Event) string {
	switch {
	case e.Introduced != "":
		return e.Introduced
	case e.Fixed != "":
		return e.Fixed
	case e.LastAffected != "":
		return e.LastAffected
	}
	return e.Limit
}

// compareEventVersions orders events by version, introduced "0" (every version) first.
func compareEventVersions(x, y Event, cmp Compare) int {
	xz, yz := x.Introduced == "0", y.Introduced == "0"
	switch {
	case xz && yz:
		return 0
	case xz:
		return -1
	case yz:
		return 1
	}
	return cmp(eventVersion(x), eventVersion(y))
}

// eventOrder orders events by version; on a tie an introduced comes first, so that the fixed
// or last_affected at the same version has the last word.
func eventOrder(x, y Event, cmp Compare) int {
	if c := compareEventVersions(x, y, cmp); c != 0 {
		return c
	}
	return boolOrder(x.Introduced == "") - boolOrder(y.Introduced == "")
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CVEs returns the CVE ids the record names: its own id if a CVE, then its aliases and
// upstream ids, without repeats.
func (r *Record) CVEs() []string {
	var ids []string
	for _, id := range append(append([]string{r.ID}, r.Aliases...), r.Upstream...) {
		if strings.HasPrefix(id, "CVE-") && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}
