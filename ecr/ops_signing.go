package ecr

import (
	"errors"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/signing"
)

func signingIn(in *SigningConfiguration) signing.Configuration {
	cfg := signing.Configuration{Rules: []signing.Rule{}}
	if in == nil {
		return cfg
	}
	for _, r := range in.Rules {
		rule := signing.Rule{SigningProfileArn: r.SigningProfileArn}
		for _, f := range r.RepositoryFilters {
			rule.RepositoryFilters = append(rule.RepositoryFilters, signing.Filter{Filter: f.Filter, FilterType: f.FilterType})
		}
		cfg.Rules = append(cfg.Rules, rule)
	}
	return cfg
}

func signingOut(cfg signing.Configuration) *SigningConfiguration {
	out := &SigningConfiguration{Rules: []SigningRule{}}
	for _, r := range cfg.Rules {
		rule := SigningRule{SigningProfileArn: r.SigningProfileArn}
		for _, f := range r.RepositoryFilters {
			rule.RepositoryFilters = append(rule.RepositoryFilters, SigningRepositoryFilter{Filter: f.Filter, FilterType: f.FilterType})
		}
		out.Rules = append(out.Rules, rule)
	}
	return out
}

// signingError names a missing configuration as the model does.
func signingError(reg core.RegistryID, err error) error {
	if errors.Is(err, signing.ErrConfigurationNotFound) {
		return newError("SigningConfigurationNotFoundException", "Signing configuration does not exist for the registry with id '%s'", reg.Account)
	}
	return err
}

func (h *Handler) putSigningConfiguration(c *call, in *PutSigningConfigurationRequest) (*PutSigningConfigurationResponse, error) {
	cfg, err := h.signing.Put(c.ctx, c.registry, signingIn(in.SigningConfiguration))
	if err != nil {
		return nil, err
	}
	return &PutSigningConfigurationResponse{SigningConfiguration: signingOut(cfg)}, nil
}

func (h *Handler) getSigningConfiguration(c *call, in *GetSigningConfigurationRequest) (*GetSigningConfigurationResponse, error) {
	cfg, err := h.signing.Get(c.ctx, c.registry)
	if err != nil {
		return nil, signingError(c.registry, err)
	}
	return &GetSigningConfigurationResponse{RegistryId: c.registry.Account, SigningConfiguration: signingOut(cfg)}, nil
}

func (h *Handler) deleteSigningConfiguration(c *call, in *DeleteSigningConfigurationRequest) (*DeleteSigningConfigurationResponse, error) {
	cfg, err := h.signing.Delete(c.ctx, c.registry)
	if err != nil {
		return nil, signingError(c.registry, err)
	}
	return &DeleteSigningConfigurationResponse{RegistryId: c.registry.Account, SigningConfiguration: signingOut(cfg)}, nil
}

// describeImageSigningStatus reports an image's status with each signing
// profile that signed it (none before any).
func (h *Handler) describeImageSigningStatus(c *call, in *DescribeImageSigningStatusRequest) (*DescribeImageSigningStatusResponse, error) {
	reg := c.registry
	dg, failure := checkID(*in.ImageId)
	if failure != nil {
		return nil, invalidParameter("imageId", failure.FailureReason)
	}
	img, statuses, err := h.signing.Statuses(c.ctx, reg, in.RepositoryName, dg, in.ImageId.ImageTag)
	if core.IsKind(err, core.KindManifestNotFound) {
		return nil, newError("ImageNotFoundException", "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
			orDefault(in.ImageId.ImageDigest, "null"), orDefault(in.ImageId.ImageTag, "null"), in.RepositoryName, reg.Account)
	}
	if err != nil {
		return nil, err
	}
	out := &DescribeImageSigningStatusResponse{RegistryId: reg.Account, RepositoryName: in.RepositoryName,
		ImageId:         &ImageIdentifier{ImageDigest: img.Digest.String(), ImageTag: in.ImageId.ImageTag},
		SigningStatuses: []ImageSigningStatus{}}
	for _, st := range statuses {
		out.SigningStatuses = append(out.SigningStatuses, ImageSigningStatus{SigningProfileArn: st.SigningProfileArn,
			Status: st.Status, FailureCode: st.FailureCode, FailureReason: st.FailureReason})
	}
	return out, nil
}
