package lifecycle

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

// Decision is what a policy does to one image.
type Decision struct {
	Image        core.Image
	Action       string // ActionExpire or ActionTransition
	RulePriority int    // the rule that acts on it
}

const day = 24 * time.Hour

// Evaluate decides what p does to a repository's images at now. Preview and
// enforcement both call it, so they cannot disagree. It follows the ECR user
// guide ("How lifecycle policies work", "Lifecycle policy evaluation rules"):
//
//   - every rule looks at the whole repository, and the rules are then
//     applied in priority order, lowest number first;
//   - an image is acted on by at most one rule;
//   - an image selected by a higher-priority rule (its tag status, tag
//     lists and storage class match) cannot be acted on by a lower one, even
//     when the higher rule leaves it alone, but the lower rule still counts
//     it (imageCountMoreThan keeps the newest N of everything it selects);
//   - imageCountMoreThan orders by push time and acts on the oldest beyond
//     the newest countNumber; sinceImagePushed / sinceImagePulled /
//     sinceImageTransitioned act on images whose push, last recorded pull
//     (push time if never pulled) or archive time is more than countNumber
//     days before now;
//   - with several prefixes or patterns an image must match every one of
//     them (each with any of its tags);
//   - an image listed by an index is not acted on unless the index is
//     acted on too (an index goes first, on its own tags and push time).
//
// Decisions come in the order the rules made them: by priority, oldest
// image first within a rule.
func (p *Policy) Evaluate(images []core.Image, now time.Time) []Decision {
	shielded := make([]bool, len(images)) // selected by a rule already applied
	acted := map[digest.Digest]int{}      // image → its decision
	var decisions []Decision
	var selected []int
	for _, r := range p.Rules {
		selected = selected[:0]
		for i := range images {
			if r.Selection.selects(&images[i]) {
				selected = append(selected, i)
			}
		}
		for _, i := range r.Selection.marks(images, selected, now) {
			if shielded[i] {
				continue
			}
			acted[images[i].Digest] = len(decisions)
			decisions = append(decisions, Decision{Image: images[i], Action: r.Action.Type, RulePriority: r.RulePriority})
		}
		for _, i := range selected {
			shielded[i] = true
		}
	}
	return keepIndexChildren(decisions, acted)
}

// keepIndexChildren drops the decisions on images listed by an index that
// is not acted on itself, until none is left (an index may list an index).
func keepIndexChildren(decisions []Decision, acted map[digest.Digest]int) []Decision {
	for {
		dropped := false
		for dg, i := range acted {
			for _, parent := range decisions[i].Image.Parents {
				if _, ok := acted[parent]; !ok {
					delete(acted, dg)
					dropped = true
					break
				}
			}
		}
		if !dropped {
			break
		}
	}
	if len(acted) == len(decisions) {
		return decisions
	}
	kept := decisions[:0:0]
	for _, d := range decisions {
		if _, ok := acted[d.Image.Digest]; ok {
			kept = append(kept, d)
		}
	}
	return kept
}

// selects reports whether the rule looks at img: its tag status, tag lists
// and storage class.
func (s *Selection) selects(img *core.Image) bool {
	if img.Archived != (s.StorageClass == StorageArchive) {
		return false
	}
	switch s.TagStatus {
	case TagUntagged:
		return len(img.Tags) == 0
	case TagAny:
		return true
	}
	if len(img.Tags) == 0 {
		return false
	}
	for _, prefix := range s.TagPrefixList {
		if !slices.ContainsFunc(img.Tags, func(t string) bool { return strings.HasPrefix(t, prefix) }) {
			return false
		}
	}
	for _, pattern := range s.TagPatternList {
		if !slices.ContainsFunc(img.Tags, func(t string) bool { return core.WildcardMatch(pattern, t) }) {
			return false
		}
	}
	return true
}

// marks returns the selected images the rule's count would act on, oldest first.
func (s *Selection) marks(images []core.Image, selected []int, now time.Time) []int {
	if s.CountType == CountMoreThan {
		if len(selected) <= s.CountNumber {
			return nil
		}
		byAge := slices.Clone(selected)
		slices.SortFunc(byAge, func(a, b int) int { return olderFirst(&images[a], &images[b]) })
		return byAge[:len(byAge)-s.CountNumber]
	}
	limit := now.Add(-time.Duration(s.CountNumber) * day)
	var out []int
	for _, i := range selected {
		if t := s.since(&images[i]); !t.IsZero() && t.Before(limit) {
			out = append(out, i)
		}
	}
	slices.SortFunc(out, func(a, b int) int { return olderFirst(&images[a], &images[b]) })
	return out
}

// since is the time a since* count measures from.
func (s *Selection) since(img *core.Image) time.Time {
	switch s.CountType {
	case CountSincePulled:
		if !img.LastPulledAt.IsZero() {
			return img.LastPulledAt
		}
	case CountSinceTransitioned:
		return img.ArchivedAt
	}
	return img.PushedAt
}

// olderFirst orders images by push time, then digest, so ties are stable.
func olderFirst(a, b *core.Image) int {
	if c := a.PushedAt.Compare(b.PushedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.Digest, b.Digest)
}
