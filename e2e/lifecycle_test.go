package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// runLifecycle asks berth to enforce every lifecycle policy now.
func runLifecycle(t *testing.T, b *Berth) {
	t.Helper()
	resp, err := http.Post(b.URL+"/_berth/lifecycle/run", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /_berth/lifecycle/run: %d", resp.StatusCode)
	}
}

// digestsIn lists a repository's image digests, sorted.
func (s *sdk) digestsIn(repo string) []string {
	s.t.Helper()
	out, err := s.ecr.ListImages(s.ctx, &ecr.ListImagesInput{RepositoryName: aws.String(repo)})
	if err != nil {
		s.t.Fatalf("ListImages %s: %v", repo, err)
	}
	var ds []string
	for _, id := range out.ImageIds {
		ds = append(ds, aws.ToString(id.ImageDigest))
	}
	slices.Sort(ds)
	return slices.Compact(ds)
}

// previewExpiring starts a preview of text, waits for it to complete and
// returns the digests it would expire, sorted, reading every page.
func (s *sdk) previewExpiring(repo, text string) []string {
	s.t.Helper()
	start, err := s.ecr.StartLifecyclePolicyPreview(s.ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: aws.String(repo), LifecyclePolicyText: aws.String(text)})
	if err != nil {
		s.t.Fatalf("StartLifecyclePolicyPreview: %v", err)
	}
	if start.Status != types.LifecyclePolicyPreviewStatusInProgress {
		s.t.Fatalf("StartLifecyclePolicyPreview status %s", start.Status)
	}
	var expiring []string
	deadline := time.Now().Add(10 * time.Second)
	var token *string
	for {
		out, err := s.ecr.GetLifecyclePolicyPreview(s.ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: aws.String(repo), MaxResults: aws.Int32(1), NextToken: token})
		if err != nil {
			s.t.Fatalf("GetLifecyclePolicyPreview: %v", err)
		}
		if out.Status == types.LifecyclePolicyPreviewStatusInProgress {
			if time.Now().After(deadline) {
				s.t.Fatal("the preview is still in progress after 10s")
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if out.Status != types.LifecyclePolicyPreviewStatusComplete {
			s.t.Fatalf("preview status %s", out.Status)
		}
		for _, r := range out.PreviewResults {
			if r.Action.Type == types.ImageActionTypeExpire {
				expiring = append(expiring, aws.ToString(r.ImageDigest))
			}
		}
		if token = out.NextToken; token == nil {
			if n := int(aws.ToInt32(out.Summary.ExpiringImageTotalCount)); n != len(expiring) {
				s.t.Fatalf("summary says %d expiring, the pages list %d", n, len(expiring))
			}
			break
		}
	}
	slices.Sort(expiring)
	return expiring
}

func without(all []string, gone ...string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(d string) bool { return slices.Contains(gone, d) })
}

func TestECRLifecyclePolicies(t *testing.T) {
	t.Parallel()
	b := Start(t, "--lifecycle-interval", "0") // only pushes, policy changes and the run endpoint enforce
	s := defaultSDK(t, b)

	t.Run("an invalid policy is refused and nothing is stored", func(t *testing.T) {
		s.createRepo("invalid")
		text := `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["a*b*c*d*e*f"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
		_, err := s.ecr.PutLifecyclePolicy(s.ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("invalid"), LifecyclePolicyText: aws.String(text)})
		wantCode(t, err, "InvalidParameterException")
		_, err = s.ecr.GetLifecyclePolicy(s.ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("invalid")})
		wantErr[*types.LifecyclePolicyNotFoundException](t, err)
		_, err = s.ecr.DeleteLifecyclePolicy(s.ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: aws.String("invalid")})
		wantErr[*types.LifecyclePolicyNotFoundException](t, err)
		_, err = s.ecr.GetLifecyclePolicyPreview(s.ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: aws.String("invalid")})
		wantErr[*types.LifecyclePolicyPreviewNotFoundException](t, err)
		_, err = s.ecr.PutLifecyclePolicy(s.ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("nope"), LifecyclePolicyText: aws.String(keepTwoReleases)})
		wantErr[*types.RepositoryNotFoundException](t, err)
	})

	t.Run("keep the newest N matching a wildcard pattern, as the preview said", func(t *testing.T) {
		s.createRepo("releases")
		var releases []string
		for i := range 5 {
			img := s.newImage("releases", 64)
			s.putImage("releases", fmt.Sprintf("release-%d.0", i), img.Manifest)
			releases = append(releases, img.Digest)
		}
		dev := s.newImage("releases", 64)
		s.putImage("releases", "dev", dev.Manifest)
		before := s.digestsIn("releases")
		previewed := s.previewExpiring("releases", keepTwoReleases)
		if want := slices.Sorted(slices.Values(releases[:3])); !slices.Equal(previewed, want) {
			t.Fatalf("preview expires %v, want the three oldest releases %v", previewed, want)
		}
		if got := s.digestsIn("releases"); !slices.Equal(got, before) {
			t.Fatalf("the preview changed the repository: %v", got)
		}
		put, err := s.ecr.PutLifecyclePolicy(s.ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("releases"), LifecyclePolicyText: aws.String(keepTwoReleases)})
		noErr(t, "PutLifecyclePolicy", err)
		eq(t, "lifecyclePolicyText", aws.ToString(put.LifecyclePolicyText), keepTwoReleases)
		runLifecycle(t, b) // after the Put's own enforcement, if it had not finished
		if got, want := s.digestsIn("releases"), without(before, previewed...); !slices.Equal(got, want) {
			t.Fatalf("after enforcement %v, want %v", got, want)
		}
		got, err := s.ecr.GetLifecyclePolicy(s.ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("releases")})
		noErr(t, "GetLifecyclePolicy", err)
		if got.LastEvaluatedAt == nil || time.Since(*got.LastEvaluatedAt) > time.Minute {
			t.Fatalf("lastEvaluatedAt %v", got.LastEvaluatedAt)
		}
		// A push of a sixth release is enforced after the push.
		img := s.newImage("releases", 64)
		s.putImage("releases", "release-5.0", img.Manifest)
		deadline := time.Now().Add(10 * time.Second)
		for slices.Contains(s.digestsIn("releases"), releases[3]) {
			if time.Now().After(deadline) {
				t.Fatal("release-3.0 still there 10s after a newer release was pushed")
			}
			time.Sleep(20 * time.Millisecond)
		}
		del, err := s.ecr.DeleteLifecyclePolicy(s.ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: aws.String("releases")})
		noErr(t, "DeleteLifecyclePolicy", err)
		eq(t, "deleted text", aws.ToString(del.LifecyclePolicyText), keepTwoReleases)
	})

	t.Run("images listed by an index are not expired before it", func(t *testing.T) {
		s.createRepo("multi")
		loose := s.newImage("multi", 64)
		s.putImage("multi", "", loose.Manifest)
		amd, arm := s.newImage("multi", 64), s.newImage("multi", 64)
		s.putImage("multi", "", amd.Manifest)
		s.putImage("multi", "", arm.Manifest)
		index := indexOf(amd.desc(), arm.desc())
		s.putImage("multi", "latest", index)
		text := `{"rules":[{"rulePriority":1,"description":"keep one untagged image","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
		_, err := s.ecr.PutLifecyclePolicy(s.ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("multi"), LifecyclePolicyText: aws.String(text)})
		noErr(t, "PutLifecyclePolicy", err)
		runLifecycle(t, b)
		want := slices.Sorted(slices.Values([]string{amd.Digest, arm.Digest, sha256Digest([]byte(index))}))
		if got := s.digestsIn("multi"); !slices.Equal(got, want) {
			t.Fatalf("images left %v, want the index and its children %v (the loose image expired)", got, want)
		}
	})

	t.Run("a preview of a repository without a policy needs a text", func(t *testing.T) {
		s.createRepo("nopolicy")
		_, err := s.ecr.StartLifecyclePolicyPreview(s.ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: aws.String("nopolicy")})
		wantErr[*types.LifecyclePolicyNotFoundException](t, err)
	})
}

const keepTwoReleases = `{"rules":[{"rulePriority":1,"description":"keep the two newest releases","selection":{"tagStatus":"tagged","tagPatternList":["release-*.0"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}`
