package ecr

import (
	"errors"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/templates"
)

// templateError names the templates package's errors by ECR's exceptions;
// core's go through toAWS.
func templateError(reg core.RegistryID, prefix string, err error) error {
	switch {
	case errors.Is(err, templates.ErrExists):
		return newError("TemplateAlreadyExistsException", "The repository creation template with prefix '%s' already exists in the registry with id '%s'", prefix, reg.Account)
	case errors.Is(err, templates.ErrNotFound):
		return newError("TemplateNotFoundException", "The repository creation template with prefix '%s' does not exist in the registry with id '%s'", prefix, reg.Account)
	}
	return err
}

func reasons(in []string) []core.CreateReason {
	out := make([]core.CreateReason, 0, len(in))
	for _, r := range in {
		out = append(out, core.CreateReason(r))
	}
	return out
}

func filterPatterns(filters []ImageTagMutabilityExclusionFilter) []string {
	var out []string
	for _, f := range filters {
		out = append(out, f.Filter)
	}
	return out
}

// templateOut describes a template as ECR does, with the defaults a
// template that sets nothing has: MUTABLE tags, AES256 encryption.
func templateOut(t templates.Template) *RepositoryCreationTemplate {
	out := &RepositoryCreationTemplate{
		Prefix: t.Prefix, Description: t.Description, CustomRoleArn: t.CustomRoleARN,
		ImageTagMutability: orDefault(t.ImageTagMutability, "MUTABLE"),
		EncryptionConfiguration: &EncryptionConfigurationForRepositoryCreationTemplate{
			EncryptionType: orDefault(t.EncryptionType, "AES256"), KmsKey: t.KMSKey},
		RepositoryPolicy: t.RepositoryPolicy, LifecyclePolicy: t.LifecyclePolicy,
		AppliedFor: []string{}, ResourceTags: []Tag{},
		CreatedAt: At(t.CreatedAt), UpdatedAt: At(t.UpdatedAt),
	}
	for _, r := range t.AppliedFor {
		out.AppliedFor = append(out.AppliedFor, string(r))
	}
	for _, tag := range t.ResourceTags {
		out.ResourceTags = append(out.ResourceTags, Tag{Key: tag.Key, Value: tag.Value})
	}
	for _, f := range t.MutabilityExclusions {
		out.ImageTagMutabilityExclusionFilters = append(out.ImageTagMutabilityExclusionFilters, ImageTagMutabilityExclusionFilter{FilterType: "WILDCARD", Filter: f})
	}
	return out
}

func (h *Handler) createRepositoryCreationTemplate(c *call, in *CreateRepositoryCreationTemplateRequest) (*CreateRepositoryCreationTemplateResponse, error) {
	t := templates.Template{
		Prefix: in.Prefix, Description: in.Description, AppliedFor: reasons(in.AppliedFor),
		ResourceTags: resourceTags(in.ResourceTags), ImageTagMutability: in.ImageTagMutability,
		MutabilityExclusions: filterPatterns(in.ImageTagMutabilityExclusionFilters),
		RepositoryPolicy:     in.RepositoryPolicy, LifecyclePolicy: in.LifecyclePolicy, CustomRoleARN: in.CustomRoleArn,
	}
	if enc := in.EncryptionConfiguration; enc != nil {
		t.EncryptionType, t.KMSKey = enc.EncryptionType, enc.KmsKey
	}
	created, err := h.templates.Create(c.ctx, c.registry, t)
	if err != nil {
		return nil, templateError(c.registry, in.Prefix, err)
	}
	return &CreateRepositoryCreationTemplateResponse{RegistryId: c.registry.Account, RepositoryCreationTemplate: templateOut(created)}, nil
}

// updateTemplateInput is UpdateRepositoryCreationTemplateRequest with
// pointers, so that a member the request leaves out keeps the template's
// value, while one it gives — even empty, to clear a description or a
// policy — replaces it.
type updateTemplateInput struct {
	Prefix                             string                                                `json:"prefix"`
	AppliedFor                         *[]string                                             `json:"appliedFor"`
	CustomRoleArn                      *string                                               `json:"customRoleArn"`
	Description                        *string                                               `json:"description"`
	EncryptionConfiguration            *EncryptionConfigurationForRepositoryCreationTemplate `json:"encryptionConfiguration"`
	ImageTagMutability                 *string                                               `json:"imageTagMutability"`
	ImageTagMutabilityExclusionFilters *[]ImageTagMutabilityExclusionFilter                  `json:"imageTagMutabilityExclusionFilters"`
	LifecyclePolicy                    *string                                               `json:"lifecyclePolicy"`
	RepositoryPolicy                   *string                                               `json:"repositoryPolicy"`
	ResourceTags                       *[]Tag                                                `json:"resourceTags"`
}

func (h *Handler) updateRepositoryCreationTemplate(c *call, in *updateTemplateInput) (*UpdateRepositoryCreationTemplateResponse, error) {
	updated, err := h.templates.Update(c.ctx, c.registry, in.Prefix, func(t *templates.Template) {
		if in.AppliedFor != nil {
			t.AppliedFor = reasons(*in.AppliedFor)
		}
		if in.CustomRoleArn != nil {
			t.CustomRoleARN = *in.CustomRoleArn
		}
		if in.Description != nil {
			t.Description = *in.Description
		}
		if enc := in.EncryptionConfiguration; enc != nil {
			t.EncryptionType, t.KMSKey = enc.EncryptionType, enc.KmsKey
		}
		// A new mode comes with its own exclusion filters (none if the
		// request gives none); filters alone keep the mode.
		if in.ImageTagMutability != nil {
			t.ImageTagMutability, t.MutabilityExclusions = *in.ImageTagMutability, nil
		}
		if in.ImageTagMutabilityExclusionFilters != nil {
			t.MutabilityExclusions = filterPatterns(*in.ImageTagMutabilityExclusionFilters)
		}
		if in.LifecyclePolicy != nil {
			t.LifecyclePolicy = *in.LifecyclePolicy
		}
		if in.RepositoryPolicy != nil {
			t.RepositoryPolicy = *in.RepositoryPolicy
		}
		if in.ResourceTags != nil {
			t.ResourceTags = resourceTags(*in.ResourceTags)
		}
	})
	if err != nil {
		return nil, templateError(c.registry, in.Prefix, err)
	}
	return &UpdateRepositoryCreationTemplateResponse{RegistryId: c.registry.Account, RepositoryCreationTemplate: templateOut(updated)}, nil
}

func (h *Handler) deleteRepositoryCreationTemplate(c *call, in *DeleteRepositoryCreationTemplateRequest) (*DeleteRepositoryCreationTemplateResponse, error) {
	deleted, err := h.templates.Delete(c.ctx, c.registry, in.Prefix)
	if err != nil {
		return nil, templateError(c.registry, in.Prefix, err)
	}
	return &DeleteRepositoryCreationTemplateResponse{RegistryId: c.registry.Account, RepositoryCreationTemplate: templateOut(deleted)}, nil
}

// describeRepositoryCreationTemplates lists templates in prefix order, paged;
// prefixes without a template are left out, as the operation declares no
// TemplateNotFoundException.
func (h *Handler) describeRepositoryCreationTemplates(c *call, in *DescribeRepositoryCreationTemplatesRequest) (*DescribeRepositoryCreationTemplatesResponse, error) {
	ts, err := h.templates.List(c.ctx, c.registry, in.Prefixes...)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(ts, func(t templates.Template) string { return t.Prefix }, in.NextToken, in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	out := &DescribeRepositoryCreationTemplatesResponse{RegistryId: c.registry.Account, NextToken: next, RepositoryCreationTemplates: []RepositoryCreationTemplate{}}
	for _, t := range page {
		out.RepositoryCreationTemplates = append(out.RepositoryCreationTemplates, *templateOut(t))
	}
	return out, nil
}
