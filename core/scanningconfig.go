package core

// ScanningConfig is a registry's scanning configuration
// (PutRegistryScanningConfiguration), stored with its settings. The scanning
// package validates and interprets it; core only keeps it.
type ScanningConfig struct {
	// ScanType is BASIC or ENHANCED.
	ScanType string `json:"scanType"`
	// Rules say which repositories are scanned how often.
	Rules []ScanningRule `json:"rules,omitempty"`
}

// ScanningRule applies a scan frequency (SCAN_ON_PUSH, CONTINUOUS_SCAN) to
// the repositories one of its WILDCARD filters matches.
type ScanningRule struct {
	ScanFrequency string   `json:"scanFrequency"`
	Filters       []string `json:"filters,omitempty"`
}
