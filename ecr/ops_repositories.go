package ecr

import (
	"github.com/berth-dev/berth/core"
)

// mutability checks the mode and exclusion filters as core does for every
// repository, templates included.
func mutability(mode string, filters []ImageTagMutabilityExclusionFilter) (string, []string, error) {
	var patterns []string
	for _, f := range filters {
		patterns = append(patterns, f.Filter)
	}
	return core.NormalizeMutability(mode, patterns)
}

func resourceTags(tags []Tag) []core.ResourceTag {
	out := make([]core.ResourceTag, 0, len(tags))
	for _, t := range tags {
		out = append(out, core.ResourceTag{Key: t.Key, Value: t.Value})
	}
	return out
}

func (h *Handler) createRepository(c *call, in *CreateRepositoryRequest) (*CreateRepositoryResponse, error) {
	reg := c.registry
	mode, filters, err := mutability(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters)
	if err != nil {
		return nil, err
	}
	tags, err := core.MergeTags(nil, resourceTags(in.Tags))
	if err != nil {
		return nil, err
	}
	var encType, kmsKey string
	if enc := in.EncryptionConfiguration; enc != nil {
		if encType, kmsKey, err = core.DefaultEncryption(reg, enc.EncryptionType, enc.KmsKey); err != nil {
			return nil, err
		}
	}
	repo, err := h.reg.CreateRepository(c.ctx, reg, in.RepositoryName, func(r *core.Repository) {
		r.ImageTagMutability, r.MutabilityExclusions, r.Tags = mode, filters, tags
		r.EncryptionType, r.KMSKey = encType, kmsKey
		if in.ImageScanningConfiguration != nil {
			r.ScanOnPush = deref(in.ImageScanningConfiguration.ScanOnPush)
		}
	})
	if err != nil {
		return nil, err
	}
	return &CreateRepositoryResponse{Repository: h.repositoryOut(c, repo)}, nil
}

func (h *Handler) describeRepositories(c *call, in *DescribeRepositoriesRequest) (*DescribeRepositoriesResponse, error) {
	reg := c.registry
	out := &DescribeRepositoriesResponse{Repositories: []Repository{}}
	if len(in.RepositoryNames) > 0 {
		if in.MaxResults != nil || in.NextToken != "" {
			return nil, invalidParameter("maxResults", "maxResults and nextToken cannot be used with repositoryNames")
		}
		for _, name := range in.RepositoryNames {
			repo, err := h.reg.GetRepository(c.ctx, reg, name)
			if err != nil {
				return nil, err
			}
			out.Repositories = append(out.Repositories, *h.repositoryOut(c, repo))
		}
		return out, nil
	}
	last, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	n := 100
	if in.MaxResults != nil {
		n = int(*in.MaxResults)
	}
	repos, more, err := h.reg.ListRepositories(c.ctx, reg, core.Page{Last: last, N: n})
	if err != nil {
		return nil, err
	}
	for _, r := range repos {
		out.Repositories = append(out.Repositories, *h.repositoryOut(c, r))
	}
	if more {
		out.NextToken = encodeToken(repos[len(repos)-1].Name)
	}
	return out, nil
}

func (h *Handler) deleteRepository(c *call, in *DeleteRepositoryRequest) (*DeleteRepositoryResponse, error) {
	reg := c.registry
	repo, err := h.reg.DeleteRepository(c.ctx, reg, in.RepositoryName, deref(in.Force))
	if err != nil {
		return nil, err
	}
	return &DeleteRepositoryResponse{Repository: h.repositoryOut(c, repo)}, nil
}

func (h *Handler) putImageTagMutability(c *call, in *PutImageTagMutabilityRequest) (*PutImageTagMutabilityResponse, error) {
	reg := c.registry
	mode, filters, err := mutability(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters)
	if err != nil {
		return nil, err
	}
	repo, err := h.reg.UpdateRepository(c.ctx, reg, in.RepositoryName, func(r *core.Repository) error {
		r.ImageTagMutability, r.MutabilityExclusions = mode, filters
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := h.repositoryOut(c, repo)
	return &PutImageTagMutabilityResponse{RegistryId: reg.Account, RepositoryName: repo.Name,
		ImageTagMutability: out.ImageTagMutability, ImageTagMutabilityExclusionFilters: out.ImageTagMutabilityExclusionFilters}, nil
}

func (h *Handler) putImageScanningConfiguration(c *call, in *PutImageScanningConfigurationRequest) (*PutImageScanningConfigurationResponse, error) {
	reg := c.registry
	repo, err := h.reg.UpdateRepository(c.ctx, reg, in.RepositoryName, func(r *core.Repository) error {
		r.ScanOnPush = deref(in.ImageScanningConfiguration.ScanOnPush)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &PutImageScanningConfigurationResponse{RegistryId: reg.Account, RepositoryName: repo.Name,
		ImageScanningConfiguration: &ImageScanningConfiguration{ScanOnPush: boolp(repo.ScanOnPush)}}, nil
}
