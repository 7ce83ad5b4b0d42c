package scanning

import (
	"encoding/json"
	"time"
)

// Scan statuses, as ECR names them.
const (
	StatusInProgress  = "IN_PROGRESS"
	StatusComplete    = "COMPLETE"
	StatusFailed      = "FAILED"
	StatusUnsupported = "UNSUPPORTED_IMAGE"
	// StatusActive is an ENHANCED image under continuous scanning.
	StatusActive = "ACTIVE"
)

// Severities of a finding, ECR's FindingSeverity.
var Severities = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"}

// Descriptions of a status, in ECR's words. The DescribeImageScanFindings
// examples of the API reference and the AWS CLI show "The scan was completed
// successfully."; scans of an unsupported OS report "UnsupportedImageError:
// The operating system and/or package manager are not supported."
// (aws/containers-roadmap#2644, aws-observability/aws-otel-collector#2193).
const (
	describeComplete    = "The scan was completed successfully."
	unsupportedPrefix   = "UnsupportedImageError: "
	describeUnsupported = "The operating system and/or package manager are not supported."
	describeContinuous  = "Continuous scan is selected for image."
	describeInterrupted = "The scan was interrupted: berth stopped before it finished. Start the scan again."
)

// Image data names: the summary is read for every image DescribeImages
// lists, so the findings, which may be many, live apart from it, each scan's
// under a name of its own that its summary points at. A scan's findings are
// written first and then made current in the summary's transaction, so a
// reader never pairs a summary with another scan's findings.
const summaryData = "scan"

func findingsData(scanID string) string { return "scan-findings/" + scanID }

// summary is what berth keeps about an image's latest scan.
type summary struct {
	// ID names the scan; a scan's outcome is kept only while it is the
	// image's latest, so a rescan started meanwhile wins.
	ID string `json:"id"`
	// Epoch names the berth process that ran it: a scan still IN_PROGRESS
	// under another epoch was interrupted by a stop or a crash.
	Epoch       string `json:"epoch"`
	Status      string `json:"status"`
	Description string `json:"description,omitempty"`
	ScanType    string `json:"scanType"`
	// Continuous: the repository was under a CONTINUOUS_SCAN rule.
	Continuous bool `json:"continuous,omitempty"`
	// StartedAt is when the scan started: the 24-hour quota counts from it.
	StartedAt       time.Time      `json:"startedAt"`
	CompletedAt     time.Time      `json:"completedAt,omitzero"`
	SourceUpdatedAt time.Time      `json:"sourceUpdatedAt,omitzero"`
	Counts          map[string]int `json:"counts,omitempty"`
	Scanners        []string       `json:"scanners,omitempty"`
	// FindingsID names the findings of the last scan that completed; a
	// rescan shows none until it completes, but keeps them meanwhile to
	// carry their first observations over.
	FindingsID string `json:"findingsId,omitempty"`
}

// findingsRecord is what one scan found.
type findingsRecord struct {
	Platform Platform  `json:"platform"`
	Findings []Finding `json:"findings"`
}

// Platform is an image's, from its config.
type Platform struct {
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	Variant      string `json:"variant,omitempty"`
}

// Finding is one vulnerability a scanner reported, in ECR's basic shape.
type Finding struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	URI         string      `json:"uri,omitempty"`
	Severity    string      `json:"severity"`
	Attributes  []Attribute `json:"attributes,omitempty"`
	// Scanner is the plugin that reported it.
	Scanner string `json:"scanner"`
	// FirstObservedAt is when a scan of this image first reported it
	// (enhanced findings' firstObservedAt).
	FirstObservedAt time.Time `json:"firstObservedAt"`
}

// Attribute is a finding's key and value (package_name, package_version,
// CVSS3_SCORE…).
type Attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Attr returns the value of the attribute named key, or "".
func (f *Finding) Attr(key string) string {
	for _, a := range f.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// key identifies a finding for deduplication: its name and package.
func (f *Finding) key() string { return f.Name + "\x00" + f.Attr("package_name") }

func decode[T any](b []byte) (*T, error) {
	if b == nil {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}
