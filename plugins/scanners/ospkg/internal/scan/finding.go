package scan

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/berth-dev/berth/plugins/scanners/ospkg/internal/cvss"
	"github.com/berth-dev/berth/plugins/scanners/ospkg/internal/osv"
)

// ECR's finding severities.
const (
	SeverityCritical      = "CRITICAL"
	SeverityHigh          = "HIGH"
	SeverityMedium        = "MEDIUM"
	SeverityLow           = "LOW"
	SeverityInformational = "INFORMATIONAL"
	SeverityUndefined     = "UNDEFINED"
)

var severityRank = map[string]int{
	SeverityUndefined: 0, SeverityInformational: 1, SeverityLow: 2, SeverityMedium: 3, SeverityHigh: 4, SeverityCritical: 5,
}

// MaxDescription bounds a finding's description, in characters: advisories' details run to
// pages, a finding only needs to say what is wrong.
const MaxDescription = 1000

// evidence ranks what a severity was derived from, so that of two advisories about the same
// CVE the better-founded one describes the finding.
type evidence int

const (
	evidenceNone evidence = iota
	evidenceCVSS2
	evidenceText
	evidenceCVSS3
)

type candidate struct {
	finding  Finding
	evidence evidence
	id       string // the record's own id, for a deterministic choice among equals
	pkg      string
	version  string
}

func (c candidate) better(than candidate) bool {
	if c.evidence != than.evidence {
		return c.evidence > than.evidence
	}
	if r, s := severityRank[c.finding.Severity], severityRank[than.finding.Severity]; r != s {
		return r > s
	}
	return c.id < than.id
}

func (s *Scanner) candidate(rec *osv.Record, a *osv.Affected, pkg, version string) candidate {
	severity, ev, v3, v2 := s.severity(rec, a)
	attrs := []Attribute{{"package_name", pkg}, {"package_version", version}}
	if v3 != nil {
		attrs = append(attrs, Attribute{"CVSS3_SCORE", v3.String()}, Attribute{"CVSS3_VECTOR", v3.Vector})
	}
	if v2 != nil {
		attrs = append(attrs, Attribute{"CVSS2_SCORE", v2.String()}, Attribute{"CVSS2_VECTOR", v2.Vector})
	}
	return candidate{
		finding: Finding{
			Name:        FindingName(rec),
			Description: description(rec),
			URI:         uri(rec),
			Severity:    severity,
			Attributes:  attrs,
		},
		evidence: ev,
		id:       rec.ID,
		pkg:      pkg,
		version:  version,
	}
}

// distroCVE matches the ids distributions give their per-CVE records: DEBIAN-CVE-…,
// UBUNTU-CVE-…, ALPINE-CVE-….
var distroCVE = regexp.MustCompile(`^[A-Z][A-Z0-9]*-(CVE-[0-9]{4}-[0-9]{4,})$`)

// FindingName names a finding as ECR does, by CVE when there is one: the CVE a distribution's
// record wraps, the record's own CVE id, or the one CVE an advisory (a DSA, a USN) is an
// alias of; otherwise the advisory's id.
func FindingName(rec *osv.Record) string {
	if m := distroCVE.FindStringSubmatch(rec.ID); m != nil {
		return m[1]
	}
	if strings.HasPrefix(rec.ID, "CVE-") {
		return rec.ID
	}
	if cves := rec.CVEs(); len(cves) == 1 {
		return cves[0]
	}
	return rec.ID
}

func description(rec *osv.Record) string {
	d := strings.TrimSpace(rec.Summary)
	if d == "" {
		d = strings.TrimSpace(rec.Details)
	}
	if utf8.RuneCountInString(d) <= MaxDescription {
		return d
	}
	runes := []rune(d)
	return strings.TrimSpace(string(runes[:MaxDescription-1])) + "…"
}

// uri is the advisory's page: its first ADVISORY reference, else its first WEB one, else
// its page on osv.dev.
func uri(rec *osv.Record) string {
	for _, kind := range []string{"ADVISORY", "WEB"} {
		for _, r := range rec.References {
			if r.Type == kind && r.URL != "" {
				return r.URL
			}
		}
	}
	return "https://osv.dev/vulnerability/" + rec.ID
}

// severity derives a finding's severity, best evidence first: a CVSS v3 vector (the affected
// package's own, else the record's) scored here; else a textual severity (an "Ubuntu" priority,
// a database's "severity", Debian's "urgency"); else a CVSS v2 vector; else UNDEFINED. The
// vectors found are returned for the finding's attributes.
func (s *Scanner) severity(rec *osv.Record, a *osv.Affected) (string, evidence, *cvss.Score, *cvss.Score) {
	all := append(append([]osv.Severity{}, a.Severity...), rec.Severity...)
	var v3, v2 *cvss.Score
	for _, sev := range all {
		switch sev.Type {
		case "CVSS_V3":
			if v3 != nil {
				continue
			}
			sc, err := cvss.V3(sev.Score)
			if err != nil {
				s.logf("%s: %v", rec.ID, err)
				continue
			}
			v3 = &sc
		case "CVSS_V2":
			if v2 != nil {
				continue
			}
			sc, err := cvss.V2(sev.Score)
			if err != nil {
				s.logf("%s: %v", rec.ID, err)
				continue
			}
			v2 = &sc
		}
	}
	if v3 != nil {
		return v3Severity(v3.Base), evidenceCVSS3, v3, v2
	}
	var words []string
	for _, sev := range all {
		if sev.Type == "Ubuntu" {
			words = append(words, sev.Score)
		}
	}
	words = append(words, rec.DatabaseSpecific.Severity, a.DatabaseSpecific.Severity,
		a.EcosystemSpecific.Severity, a.EcosystemSpecific.Urgency)
	for _, w := range words {
		if sev, ok := textSeverity[strings.ToLower(strings.TrimSpace(w))]; ok {
			return sev, evidenceText, nil, v2
		}
	}
	if v2 != nil {
		return v2Severity(v2.Base), evidenceCVSS2, nil, v2
	}
	return SeverityUndefined, evidenceNone, nil, nil
}

// v3Severity bands a CVSS v3 base score as NVD does, a zero score being informational.
func v3Severity(score float64) string {
	switch {
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score >= 0.1:
		return SeverityLow
	}
	return SeverityInformational
}

// v2Severity bands a CVSS v2 base score as NVD does (v2 has no critical band).
func v2Severity(score float64) string {
	switch {
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score >= 0.1:
		return SeverityLow
	}
	return SeverityInformational
}

// textSeverity maps the words distributions and databases use: Ubuntu's priorities
// (negligible … critical), GitHub's (moderate), Debian's urgencies (unimportant … high).
// Words that say nothing ("not yet assigned", "unknown") are not here.
var textSeverity = map[string]string{
	"negligible":    SeverityInformational,
	"unimportant":   SeverityInformational,
	"informational": SeverityInformational,
	"low":           SeverityLow,
	"medium":        SeverityMedium,
	"moderate":      SeverityMedium,
	"high":          SeverityHigh,
	"important":     SeverityHigh,
	"critical":      SeverityCritical,
}
