package scan

import (
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
	rank     int // severityRank of the finding's severity
	evidence evidence
	id       string // the record's own id, for a deterministic choice among equals
	pkg      string
	version  string
}

func (c candidate) better(than candidate) bool {
	if c.evidence != than.evidence {
		return c.evidence > than.evidence
	}
	if c.rank != than.rank {
		return c.rank > than.rank
	}
	return c.id < than.id
}

func (s *Scanner) candidate(rec *osv.Record, a *osv.Affected, pkg, version string) candidate {
	severity, ev, v3, v2 := s.severity(rec, a)
	attrs := make([]Attribute, 2, 6)
	attrs[0], attrs[1] = Attribute{"package_name", pkg}, Attribute{"package_version", version}
	if v3 != nil {
		attrs = append(attrs, Attribute{"CVSS3_SCORE", v3.text}, Attribute{"CVSS3_VECTOR", v3.Vector})
	}
	if v2 != nil {
		attrs = append(attrs, Attribute{"CVSS2_SCORE", v2.text}, Attribute{"CVSS2_VECTOR", v2.Vector})
	}
	return candidate{
		finding: Finding{
			Name:        FindingName(rec),
			Description: description(rec),
			URI:         uri(rec),
			Severity:    severity,
			Attributes:  attrs,
		},
		rank:     severityRank[severity],
		evidence: ev,
		id:       rec.ID,
		pkg:      pkg,
		version:  version,
	}
}

// FindingName names a finding as ECR does, by CVE when there is one: the CVE a distribution's
// record wraps (DEBIAN-CVE-…, UBUNTU-CVE-…, ALPINE-CVE-…), the record's own CVE id, or the one
// CVE an advisory (a DSA, a USN) is an alias of; otherwise the advisory's id.
func FindingName(rec *osv.Record) string {
	if isCVE(rec.ID) {
		return rec.ID
	}
	if i := strings.Index(rec.ID, "-CVE-"); i > 0 && isUpperAlnum(rec.ID[:i]) && isCVE(rec.ID[i+1:]) {
		return rec.ID[i+1:]
	}
	if cves := rec.CVEs(); len(cves) == 1 {
		return cves[0]
	}
	return rec.ID
}

// isCVE reports whether id is a CVE id: CVE-YYYY-NNNN…
func isCVE(id string) bool {
	rest, ok := strings.CutPrefix(id, "CVE-")
	if !ok || len(rest) < 9 || rest[4] != '-' {
		return false
	}
	return isDigits(rest[:4]) && isDigits(rest[5:])
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isUpperAlnum reports whether s is a distribution's prefix: an upper-case letter, then
// upper-case letters and digits.
func isUpperAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

func description(rec *osv.Record) string {
	d := strings.TrimSpace(rec.Summary)
	if d == "" {
		d = strings.TrimSpace(rec.Details)
	}
	// Counting characters costs a loop over the text; most are short enough in bytes.
	if len(d) <= MaxDescription || utf8.RuneCountInString(d) <= MaxDescription {
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
func (s *Scanner) severity(rec *osv.Record, a *osv.Affected) (string, evidence, *score, *score) {
	var v3, v2 *score
	for _, sev := range concat(a.Severity, rec.Severity) {
		switch sev.Type {
		case "CVSS_V3":
			if v3 == nil {
				v3 = s.score(rec.ID, sev.Score, cvss.V3)
			}
		case "CVSS_V2":
			if v2 == nil {
				v2 = s.score(rec.ID, sev.Score, cvss.V2)
			}
		}
	}
	if v3 != nil {
		return v3Severity(v3.Base), evidenceCVSS3, v3, v2
	}
	var words []string
	for _, sev := range concat(a.Severity, rec.Severity) {
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

// concat is a and then b, without copying when one is empty (the common case).
func concat(a, b []osv.Severity) []osv.Severity {
	switch {
	case len(a) == 0:
		return b
	case len(b) == 0:
		return a
	}
	return append(append(make([]osv.Severity, 0, len(a)+len(b)), a...), b...)
}

// score is a parsed vector and its base score as text.
type score struct {
	cvss.Score
	text string
}

// score parses a vector once per scan: advisories share a few hundred distinct vectors.
func (s *Scanner) score(id, vector string, parse func(string) (cvss.Score, error)) *score {
	if sc, ok := s.scores[vector]; ok {
		return sc
	}
	var sc *score
	if parsed, err := parse(vector); err != nil {
		s.logf("%s: %v", id, err)
	} else {
		sc = &score{Score: parsed, text: parsed.String()}
	}
	if s.scores == nil {
		s.scores = map[string]*score{}
	}
	s.scores[vector] = sc
	return sc
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
