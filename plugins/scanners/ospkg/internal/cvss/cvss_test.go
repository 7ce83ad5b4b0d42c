package cvss

import (
	"strings"
	"testing"
)

// Published base scores (NVD) of real vectors, and the specification's edge cases.
func TestV3BaseScoresMatchPublishedScores(t *testing.T) {
	for _, tc := range []struct {
		vector string
		want   string
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "9.8"}, // CVE-2022-37434, zlib
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", "8.1"}, // CVE-2024-6387, regreSSHion
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "7.8"}, // CVE-2023-4911, Looney Tunables
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "7.5"}, // CVE-2022-3996, openssl
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", "5.3"}, // CVE-2023-5678, openssl
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "10.0"},
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", "9.9"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "6.1"},
		{"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", "7.2"},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", "3.1"}, // CVE-2024-39894
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:L", "3.7"}, // CVE-2023-6918
		{"CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:N", "5.4"}, // CVE-2026-4438
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", "1.6"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "0.0"},               // no impact, no score
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", "5.3"},               // CVE-2016-10167, a 3.0 vector
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C", "9.8"}, // temporal metrics ignored
		{" CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MAV:L/CR:H ", "9.8"},  // environmental too
	} {
		s, err := V3(tc.vector)
		if err != nil {
			t.Errorf("%s: %v", tc.vector, err)
			continue
		}
		if s.String() != tc.want {
			t.Errorf("%s: base score %s (%v), want %s", tc.vector, s, s.Base, tc.want)
		}
	}
}

func TestRoundupRoundsUpToOneDecimalWithoutFloatingPointNoise(t *testing.T) {
	for in, want := range map[float64]float64{4.0: 4.0, 4.02: 4.1, 4.000000000001: 4.0, 4.1: 4.1, 9.84: 9.9, 0.01: 0.1} {
		if got := roundup(in); got != want {
			t.Errorf("roundup(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestV2BaseScoresMatchPublishedScores(t *testing.T) {
	for _, tc := range []struct {
		vector string
		want   string
	}{
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", "7.5"},
		{"AV:N/AC:L/Au:N/C:N/I:N/A:P", "5.0"}, // CVE-2022-0778, openssl
		{"CVSS2#AV:N/AC:L/Au:N/C:N/I:N/A:P", "5.0"},
		{"(AV:N/AC:L/Au:N/C:N/I:N/A:P)", "5.0"},
		{"AV:N/AC:M/Au:N/C:P/I:N/A:N", "4.3"},
		{"AV:N/AC:L/Au:N/C:C/I:C/A:C", "10.0"},
		{"AV:L/AC:L/Au:N/C:C/I:C/A:C", "7.2"},
		{"AV:L/AC:L/Au:N/C:P/I:N/A:N", "2.1"},
		{"AV:N/AC:H/Au:N/C:N/I:N/A:P", "2.6"},
		{"AV:N/AC:L/Au:S/C:P/I:P/A:P", "6.5"},
		{"AV:N/AC:M/Au:N/C:P/I:P/A:P", "6.8"},
		{"AV:A/AC:L/Au:N/C:N/I:N/A:C", "6.1"},
		{"AV:N/AC:L/Au:N/C:N/I:N/A:N", "0.0"},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P/E:POC/RL:OF/RC:C", "7.5"},
	} {
		s, err := V2(tc.vector)
		if err != nil {
			t.Errorf("%s: %v", tc.vector, err)
			continue
		}
		if s.String() != tc.want {
			t.Errorf("%s: base score %s (%v), want %s", tc.vector, s, s.Base, tc.want)
		}
	}
}

func TestMalformedVectorsAreRefusedWithTheReason(t *testing.T) {
	for vector, reason := range map[string]string{
		"AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H":               "does not start with",
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H":  "does not start with",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H":          "base metric A missing",
		"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H":      `no value "X"`,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:L":  "given twice",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1": "unknown metric",
		"CVSS:3.1/AV:N//AC:L":                               "is not a metric",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:HH/I:H/A:H":     `no value "HH"`,
	} {
		_, err := V3(vector)
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: got %v, want %q", vector, err, reason)
		}
	}
	for vector, reason := range map[string]string{
		"AV:N/AC:L/Au:N/C:P/I:P":         "base metric A missing",
		"AV:N/AC:L/Au:N/C:P/I:P/A:H":     `no value "H"`,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S": "unknown metric",
	} {
		_, err := V2(vector)
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: got %v, want %q", vector, err, reason)
		}
	}
}
