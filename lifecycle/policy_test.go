package lifecycle

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
)

// pad makes a policy text long enough for the model's 100-character minimum
// with a description, so tests can write short rules.
func pad(rules string) string {
	text := `{"rules":[` + rules + `]}`
	if len(text) < MinTextLength {
		text = `{"rules":[` + rules + `]` + strings.Repeat(" ", MinTextLength-len(text)) + `}`
	}
	return text
}

// Each rule here is from "Lifecycle policy properties in Amazon ECR" (user
// guide, lifecycle_policy_parameters) unless its comment says otherwise.
func TestParseRejectsEachRuleOfTheUserGuide(t *testing.T) {
	cases := []struct {
		name, rules, want string
	}{
		{"text shorter than the model's 100 characters", ``, "100 to 30720"},
		{"rules empty", `   `, "at least one rule"},
		{"rulePriority missing", `{"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "no rulePriority"},
		{"rulePriority zero (must be ≥ 1)", `{"rulePriority":0,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "at least 1"},
		{"rulePriority not an integer", `{"rulePriority":1.5,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "must be an integer"},
		{"rulePriority not unique", `{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["b"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "unique rulePriority"},
		{"tagStatus unknown", `{"rulePriority":1,"selection":{"tagStatus":"some","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "tagged, untagged or any"},
		{"tagged without a list", `{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "needs a non-empty tagPrefixList or tagPatternList"},
		{"tagged with both lists (How lifecycle policies work)", `{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["a"],"tagPatternList":["b*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "not both"},
		{"five wildcards in a pattern (test*1*2*3*4*5*6 is the guide's invalid example)", `{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["test*1*2*3*4*5*6"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "at most 4"},
		{"untagged with a prefix list", `{"rulePriority":1,"selection":{"tagStatus":"untagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "takes neither"},
		{"any with a pattern list", `{"rulePriority":1,"selection":{"tagStatus":"any","tagPatternList":["a*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "takes neither"},
		{"any not the highest rulePriority", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "highest rulePriority"},
		{"two rules select untagged images (How lifecycle policies work)", `{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3},"action":{"type":"expire"}}`, "only one rule may select untagged"},
		{"countType unknown", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountLessThan","countNumber":1},"action":{"type":"expire"}}`, "countType must be"},
		{"countUnit with imageCountMoreThan", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countUnit":"days","countNumber":1},"action":{"type":"expire"}}`, "countUnit cannot be used"},
		{"sinceImagePushed without countUnit", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countNumber":1},"action":{"type":"expire"}}`, "needs countUnit"},
		{"countUnit other than days", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"hours","countNumber":1},"action":{"type":"expire"}}`, "must be 'days'"},
		{"countNumber zero", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":0},"action":{"type":"expire"}}`, "at least 1"},
		{"countNumber missing", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan"},"action":{"type":"expire"}}`, "no countNumber"},
		{"storageClass unknown", `{"rulePriority":1,"selection":{"tagStatus":"any","storageClass":"glacier","countType":"sinceImageTransitioned","countUnit":"days","countNumber":1},"action":{"type":"expire"}}`, "standard or archive"},
		{"sinceImageTransitioned on standard images", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImageTransitioned","countUnit":"days","countNumber":1},"action":{"type":"expire"}}`, "needs storageClass 'archive'"},
		{"archive with a count on standard images", `{"rulePriority":1,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}`, "'standard' only"},
		{"action type unknown", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"delete"}}`, "expire or transition"},
		{"transition without targetStorageClass", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":1},"action":{"type":"transition"}}`, "targetStorageClass 'archive'"},
		{"transition from archive", `{"rulePriority":1,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":1},"action":{"type":"transition","targetStorageClass":"archive"}}`, "only images of storageClass 'standard'"},
		{"expire with targetStorageClass", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire","targetStorageClass":"archive"}}`, "only be used with action type transition"},
		{"selection missing", `{"rulePriority":1,"action":{"type":"expire"}}`, "no selection"},
		{"action missing", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}}`, "no action"},
		{"unknown member in a selection", `{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1,"tagStatuss":"x"},"action":{"type":"expire"}}`, "unknown member \"tagStatuss\""},
		{"unknown member in a rule", `{"rulePriority":1,"priority":2,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`, "unknown member \"priority\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := pad(c.rules)
			if c.rules == "" {
				text = `{"rules":[]}`
			}
			_, err := Parse(text)
			if !core.IsKind(err, core.KindInvalidParameter) {
				t.Fatalf("Parse: %v, want an invalid parameter", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "lifecyclePolicyText") {
				t.Errorf("Parse: %q, want it to name the problem (%q)", err, c.want)
			}
		})
	}
}

func TestParseAcceptsTheUserGuideExamples(t *testing.T) {
	for _, ex := range guideExamples {
		t.Run(ex.name, func(t *testing.T) {
			p, err := Parse(ex.policy)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i < len(p.Rules); i++ {
				if p.Rules[i-1].RulePriority >= p.Rules[i].RulePriority {
					t.Errorf("rules not in priority order: %+v", p.Rules)
				}
			}
		})
	}
}

// Values need not be sequential; rules come back sorted by priority; four
// wildcards are allowed (["*test*1*2*3", "test*1*2*3*"] is the guide's valid
// example); storageClass defaults to standard; a transition rule and an
// archive expiry rule go together.
func TestParseNormalisesAValidPolicy(t *testing.T) {
	p, err := Parse(pad(`{"rulePriority":30,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90},"action":{"type":"expire"}},` +
		`{"rulePriority":7,"description":"archive old releases","selection":{"tagStatus":"tagged","tagPatternList":["*test*1*2*3","test*1*2*3*"],"countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 2 || p.Rules[0].RulePriority != 7 || p.Rules[1].RulePriority != 30 {
		t.Fatalf("rules %+v, want priorities 7 then 30", p.Rules)
	}
	if p.Rules[0].Selection.StorageClass != StorageStandard || p.Rules[0].Description != "archive old releases" {
		t.Errorf("rule 7 = %+v", p.Rules[0])
	}
}

func TestParseRejectsTextLongerThanTheModelAllows(t *testing.T) {
	_, err := Parse(pad(strings.Repeat(" ", MaxTextLength)))
	if !core.IsKind(err, core.KindInvalidParameter) {
		t.Fatalf("Parse of a %d-character text: %v", MaxTextLength+20, err)
	}
}
