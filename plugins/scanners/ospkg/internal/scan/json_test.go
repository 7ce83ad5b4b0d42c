package scan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestAppendJSONDecodesToTheSameOutput(t *testing.T) {
	odd := []string{"", "plain ascii text of some length", `quote " and \ backslash`, "tab\tnew\nline\rcr\x01\x1f",
		"é and 😀 and \u2028", "bad utf8 \xff\xfe end", strings.Repeat("long plain ", 100), "<html>&amp;</html>", "eight888", "seven77"}
	for _, s := range odd {
		out := Output{
			Status: StatusComplete, Description: s, OS: &OS{ID: s, VersionID: "12", Ecosystem: "Debian:12"}, Packages: 3,
			Findings: []Finding{
				{Name: s, Description: s, URI: "https://x/" + s, Severity: SeverityHigh, Attributes: []Attribute{{"package_name", s}, {s, "1"}}},
				{Name: "CVE-1", Severity: SeverityUndefined, Attributes: []Attribute{}},
			},
		}
		data := out.AppendJSON(nil)
		var got Output
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("%q: invalid JSON %v: %s", s, err, data)
		}
		// What encoding/json makes of the same value, decoded likewise (invalid UTF-8 becomes
		// U+FFFD either way).
		std, _ := json.Marshal(out)
		var want Output
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", s, got, want)
		}
	}
	unsupported := unsupported(nil)
	std, _ := json.Marshal(unsupported)
	if got := unsupported.AppendJSON(nil); string(got) != string(std) {
		t.Errorf("unsupported output\n got %s\nwant %s", got, std)
	}
}
