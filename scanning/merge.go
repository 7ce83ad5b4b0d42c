package scanning

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// scanInput is a scanner's request input (plugins/ABI.md, kind "scanner").
type scanInput struct {
	Image  imageInput `json:"image"`
	Rootfs string     `json:"rootfs"`
	DB     string     `json:"db"`
}

type imageInput struct {
	RegistryID string   `json:"registryId"`
	Repository string   `json:"repository"`
	Digest     string   `json:"digest"`
	MediaType  string   `json:"mediaType"`
	Platform   Platform `json:"platform"`
}

// scanOutput is a scanner's response output.
type scanOutput struct {
	Status      string `json:"status"`
	Description string `json:"description"`
	OS          *struct {
		ID        string `json:"id"`
		VersionID string `json:"versionId"`
		Ecosystem string `json:"ecosystem"`
	} `json:"os"`
	Packages int `json:"packages"`
	Findings []struct {
		Name        string      `json:"name"`
		Description string      `json:"description"`
		URI         string      `json:"uri"`
		Severity    string      `json:"severity"`
		Attributes  []Attribute `json:"attributes"`
	} `json:"findings"`
}

// maxAttributes is the API model's bound on a finding's attributes.
const maxAttributes = 50

// scannerResult is one scanner's checked output.
type scannerResult struct {
	scanner     string
	status      string
	description string
	findings    []Finding
}

// parseOutput checks a scanner's output; an error is the scanner's fault and
// fails the scan with its text.
func parseOutput(scanner string, raw json.RawMessage) (scannerResult, error) {
	if len(raw) == 0 {
		return scannerResult{}, fmt.Errorf("scanner %s returned no output", scanner)
	}
	var out scanOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		return scannerResult{}, fmt.Errorf("scanner %s returned output that is not a scan result: %v", scanner, err)
	}
	r := scannerResult{scanner: scanner, status: out.Status, description: strings.TrimSpace(out.Description)}
	switch out.Status {
	case StatusComplete, StatusUnsupported:
	default:
		return scannerResult{}, fmt.Errorf("scanner %s returned status %q; a scanner returns COMPLETE or UNSUPPORTED_IMAGE", scanner, out.Status)
	}
	if out.Status == StatusUnsupported && len(out.Findings) > 0 {
		return scannerResult{}, fmt.Errorf("scanner %s returned findings for an image it does not support", scanner)
	}
	for i, f := range out.Findings {
		if f.Name == "" {
			return scannerResult{}, fmt.Errorf("scanner %s returned finding %d without a name", scanner, i+1)
		}
		if !slices.Contains(Severities, f.Severity) {
			return scannerResult{}, fmt.Errorf("scanner %s returned severity %q for %s; severities are %s", scanner, f.Severity, f.Name, strings.Join(Severities, ", "))
		}
		if len(f.Attributes) > maxAttributes {
			return scannerResult{}, fmt.Errorf("scanner %s returned %d attributes for %s; at most %d are allowed", scanner, len(f.Attributes), f.Name, maxAttributes)
		}
		for _, a := range f.Attributes {
			if a.Key == "" {
				return scannerResult{}, fmt.Errorf("scanner %s returned an attribute without a key for %s", scanner, f.Name)
			}
		}
		r.findings = append(r.findings, Finding{Name: f.Name, Description: f.Description, URI: f.URI, Severity: f.Severity,
			Attributes: slices.Clone(f.Attributes), Scanner: scanner})
	}
	return r, nil
}

// merge combines what several scanners found: the scan is COMPLETE if one
// of them read the image, UNSUPPORTED_IMAGE if none could; findings with
// the same name and package are reported once (the first scanner's, unless
// only a later one knew the severity).
func merge(results []scannerResult) outcome {
	o := outcome{status: StatusUnsupported}
	var notes []string
	for _, r := range results {
		o.scanners = append(o.scanners, r.scanner)
		if r.status == StatusComplete {
			o.status = StatusComplete
		}
		// ECR's own words are the status description's already; a scanner's
		// other words are added to them.
		note := strings.TrimSpace(strings.TrimPrefix(r.description, unsupportedPrefix))
		if note != "" && note != describeComplete && note != describeUnsupported {
			if len(results) > 1 {
				note = r.scanner + ": " + note
			}
			notes = append(notes, note)
		}
	}
	if o.status == StatusUnsupported {
		o.description = unsupportedPrefix + describeUnsupported
		if len(notes) > 0 {
			o.description = unsupportedPrefix + strings.Join(notes, " ")
		}
		return o
	}
	o.description = describeComplete
	if len(notes) > 0 {
		o.description += " " + strings.Join(notes, " ")
	}
	seen := map[string]int{}
	for _, r := range results {
		for _, f := range r.findings {
			i, dup := seen[f.key()]
			switch {
			case !dup:
				seen[f.key()] = len(o.findings)
				o.findings = append(o.findings, f)
			case o.findings[i].Severity == "UNDEFINED" && f.Severity != "UNDEFINED":
				o.findings[i] = f
			}
		}
	}
	sortFindings(o.findings)
	return o
}

// sortFindings orders findings most severe first, then by name and package,
// so that pages of them are stable.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(slices.Index(Severities, a.Severity), slices.Index(Severities, b.Severity)),
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.Attr("package_name"), b.Attr("package_name")),
			strings.Compare(a.Scanner, b.Scanner))
	})
}
