// Package identity reads berth's --iam-config file: accounts with their
// organization, users and roles with access key ids, principal tags and
// identity policies. A Directory resolves principal ARNs for the policy
// engine (policy.Principals) and access key ids for the ECR edge.
package identity

import (
	"crypto/sha256"
	"encoding/base32"
	"maps"
	"slices"
	"strings"

	"github.com/berth-dev/berth/policy"
)

// Directory is the identities of one config file. It is not changed once
// built, so it is safe for concurrent use.
type Directory struct {
	principals    map[string]policy.Principal // users and role sessions, by ARN
	keys          map[string]string           // access key id → principal ARN
	organizations map[string]organization     // configured accounts' organization, by account id
}

type organization struct {
	id    string
	paths []string
}

func newDirectory() *Directory {
	return &Directory{principals: map[string]policy.Principal{}, keys: map[string]string{},
		organizations: map[string]organization{}}
}

var _ policy.Principals = (*Directory)(nil)

// Principal resolves a principal ARN: a configured user or role session, or
// any account's root — configured or not, every account has one.
func (d *Directory) Principal(arn string) (policy.Principal, bool) {
	if p, ok := d.principals[arn]; ok {
		// A copy: decisions must not be able to change the directory.
		p.Tags = maps.Clone(p.Tags)
		p.OrgPaths = slices.Clone(p.OrgPaths)
		p.Policies = slices.Clone(p.Policies)
		return p, true
	}
	p, ok := policy.RootsOnly{}.Principal(arn)
	if !ok {
		return policy.Principal{}, false
	}
	if org, ok := d.organizations[p.Account]; ok {
		p.OrgID, p.OrgPaths = org.id, slices.Clone(org.paths)
	}
	return p, true
}

// PrincipalForAccessKey returns the ARN of the principal an access key id
// belongs to, for the ECR edge (ecr.Config.AccessKeys).
func (d *Directory) PrincipalForAccessKey(id string) (arn string, ok bool) {
	arn, ok = d.keys[id]
	return arn, ok
}

// uniqueID makes an IAM unique id such as AIDAJQABLZS4A3QDU576Q (prefix and
// 17 base-32 characters) from the ARN it stands for: the same name gets the
// same id every start, as aws:userid conditions written against it expect.
func uniqueID(prefix, arn string) string {
	sum := sha256.Sum256([]byte(arn))
	return prefix + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

// Principals lists the configured users and role sessions, and the root of
// every configured account, in ARN order: what `berth policy export`
// writes into the bundle's inventory.
func (d *Directory) Principals() []policy.Principal {
	var out []policy.Principal
	for arn := range d.principals {
		p, _ := d.Principal(arn)
		out = append(out, p)
	}
	for account := range d.organizations {
		if p, ok := d.Principal("arn:aws:iam::" + account + ":root"); ok {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b policy.Principal) int { return strings.Compare(a.ARN, b.ARN) })
	return out
}
