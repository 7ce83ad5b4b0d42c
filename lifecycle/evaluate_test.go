package lifecycle

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// img is an image named for a test: its digest spells the name.
type img struct {
	name     string
	tags     []string
	pushed   time.Duration // before now
	pulled   time.Duration // before now; 0: never
	archived time.Duration // before now; 0: standard
	parents  []string
}

func (i img) image() core.Image {
	c := core.Image{Digest: digest.Digest("sha256:" + i.name), Tags: i.tags, PushedAt: now.Add(-i.pushed)}
	if i.pulled > 0 {
		c.LastPulledAt = now.Add(-i.pulled)
	}
	if i.archived > 0 {
		c.Archived, c.ArchivedAt = true, now.Add(-i.archived)
	}
	for _, p := range i.parents {
		c.Parents = append(c.Parents, digest.Digest("sha256:"+p))
	}
	return c
}

func days(n float64) time.Duration { return time.Duration(n * float64(day)) }

// evaluate runs policy over imgs and describes the outcome as "A:expire@1 …"
// in decision order.
func evaluate(t *testing.T, policy string, imgs []img) string {
	t.Helper()
	p, err := Parse(policy)
	if err != nil {
		t.Fatal(err)
	}
	var images []core.Image
	for _, i := range imgs {
		images = append(images, i.image())
	}
	var out []string
	for _, d := range p.Evaluate(images, now) {
		out = append(out, fmt.Sprintf("%s:%s@%d", strings.TrimPrefix(string(d.Image.Digest), "sha256:"), d.Action, d.RulePriority))
	}
	return strings.Join(out, " ")
}

type example struct {
	name   string
	policy string
	images []img
	want   string
}

// guideExamples are the worked examples of "Examples of lifecycle policies
// in Amazon ECR" (user guide, lifecycle_policy_examples): each repository,
// policy and stated result, with "N days ago" as N days before now (images
// the guide pushes on the same day are a minute apart, in its order).
var guideExamples = []example{
	{
		name:   "Filtering on image age: tagged prod* older than 14 days",
		policy: `{"rules":[{"rulePriority":1,"description":"Expire images older than 14 days","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`,
		images: []img{{name: "A", tags: []string{"prod-1"}, pushed: days(15)}, {name: "B", tags: []string{"prod-2"}, pushed: days(13)}, {name: "C", tags: []string{"dev-1"}, pushed: days(20)}},
		want:   "A:expire@1",
	},
	{
		name:   "Filtering on image count: keep only one untagged image",
		policy: `{"rules":[{"rulePriority":1,"description":"Keep only one untagged image, expire all others","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		images: []img{{name: "A", pushed: days(3)}, {name: "B", pushed: days(2)}, {name: "C", pushed: days(1)}, {name: "D", tags: []string{"v1"}, pushed: days(5)}},
		want:   "A:expire@1 B:expire@1",
	},
	{
		// Rule 2 marks A and B; A is already expired by rule 1 and B matches
		// rule 1's selection, so rule 2 adds nothing. Result: Image A is expired.
		name: "Filtering on multiple rules, example A",
		policy: `{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},` +
			`{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		images: []img{{name: "A", tags: []string{"beta-1", "prod-1"}, pushed: days(10)}, {name: "B", tags: []string{"beta-2", "prod-2"}, pushed: days(9)}, {name: "C", tags: []string{"beta-3"}, pushed: days(8)}},
		want:   "A:expire@1",
	},
	{
		// Same repository, priorities swapped: rule 1 (beta) expires A and B;
		// rule 2 (prod) sees only images rule 1 selected. Result: A and B.
		name: "Filtering on multiple rules, example B",
		policy: `{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},` +
			`{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		images: []img{{name: "A", tags: []string{"beta-1", "prod-1"}, pushed: days(10)}, {name: "B", tags: []string{"beta-2", "prod-2"}, pushed: days(9)}, {name: "C", tags: []string{"beta-3"}, pushed: days(8)}},
		want:   "A:expire@1 B:expire@1",
	},
	{
		// An image must carry every prefix: the rule sees C and F and expires
		// the one older than five days. Result: Image C is expired.
		name:   "Filtering on multiple tags in a single rule, example A",
		policy: `{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"sinceImagePushed","countUnit":"days","countNumber":5},"action":{"type":"expire"}}]}`,
		images: []img{{name: "A", tags: []string{"alpha-1"}, pushed: days(12)}, {name: "B", tags: []string{"beta-1"}, pushed: days(11)}, {name: "C", tags: []string{"alpha-2", "beta-2"}, pushed: days(10)}, {name: "D", tags: []string{"alpha-3"}, pushed: days(4)}, {name: "E", tags: []string{"beta-3"}, pushed: days(3)}, {name: "F", tags: []string{"alpha-4", "beta-4"}, pushed: days(2)}},
		want:   "C:expire@1",
	},
	{
		// Tags are not exclusive: every image carries alpha and beta; the
		// newest is kept. Result: Images A and B are expired.
		name:   "Filtering on multiple tags in a single rule, example B",
		policy: `{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		images: []img{{name: "A", tags: []string{"alpha-1", "beta-1", "gamma-1"}, pushed: days(10)}, {name: "B", tags: []string{"alpha-2", "beta-2"}, pushed: days(9)}, {name: "C", tags: []string{"alpha-3", "beta-3", "gamma-2"}, pushed: days(8)}},
		want:   "A:expire@1 B:expire@1",
	},
	{
		// One any rule keeping the newest. Result: Images A, B and C are expired.
		name:   "Filtering on all images, example A",
		policy: `{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		images: []img{{name: "A", tags: []string{"alpha-1"}, pushed: days(4)}, {name: "B", tags: []string{"beta-1"}, pushed: days(3)}, {name: "C", pushed: days(2)}, {name: "D", tags: []string{"alpha-2"}, pushed: days(1)}},
		want:   "A:expire@1 B:expire@1 C:expire@1",
	},
	{
		// Rule 1 expires A (keeps C); rule 2 expires B (E is not older than a
		// day); rule 3 keeps the newest of all (E) and may not touch A, B, C
		// or E, which higher rules selected. Result: Images A, B and D are expired.
		name: "Filtering on all images, example B",
		policy: `{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["alpha"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},` +
			`{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}},` +
			`{"rulePriority":3,"description":"Rule 3","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
		images: []img{{name: "A", tags: []string{"alpha-1", "beta-1"}, pushed: days(4)}, {name: "B", pushed: days(3)}, {name: "C", tags: []string{"alpha-2"}, pushed: days(2)}, {name: "D", tags: []string{"git hash"}, pushed: days(1) + time.Minute}, {name: "E", pushed: days(1)}},
		want:   "A:expire@1 B:expire@2 D:expire@3",
	},
}

func TestEvaluateReproducesTheUserGuideExamples(t *testing.T) {
	for _, ex := range guideExamples {
		t.Run(ex.name, func(t *testing.T) {
			if got := evaluate(t, ex.policy, ex.images); got != ex.want {
				t.Errorf("got %q, want %q", got, ex.want)
			}
		})
	}
}

func TestEvaluateRules(t *testing.T) {
	cases := []example{
		{
			name:   "imageCountMoreThan keeps the newest by push time, not by digest",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}`),
			images: []img{{name: "Z", tags: []string{"v1"}, pushed: days(9)}, {name: "A", tags: []string{"v4"}, pushed: days(1)}, {name: "M", tags: []string{"v2"}, pushed: days(5)}, {name: "B", tags: []string{"v3"}, pushed: days(3)}},
			want:   "Z:expire@1 M:expire@1",
		},
		{
			name:   "imageCountMoreThan with no more images than the count acts on none",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}`),
			images: []img{{name: "A", pushed: days(100)}, {name: "B", tags: []string{"x"}, pushed: days(50)}},
			want:   "",
		},
		{
			name:   "sinceImagePushed acts only on images more than N days old",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}`),
			images: []img{{name: "A", pushed: days(7) + time.Second}, {name: "B", pushed: days(7)}, {name: "C", pushed: days(2)}, {name: "D", tags: []string{"t"}, pushed: days(30)}},
			want:   "A:expire@1",
		},
		{
			name:   "sinceImagePulled measures from the last pull, or the push when never pulled",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":10},"action":{"type":"transition","targetStorageClass":"archive"}}`),
			images: []img{{name: "A", pushed: days(30), pulled: days(2)}, {name: "B", pushed: days(30), pulled: days(11)}, {name: "C", pushed: days(12)}, {name: "D", pushed: days(3)}},
			want:   "B:transition@1 C:transition@1",
		},
		{
			name: "sinceImageTransitioned expires archived images by their archive time; standard rules skip archived images",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"transition","targetStorageClass":"archive"}},` +
				`{"rulePriority":2,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90},"action":{"type":"expire"}}`),
			images: []img{{name: "A", pushed: days(200), archived: days(91)}, {name: "B", pushed: days(200), archived: days(89)}, {name: "C", pushed: days(5)}},
			want:   "C:transition@1 A:expire@2",
		},
		{
			name:   "tagPatternList: an image must match every pattern, each with any of its tags",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["*-rc*","release-*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}`),
			images: []img{{name: "A", tags: []string{"release-1", "1.0-rc2"}, pushed: days(3)}, {name: "B", tags: []string{"release-2"}, pushed: days(3)}, {name: "C", tags: []string{"2.0-rc1"}, pushed: days(3)}, {name: "D", tags: []string{"release-3-rc1"}, pushed: days(3)}},
			want:   "A:expire@1 D:expire@1",
		},
		{
			name:   "a pattern without a wildcard matches the whole tag only",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["prod"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}`),
			images: []img{{name: "A", tags: []string{"prod"}, pushed: days(3)}, {name: "B", tags: []string{"prod1"}, pushed: days(3)}},
			want:   "A:expire@1",
		},
		{
			name: "a higher rule's selection shields an image it does not act on",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}},` +
				`{"rulePriority":2,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}`),
			images: []img{{name: "A", tags: []string{"prod-1"}, pushed: days(30)}, {name: "B", tags: []string{"dev-1"}, pushed: days(30)}, {name: "C", pushed: days(30)}},
			want:   "B:expire@2 C:expire@2",
		},
		{
			name:   "an image listed by an index that stays is not expired",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}`),
			images: []img{{name: "I", tags: []string{"latest"}, pushed: days(5)}, {name: "amd64", pushed: days(5), parents: []string{"I"}}, {name: "arm64", pushed: days(5), parents: []string{"I"}}, {name: "loose", pushed: days(5)}},
			want:   "loose:expire@1",
		},
		{
			name: "an index's children go with the index, which is evaluated on its own tags and push time",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},` +
				`{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}`),
			images: []img{{name: "I1", tags: []string{"v1"}, pushed: days(9)}, {name: "c1", pushed: days(9), parents: []string{"I1"}}, {name: "I2", tags: []string{"v2"}, pushed: days(2)}, {name: "c2", pushed: days(2), parents: []string{"I2"}}},
			want:   "I1:expire@1 c1:expire@2",
		},
		{
			name:   "a child listed by two indexes stays while either stays",
			policy: pad(`{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":3},"action":{"type":"expire"}}`),
			images: []img{{name: "I1", pushed: days(9)}, {name: "I2", pushed: days(1)}, {name: "c", pushed: days(9), parents: []string{"I1", "I2"}}},
			want:   "I1:expire@1",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := evaluate(t, c.policy, c.images); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// Whatever the policy and images, no image is acted on twice, every
// decision is by a rule that selects the image, and no index child is acted
// on while a parent stays.
func TestEvaluateInvariantsOnRandomRepositories(t *testing.T) {
	policy := pad(`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}},` +
		`{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":2},"action":{"type":"expire"}},` +
		`{"rulePriority":3,"selection":{"tagStatus":"tagged","tagPatternList":["*rc*"],"countType":"sinceImagePulled","countUnit":"days","countNumber":5},"action":{"type":"transition","targetStorageClass":"archive"}},` +
		`{"rulePriority":4,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":4},"action":{"type":"expire"}}`)
	p, err := Parse(policy)
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(1)
	rnd := func(n int) int { seed = seed*6364136223846793005 + 1442695040888963407; return int(seed>>33) % n }
	for round := 0; round < 200; round++ {
		var images []core.Image
		for i := 0; i < 1+rnd(30); i++ {
			im := img{name: fmt.Sprintf("%03d", i), pushed: days(float64(rnd(20)))}
			for j := rnd(3); j > 0; j-- {
				im.tags = append(im.tags, []string{"v", "rc", "x-rc", "latest"}[rnd(4)]+fmt.Sprint(rnd(5)))
			}
			if i > 0 && rnd(4) == 0 {
				im.parents = []string{fmt.Sprintf("%03d", rnd(i))}
			}
			images = append(images, im.image())
		}
		acted := map[digest.Digest]bool{}
		for _, d := range p.Evaluate(images, now) {
			if acted[d.Image.Digest] {
				t.Fatalf("round %d: %s acted on twice", round, d.Image.Digest)
			}
			acted[d.Image.Digest] = true
			r := p.Rules[slices.IndexFunc(p.Rules, func(r Rule) bool { return r.RulePriority == d.RulePriority })]
			if !r.Selection.selects(&d.Image) {
				t.Fatalf("round %d: rule %d acted on %s, which it does not select", round, d.RulePriority, d.Image.Digest)
			}
		}
		for _, im := range images {
			for _, parent := range im.Parents {
				if acted[im.Digest] && !acted[parent] {
					t.Fatalf("round %d: %s acted on while its index %s stays", round, im.Digest, parent)
				}
			}
		}
	}
}
