package ecr

import (
	"slices"
	"sort"

	"github.com/berth-dev/berth/core"
)

func (h *Handler) describeRegistry(c *call, in *DescribeRegistryRequest) (*DescribeRegistryResponse, error) {
	cfg, err := h.replication.Get(c.ctx, c.registry)
	if err != nil {
		return nil, err
	}
	return &DescribeRegistryResponse{RegistryId: c.registry.Account, ReplicationConfiguration: replicationOut(cfg)}, nil
}

// accountSettingValues lists each account setting's allowed values.
var accountSettingValues = map[string][]string{
	"BASIC_SCAN_TYPE_VERSION": {"AWS_NATIVE", "CLAIR"},
	"REGISTRY_POLICY_SCOPE":   {"V1", "V2"},
	"BLOB_MOUNTING":           {"ENABLED", "DISABLED"},
}

func settingName(name string) error {
	if _, ok := accountSettingValues[name]; !ok {
		return newError("ValidationException", "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy enum value set: [BASIC_SCAN_TYPE_VERSION, REGISTRY_POLICY_SCOPE, BLOB_MOUNTING]", name)
	}
	return nil
}

func (h *Handler) getAccountSetting(c *call, in *GetAccountSettingRequest) (*GetAccountSettingResponse, error) {
	if err := settingName(in.Name); err != nil {
		return nil, err
	}
	s, err := h.reg.Settings(c.ctx, c.registry)
	if err != nil {
		return nil, err
	}
	return &GetAccountSettingResponse{Name: in.Name, Value: s.AccountSetting(in.Name)}, nil
}

func (h *Handler) putAccountSetting(c *call, in *PutAccountSettingRequest) (*PutAccountSettingResponse, error) {
	if err := settingName(in.Name); err != nil {
		return nil, err
	}
	if !slices.Contains(accountSettingValues[in.Name], in.Value) {
		return nil, newError("ValidationException", "1 validation error detected: Value '%s' at 'value' failed to satisfy constraint: Member must be one of %v for %s", in.Value, accountSettingValues[in.Name], in.Name)
	}
	_, err := h.reg.UpdateSettings(c.ctx, c.registry, func(s *core.RegistrySettings) error {
		if s.Account == nil {
			s.Account = map[string]string{}
		}
		s.Account[in.Name] = in.Value
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &PutAccountSettingResponse{Name: in.Name, Value: in.Value}, nil
}

// maxPullTimeExclusions is ECR's quota of excluded principals per registry.
const maxPullTimeExclusions = 100

func (h *Handler) registerPullTimeUpdateExclusion(c *call, in *RegisterPullTimeUpdateExclusionRequest) (*RegisterPullTimeUpdateExclusionResponse, error) {
	_, err := h.reg.UpdateSettings(c.ctx, c.registry, func(s *core.RegistrySettings) error {
		if slices.Contains(s.PullTimeExclusions, in.PrincipalArn) {
			return newError("ExclusionAlreadyExistsException", "The principal '%s' is already excluded from pull time updates", in.PrincipalArn)
		}
		if len(s.PullTimeExclusions) >= maxPullTimeExclusions {
			return newError("LimitExceededException", "A registry can exclude at most %d principals", maxPullTimeExclusions)
		}
		s.PullTimeExclusions = append(s.PullTimeExclusions, in.PrincipalArn)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &RegisterPullTimeUpdateExclusionResponse{PrincipalArn: in.PrincipalArn, CreatedAt: At(h.reg.Clock().Now())}, nil
}

func (h *Handler) deregisterPullTimeUpdateExclusion(c *call, in *DeregisterPullTimeUpdateExclusionRequest) (*DeregisterPullTimeUpdateExclusionResponse, error) {
	_, err := h.reg.UpdateSettings(c.ctx, c.registry, func(s *core.RegistrySettings) error {
		i := slices.Index(s.PullTimeExclusions, in.PrincipalArn)
		if i < 0 {
			return newError("ExclusionNotFoundException", "The principal '%s' is not excluded from pull time updates", in.PrincipalArn)
		}
		s.PullTimeExclusions = slices.Delete(s.PullTimeExclusions, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &DeregisterPullTimeUpdateExclusionResponse{PrincipalArn: in.PrincipalArn}, nil
}

func (h *Handler) listPullTimeUpdateExclusions(c *call, in *ListPullTimeUpdateExclusionsRequest) (*ListPullTimeUpdateExclusionsResponse, error) {
	s, err := h.reg.Settings(c.ctx, c.registry)
	if err != nil {
		return nil, err
	}
	arns := slices.Clone(s.PullTimeExclusions)
	sort.Strings(arns)
	out := &ListPullTimeUpdateExclusionsResponse{}
	out.PullTimeUpdateExclusions, out.NextToken, err = paginate(arns, func(a string) string { return a }, in.NextToken, in.MaxResults, 100)
	return out, err
}
