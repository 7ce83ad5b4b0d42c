package lifecycle

import (
	"context"
	"time"

	"github.com/berth-dev/berth/core"
)

// Preview statuses, as ECR names them.
const (
	PreviewInProgress = "IN_PROGRESS"
	PreviewComplete   = "COMPLETE"
	PreviewFailed     = "FAILED"
)

// Preview is a lifecycle policy preview of one repository: what the policy
// would do, computed by the evaluator enforcement uses, changing nothing.
type Preview struct {
	Status     string
	PolicyText string
	Decisions  []Decision // when COMPLETE
	Err        error      // when FAILED

	created time.Time // the repository's creation, so a namesake does not inherit it
}

// StartPreview starts a preview of text, or of the repository's stored
// policy when text is empty (ErrPolicyNotFound if it has none), and returns
// the text previewed. It runs in the background; GetPreview reports
// IN_PROGRESS until it is COMPLETE (or FAILED). A second start while one
// runs is ErrPreviewInProgress.
func (s *Service) StartPreview(ctx context.Context, reg core.RegistryID, repo, text string) (string, error) {
	r, err := s.core.GetRepository(ctx, reg, repo)
	if err != nil {
		return "", err
	}
	if text == "" {
		if text = r.LifecyclePolicy; text == "" {
			return "", ErrPolicyNotFound
		}
	}
	p, err := Parse(text)
	if err != nil {
		return "", err
	}
	key := repoKey{reg, repo}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.previews[key]; prev != nil && prev.Status == PreviewInProgress && prev.created.Equal(r.CreatedAt) {
		return "", ErrPreviewInProgress
	}
	pv := &Preview{Status: PreviewInProgress, PolicyText: text, created: r.CreatedAt}
	s.previews[key] = pv
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		// The request's context ends with its response; the preview outlives it.
		images, err := s.images(context.WithoutCancel(ctx), reg, repo)
		var decisions []Decision
		if err == nil {
			decisions = p.Evaluate(images, s.clock.Now())
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			pv.Status, pv.Err = PreviewFailed, err
			s.log.Error("lifecycle policy preview failed", "registry", reg, "repository", repo, "err", err)
			return
		}
		pv.Status, pv.Decisions = PreviewComplete, decisions
	}()
	return text, nil
}

// GetPreview returns the repository's latest preview, or ErrPreviewNotFound.
func (s *Service) GetPreview(ctx context.Context, reg core.RegistryID, repo string) (Preview, error) {
	r, err := s.core.GetRepository(ctx, reg, repo)
	if err != nil {
		return Preview{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pv := s.previews[repoKey{reg, repo}]
	if pv == nil || !pv.created.Equal(r.CreatedAt) {
		return Preview{}, ErrPreviewNotFound
	}
	return *pv, nil
}

// WaitPreviews returns once every preview started so far has finished.
func (s *Service) WaitPreviews() { s.running.Wait() }

// ForgetPreviews drops every preview, for a registry reset: repositories
// made again at the same instant on a manual clock would otherwise show the
// previews of those they replace.
func (s *Service) ForgetPreviews() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.previews)
}
