package identity

import (
	"os"
	"strings"
	"testing"
)

// readmeSection returns README's "Identities and policies" section.
func readmeSection(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Identities and policies")
	if !ok {
		t.Fatal(`README has no "### Identities and policies" section`)
	}
	section, _, _ = strings.Cut(section, "\n### ")
	return section
}

// fenced returns the body of the first ``` block of the given language.
func fenced(t *testing.T, text, lang string) string {
	t.Helper()
	_, block, ok := strings.Cut(text, "```"+lang+"\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !closed {
		t.Fatalf("no ```%s block", lang)
	}
	return block
}

// The README's example config is one berth accepts, and the error it shows
// is the one berth gives for the example without alice's Resource.
func TestTheREADMEExampleConfigLoadsAndItsErrorIsBerths(t *testing.T) {
	section := readmeSection(t)
	example := fenced(t, section, "yaml")
	path := writeConfig(t, example, map[string]string{"policies/ci-push.json": pullOnly})
	d, err := Load(path)
	if err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	if arn, ok := d.PrincipalForAccessKey("AKIAALICE00000000000"); !ok || arn != "arn:aws:iam::111111111111:user/dev/alice" {
		t.Errorf("alice's key: %q, %v", arn, ok)
	}
	if _, ok := d.Principal("arn:aws:sts::111111111111:assumed-role/ci/build"); !ok {
		t.Error("the ci session the README names does not exist")
	}

	broken := strings.Replace(example, `"Resource": "*",`, "", 1)
	if broken == example {
		t.Fatal(`the README's example no longer has alice's "Resource": "*",`)
	}
	// alice's policy is refused before berth reads the role's policy file.
	_, err = Parse("iam.yaml", []byte(broken))
	if err == nil || !strings.Contains(section, "\nberth: --iam-config: "+err.Error()+"\n") {
		t.Errorf("berth says\n  %v\nwhich the README does not show", err)
	}
}
