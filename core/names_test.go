package core

import (
	"mime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

var nameCases = []string{"", "a", "ab", "a/b", "a//b", "/ab", "ab/", "a.b", "a..b", "a_b", "a__b", "a___b", "a-b", "a---b",
	"a-.b", "a._b", "-ab", "ab-", "a.b/c-d/e__f", "A", "aB", "a b", "ab/c", "ab/-c", "ab/c.", "é", "a\x00b", "a/b/c/d", "0/0"}

// The hand-written matchers answer exactly as the distribution spec's
// grammar, as the regexps state it.
func TestNameAndTagMatchersAgreeWithTheGrammar(t *testing.T) {
	for _, s := range append(nameCases, strings.Repeat("a", 128), strings.Repeat("a", 129), "_a", ".a", "a.", "v1.2-rc_3") {
		if got, want := matchName(s), nameRE.MatchString(s); got != want {
			t.Errorf("matchName(%q) = %v, nameRE says %v", s, got, want)
		}
		if got, want := ValidTag(s), tagRE.MatchString(s); got != want {
			t.Errorf("ValidTag(%q) = %v, tagRE says %v", s, got, want)
		}
	}
}

func FuzzNameMatchesRegexp(f *testing.F) {
	for _, s := range nameCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := matchName(s), nameRE.MatchString(s); got != want {
			t.Fatalf("matchName(%q) = %v, nameRE says %v", s, got, want)
		}
	})
}

func FuzzTagMatchesRegexp(f *testing.F) {
	for _, s := range nameCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidTag(s), tagRE.MatchString(s); got != want {
			t.Fatalf("ValidTag(%q) = %v, tagRE says %v", s, got, want)
		}
	})
}

// Keys are their parts joined by the separator, in one allocation.
func TestKeysAreTheirPartsJoinedBySeparator(t *testing.T) {
	reg := RegistryID{Account: "123456789012", Region: "eu-west-1"}
	pre := reg.Account + sep + reg.Region + sep
	for _, c := range []struct{ got, want string }{
		{string(repoKey(reg, "app")), pre + "app"},
		{string(inRepo(reg, "app")), pre + "app" + sep},
		{string(itemKey(reg, "app")), pre + "app" + sep},
		{string(itemKey(reg, "app", "v1")), pre + "app" + sep + "v1"},
		{string(itemKey(reg, "app", "sha256:ab", "")), pre + "app" + sep + "sha256:ab" + sep},
		{string(itemKey(reg, "app", "a", "b", "c")), pre + "app" + sep + "a" + sep + "b" + sep + "c"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if n := testing.AllocsPerRun(10, func() { itemKey(reg, "app", "a", "b") }); n > 1 {
		t.Errorf("itemKey allocates %v times, want 1", n)
	}
}

// acceptableByParsing is acceptable as it was first written, every part
// through mime.ParseMediaType: the oracle for the faster one.
func acceptableByParsing(mt string, accept []string) bool {
	named := false
	for _, a := range accept {
		for _, part := range strings.Split(a, ",") {
			t, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
			if t == mt || t == "*/*" {
				return true
			}
			named = named || isManifestType(t)
		}
	}
	return !named
}

var acceptCases = []string{"", ",", MediaTypeOCIManifest, MediaTypeOCIIndex + ", " + MediaTypeDockerManifest, "*/*", "*/* ; q=0.1",
	"APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON", MediaTypeOCIIndex + ";q=0.5", "text/plain", "text", " , application/json ,",
	MediaTypeDockerManifestList + "; charset", MediaTypeOCIManifest + " x", "*", "\t" + MediaTypeOCIIndex + "\t",
	"application/vnd.doc\u212aer.distribution.manifest.v2+json"} // a Kelvin sign, which lower case makes a 'k'

func TestAcceptableAnswersAsParsingEveryType(t *testing.T) {
	for _, mt := range []string{MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest} {
		for _, a := range acceptCases {
			for _, accept := range [][]string{{a}, {a, MediaTypeOCIIndex}, {"text/plain", a}} {
				if got, want := acceptable(mt, accept), acceptableByParsing(mt, accept); got != want {
					t.Errorf("acceptable(%q, %q) = %v, want %v", mt, accept, got, want)
				}
			}
		}
	}
}

func FuzzAcceptable(f *testing.F) {
	for _, a := range acceptCases {
		f.Add(a)
	}
	f.Fuzz(func(t *testing.T, a string) {
		for _, mt := range []string{MediaTypeOCIManifest, MediaTypeDockerManifestList} {
			if got, want := acceptable(mt, []string{a}), acceptableByParsing(mt, []string{a}); got != want {
				t.Fatalf("acceptable(%q, %q) = %v, want %v", mt, a, got, want)
			}
		}
	})
}

// ParseDigest's sha256 shortcut accepts exactly what digest.Parse does.
func FuzzParseDigestAgreesWithDigestParse(f *testing.F) {
	for _, s := range []string{"sha256:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("A", 64), "sha256:" + strings.Repeat("0", 63),
		"sha512:" + strings.Repeat("a", 128), "sha256:", "", "sha256:" + strings.Repeat("g", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotErr := ParseDigest(s)
		want, wantErr := digest.Parse(s)
		if (gotErr == nil) != (wantErr == nil) || gotErr == nil && got != want {
			t.Fatalf("ParseDigest(%q) = %q, %v; digest.Parse: %q, %v", s, got, gotErr, want, wantErr)
		}
	})
}
