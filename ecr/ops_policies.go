package ecr

import (
	"errors"
	"strings"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/policy"
)

func (h *Handler) setRepositoryPolicy(c *call, in *SetRepositoryPolicyRequest) (*SetRepositoryPolicyResponse, error) {
	reg := c.registry
	if _, err := policy.Parse(in.PolicyText, policy.Repository); err != nil {
		return nil, invalidParameter("PolicyText", "Invalid repository policy provided")
	}
	repo, err := h.reg.UpdateRepository(c.ctx, reg, in.RepositoryName, func(r *core.Repository) error {
		r.Policy = in.PolicyText
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &SetRepositoryPolicyResponse{RegistryId: reg.Account, RepositoryName: repo.Name, PolicyText: repo.Policy}, nil
}

func repositoryPolicyNotFound(reg core.RegistryID, name string) error {
	return newError("RepositoryPolicyNotFoundException", "Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", name, reg.Account)
}

func (h *Handler) getRepositoryPolicy(c *call, in *GetRepositoryPolicyRequest) (*GetRepositoryPolicyResponse, error) {
	reg := c.registry
	repo, err := h.reg.GetRepository(c.ctx, reg, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if repo.Policy == "" {
		return nil, repositoryPolicyNotFound(reg, repo.Name)
	}
	return &GetRepositoryPolicyResponse{RegistryId: reg.Account, RepositoryName: repo.Name, PolicyText: repo.Policy}, nil
}

func (h *Handler) deleteRepositoryPolicy(c *call, in *DeleteRepositoryPolicyRequest) (*DeleteRepositoryPolicyResponse, error) {
	reg := c.registry
	var old string
	repo, err := h.reg.UpdateRepository(c.ctx, reg, in.RepositoryName, func(r *core.Repository) error {
		if r.Policy == "" {
			return repositoryPolicyNotFound(reg, r.Name)
		}
		old, r.Policy = r.Policy, ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &DeleteRepositoryPolicyResponse{RegistryId: reg.Account, RepositoryName: repo.Name, PolicyText: old}, nil
}

// v1RegistryActions are the actions a registry policy may grant under
// REGISTRY_POLICY_SCOPE V1.
var v1RegistryActions = []string{"ecr:replicateimage", "ecr:batchimportupstreamimage", "ecr:createrepository"}

func (h *Handler) putRegistryPolicy(c *call, in *PutRegistryPolicyRequest) (*PutRegistryPolicyResponse, error) {
	reg := c.registry
	doc, err := policy.Parse(in.PolicyText, policy.Registry)
	if err != nil {
		return nil, invalidParameter("PolicyText", "Invalid registry policy provided")
	}
	s, err := h.reg.UpdateSettings(c.ctx, reg, func(s *core.RegistrySettings) error {
		if s.AccountSetting("REGISTRY_POLICY_SCOPE") == "V1" {
			for _, a := range doc.Actions() {
				if !contains(v1RegistryActions, strings.ToLower(a)) {
					return invalidParameter("PolicyText", "Invalid registry policy provided: action "+a+" is not allowed with REGISTRY_POLICY_SCOPE V1")
				}
			}
		}
		s.Policy = in.PolicyText
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &PutRegistryPolicyResponse{RegistryId: reg.Account, PolicyText: s.Policy}, nil
}

var errNoRegistryPolicy = errors.New("no registry policy")

func registryPolicyNotFound(reg core.RegistryID) error {
	return newError("RegistryPolicyNotFoundException", "Registry policy does not exist in the registry with id '%s'", reg.Account)
}

func (h *Handler) getRegistryPolicy(c *call, in *GetRegistryPolicyRequest) (*GetRegistryPolicyResponse, error) {
	reg := c.registry
	s, err := h.reg.Settings(c.ctx, reg)
	if err != nil {
		return nil, err
	}
	if s.Policy == "" {
		return nil, registryPolicyNotFound(reg)
	}
	return &GetRegistryPolicyResponse{RegistryId: reg.Account, PolicyText: s.Policy}, nil
}

func (h *Handler) deleteRegistryPolicy(c *call, in *DeleteRegistryPolicyRequest) (*DeleteRegistryPolicyResponse, error) {
	reg := c.registry
	var old string
	_, err := h.reg.UpdateSettings(c.ctx, reg, func(s *core.RegistrySettings) error {
		if s.Policy == "" {
			return errNoRegistryPolicy
		}
		old, s.Policy = s.Policy, ""
		return nil
	})
	if errors.Is(err, errNoRegistryPolicy) {
		return nil, registryPolicyNotFound(reg)
	}
	if err != nil {
		return nil, err
	}
	return &DeleteRegistryPolicyResponse{RegistryId: reg.Account, PolicyText: old}, nil
}
