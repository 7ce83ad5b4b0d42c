package core

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/berth-dev/berth/core/kv"
	"slices"
	"strings"
)

// Authorizer decides whether the caller may perform one IAM action on every
// resource of a request. Both edges ask it once per request, after the
// request is understood and before anything is read, so that a denied caller
// learns nothing about what exists. It returns nil to allow, or an error of
// KindDenied whose message is the answer the caller sees.
//
// The default, AccountBoundary, lets an account do anything in its own
// registries and nothing in another's — what AWS answers when no policy
// grants cross-account access. The IAM work replaces it with policy
// evaluation.
type Authorizer interface {
	Authorize(ctx context.Context, req AuthRequest) error
}

// ResourceTagAuthorizer is an Authorizer whose decisions may depend on a
// repository's own tags (aws:ResourceTag/*). Core reads them for it before
// asking; authorizers that do not implement it cost no read.
type ResourceTagAuthorizer interface {
	Authorizer
	UsesResourceTags() bool
}

// ResourcePolicyAuthorizer is an Authorizer that decides with the
// resources' own policies: core fills each Resource's Policy (the
// repository's), RegistryPolicy and RegistryPolicyScope (the owning
// registry's) and Tags before asking, in one read. They are read for every
// decision rather than cached, so a decision never lags a policy change.
type ResourcePolicyAuthorizer interface {
	Authorizer
	UsesResourcePolicies() bool
}

// AuthRequest is one authorization question: may the caller perform Action
// on every one of Resources? The edge fills Action, Resources and the request's
// own context; Registry.Authorize fills the caller's side.
type AuthRequest struct {
	// Filled from the caller (Registry.Authorize does it from the context).
	Principal        string // ARN, e.g. arn:aws:iam::123456789012:root
	PrincipalAccount string
	SourceIP         string // aws:SourceIp
	SecureTransport  bool   // aws:SecureTransport

	Action    string     // the IAM action, e.g. "ecr:BatchGetImage"
	Resources []Resource // at least one; "*" for actions without a resource type

	RequestTags map[string]string // aws:RequestTag/* (CreateRepository, TagResource)
	TagKeys     []string          // aws:TagKeys (CreateRepository, TagResource, UntagResource)
	// MountSource is the ARN of the repository a blob mount asks to read
	// from, on the upload it starts (the source itself is authorized too,
	// with ecr:GetDownloadUrlForLayer, by MountBlob).
	MountSource string
	// Context holds the action's service-specific condition keys, e.g.
	// "ecr:AccountSetting" for Get/PutAccountSetting.
	Context map[string]string
}

// Resource is one resource an action is performed on.
type Resource struct {
	ARN        string     // the repository ARN, the registry's repository/* ARN, or "*"
	Registry   RegistryID // the registry the resource belongs to
	Repository string     // the repository, when the resource is exactly one
	// Tags are the repository's own tags (aws:ResourceTag/*), filled by
	// Registry.Authorize for a ResourceTagAuthorizer or a
	// ResourcePolicyAuthorizer when the repository exists. The map is
	// shared between decisions: an authorizer must not change it.
	Tags map[string]string
	// Filled for a ResourcePolicyAuthorizer: the repository's policy ("" for
	// none or no such repository), the registry's policy and its account's
	// REGISTRY_POLICY_SCOPE (V1 or V2).
	Policy              string
	RegistryPolicy      string
	RegistryPolicyScope string
}

// RepositoryARN is the ARN of a repository.
func RepositoryARN(reg RegistryID, name string) string {
	return "arn:aws:ecr:" + reg.Region + ":" + reg.Account + ":repository/" + name
}

// RepositoryResource names one repository.
func RepositoryResource(reg RegistryID, name string) Resource {
	return Resource{ARN: RepositoryARN(reg, name), Registry: reg, Repository: name}
}

// AllRepositories names every repository of a registry, as AWS does for an
// action on the whole registry's repositories (DescribeRepositories without
// names, /v2/_catalog): arn:aws:ecr:<region>:<account>:repository/*.
func AllRepositories(reg RegistryID) Resource {
	return Resource{ARN: RepositoryARN(reg, "*"), Registry: reg}
}

// AnyResource is the resource of an action that has no resource type in IAM
// (GetAuthorizationToken, registry settings): "*", in the given registry.
func AnyResource(reg RegistryID) Resource { return Resource{ARN: "*", Registry: reg} }

// Authorize asks the configured Authorizer about req on behalf of the caller
// attached to ctx. Trusted writes (replication, pull-through, lifecycle) do
// not pass through it: they act for the registry itself.
func (r *Registry) Authorize(ctx context.Context, req AuthRequest) error {
	c := CallerFrom(ctx)
	// The principal's account is the one in its ARN, whatever registry the
	// edge thinks the caller came from.
	req.Principal, req.PrincipalAccount = c.Principal, AccountOfPrincipal(c.Principal)
	req.SourceIP, req.SecureTransport = c.SourceIP, c.SecureTransport
	if pa, ok := r.authz.(ResourcePolicyAuthorizer); ok && pa.UsesResourcePolicies() {
		req.Resources = slices.Clone(req.Resources)
		if err := r.fillResourceContext(req.Resources, true); err != nil {
			return err
		}
	} else if ta, ok := r.authz.(ResourceTagAuthorizer); ok && ta.UsesResourceTags() {
		req.Resources = slices.Clone(req.Resources)
		if err := r.fillResourceContext(req.Resources, false); err != nil {
			return err
		}
	}
	return r.authz.Authorize(ctx, req)
}

// fillResourceContext reads, in one transaction, each resource's tags and,
// with policies, its repository policy and its registry's policy and scope.
// A repository that does not exist has no tags and no policy: the decision
// must not depend on whether it exists.
func (r *Registry) fillResourceContext(res []Resource, policies bool) error {
	f := authzFills.Get().(*authzFill)
	f.ac, f.res, f.policies = &r.authzContext, res, policies
	err := r.kv.View(f.fn)
	f.ac, f.res = nil, nil
	authzFills.Put(f)
	return err
}

// authzFill is one fillResourceContext: its resources and its key buffer,
// with the transaction's function bound once. They are pooled, so that the
// read every decision makes allocates nothing of its own.
type authzFill struct {
	ac       *authzContext
	res      []Resource
	policies bool
	buf      [160]byte
	fn       func(kv.Tx) error // read
}

var authzFills = sync.Pool{New: func() any {
	f := new(authzFill)
	f.fn = f.read
	return f
}}

func (f *authzFill) read(tx kv.Tx) error {
	snap, snap2 := authzSnapshot(tx)
	for i := range f.res {
		res := &f.res[i]
		// The settings key is the registry's prefix, which starts the
		// repository's key: both are built in one buffer.
		key := appendRepoKey(f.buf[:0], res.Registry, "")
		n := len(key)
		key = append(key, res.Repository...)
		var (
			s   *registryAuthzContext
			c   *repoAuthzContext
			err error
		)
		if snap != 0 {
			s, c = f.ac.atSnapshot(key, snap, snap2)
		}
		if s == nil {
			// What a snapshot remembers is whole: the settings too, even
			// for an authorizer without policies.
			if f.policies || snap != 0 {
				if s, err = f.ac.settings(tx, key[:n]); err != nil {
					return err
				}
			}
			if res.Repository != "" {
				if c, err = f.ac.repository(tx, key); err != nil {
					return err
				}
			}
			if snap != 0 {
				f.ac.remember(key, snap, snap2, s, c)
			}
		}
		if f.policies {
			res.RegistryPolicy, res.RegistryPolicyScope = s.policy, s.scope
		}
		if c == nil {
			continue // no repository named, or no such repository
		}
		res.Tags = c.tags
		if f.policies {
			res.Policy = c.policy
		}
	}
	return nil
}

// bucketVersionTx is a read transaction that names the state of each
// bucket it sees (kv.Mem's): two with the same non-zero version of a
// bucket read the same in it.
type bucketVersionTx interface{ BucketVersion(bucket string) uint64 }

// authzSnapshot names what an authorization's read finds in tx: the
// versions of the two buckets it reads, where the store has them (a push
// writes neither, so what the last request read is good for the next), or
// tx's snapshot (0: none, nothing is remembered).
func authzSnapshot(tx kv.Tx) (uint64, uint64) {
	if v, ok := tx.(bucketVersionTx); ok {
		return v.BucketVersion(bRepos), v.BucketVersion(bSettings)
	}
	return snapshotOf(tx), 0
}

// authzContext remembers the decoded policy context of the records it last
// read, by key, with the record's stored bytes: a record is decoded again
// only when its bytes differ from the remembered ones, so an authorization
// never sees a stale policy, yet does not decode a repository record (and
// its policy text) on every request.
//
// With a store whose read transactions name their snapshot (snapshotTx),
// or the versions of the buckets read (bucketVersionTx), bySnap remembers
// what a resource's read found in which: a read in the same would find the
// same, so it reads nothing.
type authzContext struct {
	mu     sync.Mutex
	repos  map[string]*repoAuthzContext
	regs   map[string]*registryAuthzContext
	bySnap map[string]authzAtSnapshot
	// last is the entry of bySnap remembered last, read without the lock:
	// a push asks about one repository request after request.
	last atomic.Pointer[authzLast]
}

// authzLast is one entry of bySnap with its key. Never changed once stored.
type authzLast struct {
	key string
	authzAtSnapshot
}

// authzAtSnapshot is what one resource's read found in one snapshot (snap,
// snap2: authzSnapshot's): its registry's context and its repository's
// (nil: none named, or none).
type authzAtSnapshot struct {
	snap, snap2 uint64
	reg         *registryAuthzContext
	repo        *repoAuthzContext
}

// atSnapshot returns what the read of the repository whose key is key found
// in snapshot (snap, snap2) (reg nil: not remembered).
func (a *authzContext) atSnapshot(key []byte, snap, snap2 uint64) (*registryAuthzContext, *repoAuthzContext) {
	if l := a.last.Load(); l != nil && l.snap == snap && l.snap2 == snap2 && l.key == string(key) {
		return l.reg, l.repo
	}
	a.mu.Lock()
	e, ok := a.bySnap[string(key)]
	a.mu.Unlock()
	if !ok || e.snap != snap || e.snap2 != snap2 {
		return nil, nil
	}
	return e.reg, e.repo
}

func (a *authzContext) remember(key []byte, snap, snap2 uint64, reg *registryAuthzContext, repo *repoAuthzContext) {
	a.mu.Lock()
	if a.bySnap == nil || len(a.bySnap) >= authzContextMax {
		a.bySnap = map[string]authzAtSnapshot{}
	}
	e := authzAtSnapshot{snap, snap2, reg, repo}
	a.bySnap[string(key)] = e
	a.mu.Unlock()
	a.last.Store(&authzLast{key: string(key), authzAtSnapshot: e})
}

// authzContextMax bounds each of authzContext's maps; past it they start over.
const authzContextMax = 4096

type repoAuthzContext struct {
	raw    []byte
	tags   map[string]string // shared by every decision that reads it: not to be changed
	policy string
}

type registryAuthzContext struct {
	raw           []byte
	policy, scope string
}

// repository reads the context of the repository whose key is key (a
// buffer of the caller's: what is kept of it is copied).
func (a *authzContext) repository(tx kv.Tx, key []byte) (*repoAuthzContext, error) {
	b := tx.Get(bRepos, key)
	if b == nil {
		return nil, nil
	}
	a.mu.Lock()
	c := a.repos[string(key)]
	a.mu.Unlock()
	if c != nil && bytes.Equal(c.raw, b) {
		return c, nil
	}
	var rec struct {
		Tags   []ResourceTag `json:"tags"`
		Policy string        `json:"policy"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, corrupt("repository", key, err)
	}
	c = &repoAuthzContext{raw: bytes.Clone(b), tags: map[string]string{}, policy: rec.Policy}
	for _, t := range rec.Tags {
		c.tags[t.Key] = t.Value
	}
	a.mu.Lock()
	if a.repos == nil || len(a.repos) >= authzContextMax {
		a.repos = map[string]*repoAuthzContext{}
	}
	a.repos[string(key)] = c
	a.mu.Unlock()
	return c, nil
}

// settings reads the context of the registry whose settings key is key (a
// buffer of the caller's).
func (a *authzContext) settings(tx kv.Tx, key []byte) (*registryAuthzContext, error) {
	b := tx.Get(bSettings, key)
	a.mu.Lock()
	c := a.regs[string(key)]
	a.mu.Unlock()
	if c != nil && bytes.Equal(c.raw, b) {
		return c, nil
	}
	var s RegistrySettings
	if b != nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, corrupt("registry settings", key, err)
		}
	}
	c = &registryAuthzContext{raw: bytes.Clone(b), policy: s.Policy, scope: s.AccountSetting("REGISTRY_POLICY_SCOPE")}
	a.mu.Lock()
	if a.regs == nil || len(a.regs) >= authzContextMax {
		a.regs = map[string]*registryAuthzContext{}
	}
	a.regs[string(key)] = c
	a.mu.Unlock()
	return c, nil
}

// AccountBoundary is the default Authorizer: a principal may do anything in
// its own account's registries and nothing in another account's.
type AccountBoundary struct{}

// Authorize allows req when every resource is in the principal's account.
func (AccountBoundary) Authorize(ctx context.Context, req AuthRequest) error {
	for _, res := range req.Resources {
		if res.Registry.Account != req.PrincipalAccount {
			return AccessDenied(req, res, "no resource-based policy allows the "+req.Action+" action")
		}
	}
	return nil
}

// AccessDenied words a denial as AWS does: "User: <principal> is not
// authorized to perform: <action> on resource: <arn> because <reason>".
func AccessDenied(req AuthRequest, res Resource, reason string) error {
	return Errorf(KindDenied, "User: %s is not authorized to perform: %s on resource: %s because %s", req.Principal, req.Action, res.ARN, reason)
}

// AccountOfPrincipal returns the account id in an IAM or STS principal ARN
// (arn:aws:iam::123456789012:user/x), or "" when there is none.
func AccountOfPrincipal(arn string) string {
	// The fifth of arn:partition:service:region:account:resource, found
	// without splitting: every request asks.
	rest := arn
	for range 4 {
		i := strings.IndexByte(rest, ':')
		if i < 0 {
			return ""
		}
		rest = rest[i+1:]
	}
	account, _, ok := strings.Cut(rest, ":")
	if !ok || !ValidAccountID(account) {
		return ""
	}
	return account
}
