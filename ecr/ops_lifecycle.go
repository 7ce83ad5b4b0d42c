package ecr

import (
	"errors"
	"slices"
	"strings"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/lifecycle"
)

// lifecycleError names lifecycle's errors by ECR's exceptions; core's go
// through toAWS.
func lifecycleError(reg core.RegistryID, repo string, err error) error {
	switch {
	case errors.Is(err, lifecycle.ErrPolicyNotFound):
		return newError("LifecyclePolicyNotFoundException", "Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", repo, reg.Account)
	case errors.Is(err, lifecycle.ErrPreviewNotFound):
		return newError("LifecyclePolicyPreviewNotFoundException", "Lifecycle policy preview does not exist for the repository with name '%s' in the registry with id '%s'", repo, reg.Account)
	case errors.Is(err, lifecycle.ErrPreviewInProgress):
		return newError("LifecyclePolicyPreviewInProgressException", "Previous lifecycle policy preview request has not been completed for the repository with name '%s' in the registry with id '%s'", repo, reg.Account)
	}
	return err
}

func (h *Handler) putLifecyclePolicy(c *call, in *PutLifecyclePolicyRequest) (*PutLifecyclePolicyResponse, error) {
	repo, err := h.lifecycle.Put(c.ctx, c.registry, in.RepositoryName, in.LifecyclePolicyText)
	if err != nil {
		return nil, lifecycleError(c.registry, in.RepositoryName, err)
	}
	return &PutLifecyclePolicyResponse{RegistryId: c.registry.Account, RepositoryName: repo.Name, LifecyclePolicyText: repo.LifecyclePolicy}, nil
}

func (h *Handler) getLifecyclePolicy(c *call, in *GetLifecyclePolicyRequest) (*GetLifecyclePolicyResponse, error) {
	repo, err := h.lifecycle.Get(c.ctx, c.registry, in.RepositoryName)
	if err != nil {
		return nil, lifecycleError(c.registry, in.RepositoryName, err)
	}
	return &GetLifecyclePolicyResponse{RegistryId: c.registry.Account, RepositoryName: repo.Name, LifecyclePolicyText: repo.LifecyclePolicy,
		LastEvaluatedAt: At(repo.LifecycleEvaluatedAt)}, nil
}

func (h *Handler) deleteLifecyclePolicy(c *call, in *DeleteLifecyclePolicyRequest) (*DeleteLifecyclePolicyResponse, error) {
	repo, err := h.lifecycle.Delete(c.ctx, c.registry, in.RepositoryName)
	if err != nil {
		return nil, lifecycleError(c.registry, in.RepositoryName, err)
	}
	return &DeleteLifecyclePolicyResponse{RegistryId: c.registry.Account, RepositoryName: repo.Name, LifecyclePolicyText: repo.LifecyclePolicy,
		LastEvaluatedAt: At(repo.LifecycleEvaluatedAt)}, nil
}

func (h *Handler) startLifecyclePolicyPreview(c *call, in *StartLifecyclePolicyPreviewRequest) (*StartLifecyclePolicyPreviewResponse, error) {
	text, err := h.lifecycle.StartPreview(c.ctx, c.registry, in.RepositoryName, in.LifecyclePolicyText)
	if err != nil {
		return nil, lifecycleError(c.registry, in.RepositoryName, err)
	}
	return &StartLifecyclePolicyPreviewResponse{RegistryId: c.registry.Account, RepositoryName: in.RepositoryName,
		LifecyclePolicyText: text, Status: lifecycle.PreviewInProgress}, nil
}

// getLifecyclePolicyPreview reports a preview's status and, once it is
// COMPLETE, its results (in digest order, paged) and summary. imageIds and
// filter.tagStatus narrow the results; the summary counts them all.
func (h *Handler) getLifecyclePolicyPreview(c *call, in *GetLifecyclePolicyPreviewRequest) (*GetLifecyclePolicyPreviewResponse, error) {
	if len(in.ImageIds) > 0 && (in.MaxResults != nil || in.NextToken != "") {
		return nil, invalidParameter("maxResults", "maxResults and nextToken cannot be used with imageIds")
	}
	pv, err := h.lifecycle.GetPreview(c.ctx, c.registry, in.RepositoryName)
	if err != nil {
		return nil, lifecycleError(c.registry, in.RepositoryName, err)
	}
	out := &GetLifecyclePolicyPreviewResponse{RegistryId: c.registry.Account, RepositoryName: in.RepositoryName,
		LifecyclePolicyText: pv.PolicyText, Status: pv.Status, PreviewResults: []LifecyclePolicyPreviewResult{}}
	if pv.Status != lifecycle.PreviewComplete {
		return out, nil
	}
	expiring, archiving := 0, 0
	var results []LifecyclePolicyPreviewResult
	for _, d := range pv.Decisions {
		result := LifecyclePolicyPreviewResult{ImageDigest: d.Image.Digest.String(), ImageTags: slices.Clone(d.Image.Tags), ImagePushedAt: At(d.Image.PushedAt),
			AppliedRulePriority: i32(d.RulePriority), StorageClass: "STANDARD", Action: &LifecyclePolicyRuleAction{Type: strings.ToUpper(d.Action)}}
		if d.Image.Archived {
			result.StorageClass = "ARCHIVE"
		}
		if d.Action == lifecycle.ActionTransition {
			result.Action.TargetStorageClass = "ARCHIVE"
			archiving++
		} else {
			expiring++
		}
		if previewMatches(in, d) {
			results = append(results, result)
		}
	}
	out.Summary = &LifecyclePolicyPreviewSummary{ExpiringImageTotalCount: i32(expiring)}
	if archiving > 0 {
		out.Summary.TransitioningImageTotalCounts = []TransitioningImageTotalCount{{TargetStorageClass: "ARCHIVE", ImageTotalCount: i32(archiving)}}
	}
	slices.SortFunc(results, func(a, b LifecyclePolicyPreviewResult) int { return strings.Compare(a.ImageDigest, b.ImageDigest) })
	if len(in.ImageIds) > 0 {
		out.PreviewResults = append(out.PreviewResults, results...)
		return out, nil
	}
	out.PreviewResults, out.NextToken, err = paginate(results, func(r LifecyclePolicyPreviewResult) string { return r.ImageDigest }, in.NextToken, in.MaxResults, 100)
	return out, err
}

// previewMatches applies GetLifecyclePolicyPreview's imageIds and tagStatus filter.
func previewMatches(in *GetLifecyclePolicyPreviewRequest, d lifecycle.Decision) bool {
	if in.Filter != nil && !tagStatusMatches(in.Filter.TagStatus, d.Image.Tags) {
		return false
	}
	if len(in.ImageIds) == 0 {
		return true
	}
	return slices.ContainsFunc(in.ImageIds, func(id ImageIdentifier) bool {
		return (id.ImageDigest == "" || id.ImageDigest == d.Image.Digest.String()) &&
			(id.ImageTag == "" || slices.Contains(d.Image.Tags, id.ImageTag)) &&
			(id.ImageDigest != "" || id.ImageTag != "")
	})
}
