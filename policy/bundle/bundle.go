// Package bundle writes berth's policies and identities as a Rego bundle:
// the library berth decides with, one module per stored policy, and the
// inventory that ties them to principals, repositories and registries. With
// it, users test their policies as code with OPA's own tools:
//
//	opa test ./bundle ./my_tests
//
// The layout is stable:
//
//	berth/lib/*.rego                 packages berth.iam, berth.authz, berth.world
//	berth/policies/<id>.rego         package berth.policies.<id>, one per policy text
//	berth/inventory/data.json        data.berth.inventory
//
// and data.berth.world.request(principal, action, resource) builds the input
// berth itself gives data.berth.authz.decision for that request.
package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/berth-dev/berth/policy"
	berthrego "github.com/berth-dev/berth/rego"
)

// Inventory is what the bundle describes.
type Inventory struct {
	Principals   []policy.Principal `json:"principals"`
	Repositories []Repository       `json:"repositories"`
	Registries   []Registry         `json:"registries"`
}

// Repository is one repository with its policy and tags.
type Repository struct {
	ARN    string            `json:"arn"`
	Policy string            `json:"policy,omitempty"` // policy text
	Tags   map[string]string `json:"tags,omitempty"`
}

// Registry is one registry (account × region) with its policy and scope.
type Registry struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Policy  string `json:"policy,omitempty"` // policy text
	Scope   string `json:"scope,omitempty"`  // REGISTRY_POLICY_SCOPE: V1 or V2
}

// Files returns the bundle's files, path → content. A policy that does not
// compile is an error naming its owner: it could not have been stored.
func Files(inv Inventory) (map[string][]byte, error) {
	files := map[string][]byte{}
	for name, src := range berthrego.Library() {
		files["berth/lib/"+name] = []byte(src)
	}
	add := func(text string, kind policy.Kind, owner string) (string, error) {
		id, module, err := policy.Compile(text, kind)
		if err != nil {
			return "", fmt.Errorf("%s: %w", owner, err)
		}
		files["berth/policies/"+id+".rego"] = []byte(module)
		return id, nil
	}

	principals := map[string]any{}
	for _, p := range inv.Principals {
		ids := []string{}
		for i, text := range p.Policies {
			id, err := add(text, policy.Identity, fmt.Sprintf("identity policy %d of %s", i+1, p.ARN))
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		principals[p.ARN] = map[string]any{
			"arn": p.ARN, "account": p.Account, "type": p.Type, "role_arn": p.RoleARN,
			"userid": p.UserID, "username": p.Username, "tags": orEmpty(p.Tags),
			"org_id": p.OrgID, "org_paths": orNone(p.OrgPaths), "policies": ids,
		}
	}
	repositories := map[string]any{}
	for _, r := range inv.Repositories {
		entry := map[string]any{"tags": orEmpty(r.Tags), "policy": ""}
		if r.Policy != "" {
			id, err := add(r.Policy, policy.Repository, "repository policy of "+r.ARN)
			if err != nil {
				return nil, err
			}
			entry["policy"] = id
		}
		repositories[r.ARN] = entry
	}
	registries := map[string]any{}
	for _, g := range inv.Registries {
		scope := g.Scope
		if scope == "" {
			scope = "V2"
		}
		entry := map[string]any{"policy": "", "scope": scope}
		if g.Policy != "" {
			id, err := add(g.Policy, policy.Registry, "registry policy of "+g.Account+" in "+g.Region)
			if err != nil {
				return nil, err
			}
			entry["policy"] = id
		}
		registries[g.Account+"/"+g.Region] = entry
	}
	data, err := json.MarshalIndent(map[string]any{
		"principals": principals, "repositories": repositories, "registries": registries,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	files["berth/inventory/data.json"] = append(data, '\n')
	return files, nil
}

// Write writes the bundle's files under dir, replacing what berth wrote
// there before (berth/) and leaving everything else — such as the user's
// own tests — alone.
func Write(dir string, inv Inventory) error {
	files, err := Files(inv)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(dir, "berth")); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func orNone(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
