package core

import "testing"

// checkUploadLimit counts a registry's recorded sessions by the prefix
// putUploadRecord stores them under (regPrefix), built as a repository key
// with no name: the two must stay the same bytes.
func TestTheUploadLimitCountsUnderTheKeysSessionsAreRecordedUnder(t *testing.T) {
	for _, reg := range []RegistryID{regA, regB, {Account: "000000000000", Region: "ap-southeast-2"}} {
		if got, want := string(appendRepoKey(nil, reg, "")), regPrefix(reg); got != want {
			t.Fatalf("%v: prefix %q, sessions recorded under %q", reg, got, want)
		}
	}
}
