package ecr

import (
	"errors"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/pullthrough"
)

// The pull-through cache rule operations. The rules live in the pullthrough
// package, which is also the registry's Upstream; without one (Config
// PullThrough nil) a rule would do nothing, so the operations are not
// registered (operations.go) and answer as unknown.

// pullThroughError names pullthrough's errors by ECR's exceptions; core's go
// through toAWS.
func pullThroughError(reg core.RegistryID, url string, err error) error {
	var re *pullthrough.RuleError
	switch {
	case errors.As(err, &re) && errors.Is(err, pullthrough.ErrRuleExists):
		return newError("PullThroughCacheRuleAlreadyExistsException", "A pull through cache rule with the ecrRepositoryPrefix '%s' already exists in the registry with id '%s'", re.Prefix, reg.Account)
	case errors.As(err, &re) && errors.Is(err, pullthrough.ErrRuleNotFound):
		return newError("PullThroughCacheRuleNotFoundException", "The pull through cache rule with the ecrRepositoryPrefix '%s' does not exist in the registry with id '%s'", re.Prefix, reg.Account)
	case errors.Is(err, pullthrough.ErrUnsupportedUpstream):
		return newError("UnsupportedUpstreamRegistryException", "The upstream registry URL '%s' is not supported. The supported upstream registries are <account>.dkr.ecr.<region>.amazonaws.com, public.ecr.aws, registry-1.docker.io, quay.io, registry.k8s.io, ghcr.io, registry.gitlab.com, <name>.azurecr.io and cgr.dev; berth also takes an http:// or https:// URL of any registry", url)
	case errors.Is(err, pullthrough.ErrSecretNotFound):
		return newError("SecretNotFoundException", "%s", err.Error())
	}
	return err
}

func ruleOut(reg core.RegistryID, r pullthrough.Rule) PullThroughCacheRule {
	return PullThroughCacheRule{CreatedAt: At(r.CreatedAt), UpdatedAt: At(r.UpdatedAt), CredentialArn: r.CredentialARN, CustomRoleArn: r.CustomRoleARN,
		EcrRepositoryPrefix: r.Prefix, RegistryId: reg.Account, UpstreamRegistry: r.UpstreamRegistry, UpstreamRegistryUrl: r.UpstreamURL,
		UpstreamRepositoryPrefix: pullthrough.UpstreamPrefixOut(r)}
}

func (h *Handler) createPullThroughCacheRule(c *call, in *CreatePullThroughCacheRuleRequest) (*CreatePullThroughCacheRuleResponse, error) {
	r, err := h.ptc.Create(c.ctx, c.registry, pullthrough.Input{Prefix: in.EcrRepositoryPrefix, UpstreamRegistry: in.UpstreamRegistry,
		UpstreamURL: in.UpstreamRegistryUrl, UpstreamPrefix: in.UpstreamRepositoryPrefix, CredentialARN: in.CredentialArn, CustomRoleARN: in.CustomRoleArn})
	if err != nil {
		return nil, pullThroughError(c.registry, in.UpstreamRegistryUrl, err)
	}
	o := ruleOut(c.registry, r)
	return &CreatePullThroughCacheRuleResponse{CreatedAt: o.CreatedAt, CredentialArn: o.CredentialArn, CustomRoleArn: o.CustomRoleArn,
		EcrRepositoryPrefix: o.EcrRepositoryPrefix, RegistryId: o.RegistryId, UpstreamRegistry: o.UpstreamRegistry,
		UpstreamRegistryUrl: o.UpstreamRegistryUrl, UpstreamRepositoryPrefix: o.UpstreamRepositoryPrefix}, nil
}

// describePullThroughCacheRules lists the rules in prefix order, paged (100
// by default, as DescribePullThroughCacheRules documents).
func (h *Handler) describePullThroughCacheRules(c *call, in *DescribePullThroughCacheRulesRequest) (*DescribePullThroughCacheRulesResponse, error) {
	rules, err := h.ptc.Describe(c.ctx, c.registry, in.EcrRepositoryPrefixes)
	if err != nil {
		return nil, pullThroughError(c.registry, "", err)
	}
	out := make([]PullThroughCacheRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, ruleOut(c.registry, r))
	}
	page, next, err := paginate(out, func(r PullThroughCacheRule) string { return r.EcrRepositoryPrefix }, in.NextToken, in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	return &DescribePullThroughCacheRulesResponse{PullThroughCacheRules: page, NextToken: next}, nil
}

func (h *Handler) updatePullThroughCacheRule(c *call, in *UpdatePullThroughCacheRuleRequest) (*UpdatePullThroughCacheRuleResponse, error) {
	r, err := h.ptc.Update(c.ctx, c.registry, in.EcrRepositoryPrefix, in.CredentialArn, in.CustomRoleArn)
	if err != nil {
		return nil, pullThroughError(c.registry, "", err)
	}
	o := ruleOut(c.registry, r)
	return &UpdatePullThroughCacheRuleResponse{CredentialArn: o.CredentialArn, CustomRoleArn: o.CustomRoleArn, EcrRepositoryPrefix: o.EcrRepositoryPrefix,
		RegistryId: o.RegistryId, UpdatedAt: o.UpdatedAt, UpstreamRepositoryPrefix: o.UpstreamRepositoryPrefix}, nil
}

func (h *Handler) deletePullThroughCacheRule(c *call, in *DeletePullThroughCacheRuleRequest) (*DeletePullThroughCacheRuleResponse, error) {
	r, err := h.ptc.Delete(c.ctx, c.registry, in.EcrRepositoryPrefix)
	if err != nil {
		return nil, pullThroughError(c.registry, "", err)
	}
	o := ruleOut(c.registry, r)
	return &DeletePullThroughCacheRuleResponse{CreatedAt: o.CreatedAt, CredentialArn: o.CredentialArn, CustomRoleArn: o.CustomRoleArn,
		EcrRepositoryPrefix: o.EcrRepositoryPrefix, RegistryId: o.RegistryId, UpstreamRegistryUrl: o.UpstreamRegistryUrl,
		UpstreamRepositoryPrefix: o.UpstreamRepositoryPrefix}, nil
}

// validatePullThroughCacheRule contacts the rule's upstream as a pull would;
// a failure is an answer (isValid false, with the reason), not an error.
func (h *Handler) validatePullThroughCacheRule(c *call, in *ValidatePullThroughCacheRuleRequest) (*ValidatePullThroughCacheRuleResponse, error) {
	r, failure, err := h.ptc.Validate(c.ctx, c.registry, in.EcrRepositoryPrefix)
	if err != nil {
		return nil, pullThroughError(c.registry, "", err)
	}
	o := ruleOut(c.registry, r)
	valid := failure == ""
	return &ValidatePullThroughCacheRuleResponse{CredentialArn: o.CredentialArn, CustomRoleArn: o.CustomRoleArn, EcrRepositoryPrefix: o.EcrRepositoryPrefix,
		Failure: failure, IsValid: &valid, RegistryId: o.RegistryId, UpstreamRegistryUrl: o.UpstreamRegistryUrl,
		UpstreamRepositoryPrefix: o.UpstreamRepositoryPrefix}, nil
}
