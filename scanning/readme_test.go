package scanning

import (
	"os"
	"strings"
	"testing"
)

// The README's --scan-config example is one berth accepts, and means what
// the README says it means.
func TestTheREADMEScanConfigLoads(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Image scanning")
	if !ok {
		t.Fatal(`README has no "### Image scanning" section`)
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !closed {
		t.Fatal("README's scanning section has no YAML example")
	}
	s, err := ParseSelection([]byte(block), []string{"ospkg", "scanner-banned-packages"})
	if err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	if got, _ := s.For(reg, "team-a/api/v2"); strings.Join(got, ",") != "ospkg,scanner-banned-packages" {
		t.Errorf("team-a/api/v2: %v", got)
	}
	if _, ok := s.For(reg, "team-b/api"); ok {
		t.Errorf("team-b/api matched a rule in account %s", reg.Account)
	}
}
