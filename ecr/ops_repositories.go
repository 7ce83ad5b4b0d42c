package ecr

import (
	"github.com/berth-dev/berth/core"
)

func mutabilitySettings(mode string, filters []ImageTagMutabilityExclusionFilter) (string, []string, error) {
	mode = orDefault(mode, "MUTABLE")
	withExclusions := mode == "MUTABLE_WITH_EXCLUSION" || mode == "IMMUTABLE_WITH_EXCLUSION"
	if withExclusions && len(filters) == 0 {
		return "", nil, invalidParameter("imageTagMutabilityExclusionFilters", "Exclusion filters are required when imageTagMutability is "+mode)
	}
	if !withExclusions && len(filters) > 0 {
		return "", nil, invalidParameter("imageTagMutabilityExclusionFilters", "Exclusion filters can only be used with MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION")
	}
	var out []string
	for _, f := range filters {
		out = append(out, f.Filter)
	}
	return mode, out, nil
}

func (h *Handler) createRepository(c *call, in *CreateRepositoryRequest) (*CreateRepositoryResponse, error) {
	reg := c.registry
	mode, filters, err := mutabilitySettings(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters)
	if err != nil {
		return nil, err
	}
	tags, err := checkTags(nil, in.Tags)
	if err != nil {
		return nil, err
	}
	enc := in.EncryptionConfiguration
	if enc != nil && enc.EncryptionType == "AES256" && enc.KmsKey != "" {
		return nil, invalidParameter("encryptionConfiguration.kmsKey", "A KMS key can only be given with the KMS or KMS_DSSE encryption type")
	}
	repo, err := h.reg.CreateRepository(c.ctx, reg, in.RepositoryName, func(r *core.Repository) {
		r.ImageTagMutability, r.MutabilityExclusions, r.Tags = mode, filters, tags
		if in.ImageScanningConfiguration != nil {
			r.ScanOnPush = deref(in.ImageScanningConfiguration.ScanOnPush)
		}
		if enc != nil {
			r.EncryptionType, r.KMSKey = enc.EncryptionType, enc.KmsKey
			if r.KMSKey == "" && (enc.EncryptionType == "KMS" || enc.EncryptionType == "KMS_DSSE") {
				r.KMSKey = "arn:aws:kms:" + reg.Region + ":" + reg.Account + ":alias/aws/ecr"
			}
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
	mode, filters, err := mutabilitySettings(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters)
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
