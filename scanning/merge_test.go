package scanning

import "testing"

func TestMergedDescriptionsKeepECRsWordsOnceAndAddTheScannersOwn(t *testing.T) {
	complete := func(name, desc string) scannerResult {
		return scannerResult{scanner: name, status: StatusComplete, description: desc}
	}
	unsupported := func(name, desc string) scannerResult {
		return scannerResult{scanner: name, status: StatusUnsupported, description: desc}
	}
	for _, c := range []struct {
		results []scannerResult
		status  string
		want    string
	}{
		{[]scannerResult{complete("ospkg", "The scan was completed successfully.")}, StatusComplete, "The scan was completed successfully."},
		{[]scannerResult{complete("ospkg", "")}, StatusComplete, "The scan was completed successfully."},
		{[]scannerResult{complete("ospkg", "No advisory database is configured; 12 packages were read but not checked.")}, StatusComplete,
			"The scan was completed successfully. No advisory database is configured; 12 packages were read but not checked."},
		{[]scannerResult{unsupported("ospkg", "UnsupportedImageError: The operating system and/or package manager are not supported.")}, StatusUnsupported,
			"UnsupportedImageError: The operating system and/or package manager are not supported."},
		{[]scannerResult{unsupported("a", "The operating system and/or package manager are not supported."), unsupported("b", "")}, StatusUnsupported,
			"UnsupportedImageError: The operating system and/or package manager are not supported."},
		{[]scannerResult{unsupported("a", "no script in this image"), complete("b", "7 packages read.")}, StatusComplete,
			"The scan was completed successfully. a: no script in this image b: 7 packages read."},
		{[]scannerResult{complete("a", "The scan was completed successfully."), unsupported("b", "UnsupportedImageError: The operating system and/or package manager are not supported.")}, StatusComplete,
			"The scan was completed successfully."},
	} {
		o := merge(c.results)
		if o.status != c.status || o.description != c.want {
			t.Errorf("%+v:\n got %s %q\nwant %s %q", c.results, o.status, o.description, c.status, c.want)
		}
	}
}
