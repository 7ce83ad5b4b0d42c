package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/berth-dev/berth/core"
)

// Policy is a parsed, valid lifecycle policy: its rules in priority order.
type Policy struct {
	Rules []Rule `json:"rules"`
}

// Rule is one rule of a policy.
type Rule struct {
	RulePriority int       `json:"rulePriority"`
	Description  string    `json:"description,omitempty"`
	Selection    Selection `json:"selection"`
	Action       Action    `json:"action"`
}

// Selection says which images a rule looks at and which of them it acts on.
type Selection struct {
	TagStatus      string   `json:"tagStatus"`
	TagPrefixList  []string `json:"tagPrefixList,omitempty"`
	TagPatternList []string `json:"tagPatternList,omitempty"`
	StorageClass   string   `json:"storageClass,omitempty"` // standard (also when empty) or archive
	CountType      string   `json:"countType"`
	CountUnit      string   `json:"countUnit,omitempty"`
	CountNumber    int      `json:"countNumber"`
}

// Action is what a rule does to the images it acts on.
type Action struct {
	Type               string `json:"type"`
	TargetStorageClass string `json:"targetStorageClass,omitempty"`
}

// Values of the policy grammar.
const (
	TagTagged   = "tagged"
	TagUntagged = "untagged"
	TagAny      = "any"

	CountMoreThan          = "imageCountMoreThan"
	CountSincePushed       = "sinceImagePushed"
	CountSincePulled       = "sinceImagePulled"
	CountSinceTransitioned = "sinceImageTransitioned"

	StorageStandard = "standard"
	StorageArchive  = "archive"

	ActionExpire     = "expire"
	ActionTransition = "transition"
)

// The model's bounds on lifecyclePolicyText (LifecyclePolicyText).
const (
	MinTextLength = 100
	MaxTextLength = 30720
)

// maxWildcards is how many '*' a tagPatternList entry may hold.
const maxWildcards = 4

// rawRule mirrors Rule with pointers, so that a missing member is told from
// a zero one; the decoder rejects members the grammar does not have.
type rawRule struct {
	RulePriority *int          `json:"rulePriority"`
	Description  *string       `json:"description"`
	Selection    *rawSelection `json:"selection"`
	Action       *rawAction    `json:"action"`
}

type rawSelection struct {
	TagStatus      *string  `json:"tagStatus"`
	TagPrefixList  []string `json:"tagPrefixList"`
	TagPatternList []string `json:"tagPatternList"`
	StorageClass   *string  `json:"storageClass"`
	CountType      *string  `json:"countType"`
	CountUnit      *string  `json:"countUnit"`
	CountNumber    *int     `json:"countNumber"`
}

type rawAction struct {
	Type               *string `json:"type"`
	TargetStorageClass *string `json:"targetStorageClass"`
}

// invalid words a rejected policy as ECR does, naming the problem.
func invalid(format string, args ...any) error {
	return core.InvalidParameter("lifecyclePolicyText", "Lifecycle policy validation failure: "+fmt.Sprintf(format, args...))
}

// Parse validates a lifecycle policy text and returns its rules sorted by
// priority. It is the one validator: PutLifecyclePolicy,
// StartLifecyclePolicyPreview and repository creation templates all use it.
// A rejected text is a core KindInvalidParameter error naming the problem.
func Parse(text string) (*Policy, error) {
	if n := utf8.RuneCountInString(text); n < MinTextLength || n > MaxTextLength {
		return nil, invalid("the policy text must be %d to %d characters long, not %d", MinTextLength, MaxTextLength, n)
	}
	var raw struct {
		Rules []rawRule `json:"rules"`
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, invalid("%s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("unexpected content after the policy object")
	}
	if len(raw.Rules) == 0 {
		return nil, invalid("'rules' must hold at least one rule")
	}
	p := &Policy{}
	seen := map[int]bool{}
	for i, rr := range raw.Rules {
		r, err := parseRule(i, rr)
		if err != nil {
			return nil, err
		}
		if seen[r.RulePriority] {
			return nil, invalid("rulePriority %d is used by more than one rule; each rule needs a unique rulePriority", r.RulePriority)
		}
		seen[r.RulePriority] = true
		p.Rules = append(p.Rules, r)
	}
	slices.SortFunc(p.Rules, func(a, b Rule) int { return a.RulePriority - b.RulePriority })
	untagged := 0
	for i, r := range p.Rules {
		if r.Selection.TagStatus == TagAny && i != len(p.Rules)-1 {
			return nil, invalid("the rule with tagStatus 'any' (rulePriority %d) must have the highest rulePriority", r.RulePriority)
		}
		if r.Selection.TagStatus == TagUntagged {
			untagged++
		}
	}
	if untagged > 1 {
		return nil, invalid("only one rule may select untagged images")
	}
	return p, nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "the policy is not valid JSON: " + syn.Error()
	case errors.As(err, &typ):
		return fmt.Sprintf("'%s' must be %s, not a JSON %s", typ.Field, wantType(typ.Type.String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return "unknown member " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "the policy is not valid JSON: " + err.Error()
}

func wantType(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "int":
		return "an integer"
	case "string":
		return "a string"
	case "[]string":
		return "a list of strings"
	}
	return "an object"
}

func parseRule(i int, rr rawRule) (Rule, error) {
	var r Rule
	if rr.RulePriority == nil {
		return r, invalid("rule %d has no rulePriority", i+1)
	}
	r.RulePriority = *rr.RulePriority
	if r.RulePriority < 1 {
		return r, invalid("rulePriority must be an integer of at least 1, not %d", r.RulePriority)
	}
	if rr.Description != nil {
		r.Description = *rr.Description
	}
	if rr.Selection == nil {
		return r, invalid("the rule with rulePriority %d has no selection", r.RulePriority)
	}
	if rr.Action == nil {
		return r, invalid("the rule with rulePriority %d has no action", r.RulePriority)
	}
	var err error
	if r.Selection, err = parseSelection(r.RulePriority, rr.Selection); err != nil {
		return r, err
	}
	if r.Action, err = parseAction(r.RulePriority, rr.Action, r.Selection); err != nil {
		return r, err
	}
	return r, nil
}

func parseSelection(prio int, rs *rawSelection) (Selection, error) {
	var s Selection
	if rs.TagStatus == nil {
		return s, invalid("the rule with rulePriority %d has no tagStatus", prio)
	}
	s.TagStatus = *rs.TagStatus
	s.TagPrefixList, s.TagPatternList = rs.TagPrefixList, rs.TagPatternList
	hasPrefix, hasPattern := rs.TagPrefixList != nil, rs.TagPatternList != nil
	switch s.TagStatus {
	case TagTagged:
		switch {
		case hasPrefix && hasPattern:
			return s, invalid("the rule with rulePriority %d may give tagPrefixList or tagPatternList, not both", prio)
		case len(s.TagPrefixList) == 0 && len(s.TagPatternList) == 0:
			return s, invalid("the rule with rulePriority %d selects tagged images and needs a non-empty tagPrefixList or tagPatternList", prio)
		}
	case TagUntagged, TagAny:
		if hasPrefix || hasPattern {
			return s, invalid("the rule with rulePriority %d selects %s images and takes neither tagPrefixList nor tagPatternList", prio, s.TagStatus)
		}
	default:
		return s, invalid("tagStatus must be tagged, untagged or any, not '%s'", s.TagStatus)
	}
	for _, p := range s.TagPrefixList {
		if p == "" {
			return s, invalid("the rule with rulePriority %d has an empty entry in tagPrefixList", prio)
		}
	}
	for _, p := range s.TagPatternList {
		if p == "" {
			return s, invalid("the rule with rulePriority %d has an empty entry in tagPatternList", prio)
		}
		if n := strings.Count(p, "*"); n > maxWildcards {
			return s, invalid("the tag pattern '%s' has %d wildcards; at most %d are allowed", p, n, maxWildcards)
		}
	}
	if rs.CountType == nil {
		return s, invalid("the rule with rulePriority %d has no countType", prio)
	}
	s.CountType = *rs.CountType
	if rs.CountNumber == nil {
		return s, invalid("the rule with rulePriority %d has no countNumber", prio)
	}
	s.CountNumber = *rs.CountNumber
	if s.CountNumber < 1 {
		return s, invalid("countNumber must be an integer of at least 1, not %d", s.CountNumber)
	}
	switch s.CountType {
	case CountMoreThan:
		if rs.CountUnit != nil {
			return s, invalid("countUnit cannot be used with countType imageCountMoreThan")
		}
	case CountSincePushed, CountSincePulled, CountSinceTransitioned:
		if rs.CountUnit == nil {
			return s, invalid("countType %s needs countUnit 'days'", s.CountType)
		}
		if s.CountUnit = *rs.CountUnit; s.CountUnit != "days" {
			return s, invalid("countUnit must be 'days', not '%s'", s.CountUnit)
		}
	default:
		return s, invalid("countType must be imageCountMoreThan, sinceImagePushed, sinceImagePulled or sinceImageTransitioned, not '%s'", s.CountType)
	}
	s.StorageClass = StorageStandard
	if rs.StorageClass != nil {
		s.StorageClass = *rs.StorageClass
	}
	switch {
	case s.StorageClass != StorageStandard && s.StorageClass != StorageArchive:
		return s, invalid("storageClass must be standard or archive, not '%s'", s.StorageClass)
	case s.CountType == CountSinceTransitioned && s.StorageClass != StorageArchive:
		return s, invalid("countType sinceImageTransitioned selects archived images and needs storageClass 'archive'")
	case s.CountType != CountSinceTransitioned && s.StorageClass != StorageStandard:
		return s, invalid("countType %s selects images of storageClass 'standard' only", s.CountType)
	}
	return s, nil
}

func parseAction(prio int, ra *rawAction, s Selection) (Action, error) {
	var a Action
	if ra.Type == nil {
		return a, invalid("the action of the rule with rulePriority %d has no type", prio)
	}
	a.Type = *ra.Type
	switch a.Type {
	case ActionExpire:
		if ra.TargetStorageClass != nil {
			return a, invalid("targetStorageClass can only be used with action type transition")
		}
	case ActionTransition:
		if ra.TargetStorageClass == nil || *ra.TargetStorageClass != StorageArchive {
			return a, invalid("action type transition needs targetStorageClass 'archive'")
		}
		a.TargetStorageClass = StorageArchive
		if s.StorageClass != StorageStandard {
			return a, invalid("only images of storageClass 'standard' can transition to 'archive'")
		}
	default:
		return a, invalid("action type must be expire or transition, not '%s'", a.Type)
	}
	return a, nil
}
