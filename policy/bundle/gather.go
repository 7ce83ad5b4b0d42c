package bundle

import (
	"context"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/policy"
)

// Source is the little of core the inventory is read from.
type Source interface {
	Registries(ctx context.Context) ([]core.RegistryID, error)
	ListRepositories(ctx context.Context, reg core.RegistryID, p core.Page) ([]core.Repository, bool, error)
	Settings(ctx context.Context, reg core.RegistryID) (core.RegistrySettings, error)
}

// Gather reads every registry's policy and scope and every repository's
// policy and tags from src, with the given principals.
func Gather(ctx context.Context, src Source, principals []policy.Principal) (Inventory, error) {
	inv := Inventory{Principals: principals}
	regs, err := src.Registries(ctx)
	if err != nil {
		return inv, err
	}
	for _, reg := range regs {
		s, err := src.Settings(ctx, reg)
		if err != nil {
			return inv, err
		}
		inv.Registries = append(inv.Registries, Registry{Account: reg.Account, Region: reg.Region,
			Policy: s.Policy, Scope: s.AccountSetting("REGISTRY_POLICY_SCOPE")})
		page := core.Page{N: 1000}
		for {
			repos, more, err := src.ListRepositories(ctx, reg, page)
			if err != nil {
				return inv, err
			}
			for _, r := range repos {
				entry := Repository{ARN: core.RepositoryARN(reg, r.Name), Policy: r.Policy}
				if len(r.Tags) > 0 {
					entry.Tags = map[string]string{}
					for _, t := range r.Tags {
						entry.Tags[t.Key] = t.Value
					}
				}
				inv.Repositories = append(inv.Repositories, entry)
			}
			if !more || len(repos) == 0 {
				break
			}
			page.Last = repos[len(repos)-1].Name
		}
	}
	return inv, nil
}
