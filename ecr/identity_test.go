package ecr

import "testing"

// validRegion accepts exactly what the regionName pattern does.
func TestValidRegionIsTheRegionPattern(t *testing.T) {
	for _, s := range []string{"us-east-1", "us-gov-west-1", "eusc-de-east-1", "cn-northwest-1", "us-isob-east-1", "aws-global",
		"a-b-1", "abcde-x-1", "us-east", "us--1", "us-east-", "-east-1", "us-East-1", "us-east-1a", "us-1", "", "us-east-01", "us-ea st-1", "u1-east-1"} {
		if validRegion(s) != regionName.MatchString(s) {
			t.Errorf("%q: validRegion %v, pattern %v", s, validRegion(s), regionName.MatchString(s))
		}
	}
}

func FuzzValidRegionIsTheRegionPattern(f *testing.F) {
	f.Add("us-east-1")
	f.Fuzz(func(t *testing.T, s string) {
		if validRegion(s) != regionName.MatchString(s) {
			t.Fatalf("%q: validRegion %v, pattern %v", s, validRegion(s), regionName.MatchString(s))
		}
	})
}
