package scanning

import (
	"context"
	"slices"

	"github.com/berth-dev/berth/core"
)

// RegistryConfig returns the registry's scanning configuration: ECR's
// default, BASIC with no rules, until one is put.
func (s *Service) RegistryConfig(ctx context.Context, reg core.RegistryID) (core.ScanningConfig, error) {
	settings, err := s.core.Settings(ctx, reg)
	if err != nil {
		return core.ScanningConfig{}, err
	}
	return configOrDefault(settings.Scanning), nil
}

func configOrDefault(c *core.ScanningConfig) core.ScanningConfig {
	if c == nil {
		return core.ScanningConfig{ScanType: ScanTypeBasic}
	}
	out := *c
	out.Rules = slices.Clone(c.Rules)
	return out
}

// PutRegistryConfig validates cfg (ValidateConfig; a *ConfigError when it
// cannot be stored) and replaces the registry's scanning configuration with
// it. An empty scan type is BASIC.
func (s *Service) PutRegistryConfig(ctx context.Context, reg core.RegistryID, cfg core.ScanningConfig) (core.ScanningConfig, error) {
	if cfg.ScanType == "" {
		cfg.ScanType = ScanTypeBasic
	}
	if err := ValidateConfig(cfg); err != nil {
		return core.ScanningConfig{}, err
	}
	settings, err := s.core.UpdateSettings(ctx, reg, func(rs *core.RegistrySettings) error {
		c := cfg
		c.Rules = slices.Clone(cfg.Rules)
		rs.Scanning = &c
		return nil
	})
	if err != nil {
		return core.ScanningConfig{}, err
	}
	return configOrDefault(settings.Scanning), nil
}

// RepositoryConfig returns how a repository is scanned (Applied), or core's
// KindRepositoryNotFound.
func (s *Service) RepositoryConfig(ctx context.Context, reg core.RegistryID, repo string) (RepositoryConfig, error) {
	r, err := s.core.GetRepository(ctx, reg, repo)
	if err != nil {
		return RepositoryConfig{}, err
	}
	settings, err := s.core.Settings(ctx, reg)
	if err != nil {
		return RepositoryConfig{}, err
	}
	return Applied(settings.Scanning, r), nil
}
