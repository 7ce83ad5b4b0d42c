package policy

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/berth-dev/berth/core"
)

// Principals resolves a principal ARN (as carried by callers and tokens) to
// its identity. It answers the same for an ARN every time (RootsOnly, and an
// identity.Directory, fixed once built): the Authorizer resolves each caller
// once and keeps the answer.
type Principals interface {
	Principal(arn string) (Principal, bool)
}

// RootsOnly knows every account's root user and nobody else: the default
// when there is no IAM configuration, so that each account may do anything
// in its own registries.
type RootsOnly struct{}

// Principal returns the root user of arn's account when arn is
// arn:aws:iam::<account>:root.
func (RootsOnly) Principal(arn string) (Principal, bool) {
	account := accountRoot(arn)
	if account == "" {
		return Principal{}, false
	}
	return rootPrincipal(arn, account), true
}

// rootPrincipal is an account's root user; its aws:userid is the account id.
func rootPrincipal(arn, account string) Principal {
	return Principal{ARN: arn, Account: account, Type: "Account", UserID: account}
}

// AuthorizerOptions configures an Authorizer.
type AuthorizerOptions struct {
	Log  *slog.Logger     // one line per decision (nil: slog.Default())
	Now  func() time.Time // aws:CurrentTime and aws:EpochTime (nil: time.Now)
	Keep int              // decisions kept for Decisions (0: 200)
}

// DecisionRecord is one decision as Decisions reports it.
type DecisionRecord struct {
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`
	Action    string    `json:"action"`
	Resource  string    `json:"resource"`
	Effect    Effect    `json:"effect"`
	Sids      []string  `json:"sids,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// Authorizer decides ECR and /v2 requests with IAM policies: the caller's
// identity policies (from Principals), the repository's policy and the
// registry's policy, as AWS evaluates them. It implements
// core.ResourcePolicyAuthorizer.
type Authorizer struct {
	engine     *Engine
	principals Principals
	log        *slog.Logger
	now        func() time.Time

	mu      sync.Mutex // guards ring, next, full
	ring    []DecisionRecord
	next    int
	wrapped bool

	// clockKeys are the values of aws:CurrentTime and aws:EpochTime in the
	// second they were last formatted: requests in the same second share them.
	clockKeys atomic.Pointer[clockKeys]
	// lastKeys is the last request context built for a request with no
	// keys of its own (tags, action keys): the next such request from the
	// same address, to the same region, in the same second, has the same.
	lastKeys atomic.Pointer[sharedKeys]

	// Principals resolved, with their part of the decisions' memo keys:
	// Principals answers the same for an ARN every time (it is fixed once
	// built), so each caller is resolved once, not once per request.
	// lastPrincipal is the one most recently asked for; byARN the others.
	lastPrincipal atomic.Pointer[resolvedPrincipal]
	resolvedMu    sync.Mutex
	byARN         map[string]*resolvedPrincipal

	// recent holds the last decisions with exactly what each was decided
	// on (recentDecision), one per slot of a hash of action and resource:
	// the POST and PUT of a push ask the same two questions again and
	// again.
	recent [recentSlots]atomic.Pointer[recentDecision]
}

const recentSlots = 16

// recentDecision is a decision with its inputs, held by identity where the
// caches that build them share them: the resolved principal (resolve), the
// resource's tags (core's authorization context, one map per repository
// record) and the request keys (requestKeys, one map per second). Inputs
// the same by identity make the same memo key, byte for byte: the answer
// is the memo's, found without building the key.
type recentDecision struct {
	principal                                   *resolvedPrincipal
	action, resource, account, region           string
	policy, registryPolicy, registryPolicyScope string
	tags                                        map[string]string
	keys                                        map[string][]string
	d                                           Decision
}

var recentSeed = maphash.MakeSeed()

func recentSlot(action, resource string) int {
	return int((maphash.String(recentSeed, action) ^ maphash.String(recentSeed, resource)) % recentSlots)
}

// recentFor returns the decision remembered for exactly these inputs.
func (a *Authorizer) recentFor(slot int, p *resolvedPrincipal, action string, res *core.Resource, keys map[string][]string) (Decision, bool) {
	r := a.recent[slot].Load()
	if r == nil || r.principal != p || r.action != action || r.resource != res.ARN ||
		r.account != res.Registry.Account || r.region != res.Registry.Region ||
		r.policy != res.Policy || r.registryPolicy != res.RegistryPolicy || r.registryPolicyScope != res.RegistryPolicyScope ||
		!sameMap(r.tags, res.Tags) || !sameMap(r.keys, keys) {
		return Decision{}, false
	}
	d := r.d
	d.Sids = slices.Clone(d.Sids) // the caller's to keep, as the memo's
	return d, true
}

// sameMap reports whether a and b are the same map (not merely equal).
func sameMap[M ~map[K]V, K comparable, V any](a, b M) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}

// resolvedPrincipal is a caller as Principals resolved it. Decisions only
// read it: its maps and slices are shared by all of them.
type resolvedPrincipal struct {
	arn string
	p   Principal
	key principalKey
	// ownRoot: an account's root with no identity policy (every caller
	// without an IAM configuration, and berth serve --no-auth's).
	ownRoot bool
}

// allowsWithoutPolicies reports the decision the engine makes, with no
// evaluation, for the common question: an account's root with no identity
// policy, on a resource of its own account that has neither a repository
// nor a registry policy. Then no statement matches (identity_matches and
// resource_matches are empty), nothing denies, and the library's
// identity_allows holds for a principal of type "Account", so allowed does
// within the account (also for ecr:GetAuthorizationToken): Allow, no Sids,
// no reason — whatever the action, tags, region or request keys, which only
// statements read. TestTheWayAroundThePolicyEngineDecidesAsTheEngine
// compares it with the engine over many questions.
func allowsWithoutPolicies(p *resolvedPrincipal, res *core.Resource) bool {
	return p.ownRoot && res.Policy == "" && res.RegistryPolicy == "" && res.Registry.Account == p.p.Account
}

// resolvedMax bounds byARN; past it, it starts over.
const resolvedMax = 1024

// resolve returns the principal arn names, resolved once.
func (a *Authorizer) resolve(arn string) *resolvedPrincipal {
	if r := a.lastPrincipal.Load(); r != nil && r.arn == arn {
		return r
	}
	a.resolvedMu.Lock()
	r := a.byARN[arn]
	a.resolvedMu.Unlock()
	if r == nil {
		r = &resolvedPrincipal{arn: arn, p: a.principal(arn)}
		r.key = a.engine.principalKeyOf(&r.p)
		r.ownRoot = r.p.Root() && len(r.p.Policies) == 0 && r.p.Account != ""
		a.resolvedMu.Lock()
		if a.byARN == nil || len(a.byARN) >= resolvedMax {
			a.byARN = map[string]*resolvedPrincipal{}
		}
		a.byARN[arn] = r
		a.resolvedMu.Unlock()
	}
	a.lastPrincipal.Store(r)
	return r
}

// sharedKeys is a request context and what it was built from. The map is
// never changed once built: the engine only reads a request's keys.
type sharedKeys struct {
	unix     int64
	secure   bool
	region   string
	sourceIP string
	keys     map[string][]string
}

// requestKeys is requestContext(req), shared with the previous request
// when they are the same.
func (a *Authorizer) requestKeys(req core.AuthRequest, now time.Time) map[string][]string {
	if len(req.RequestTags) > 0 || len(req.TagKeys) > 0 || len(req.Context) > 0 {
		return requestContext(req, a.timeKeys(now))
	}
	region := ""
	if len(req.Resources) > 0 {
		region = req.Resources[0].Registry.Region
	}
	if k := a.lastKeys.Load(); k != nil && k.unix == now.Unix() && k.secure == req.SecureTransport && k.region == region && k.sourceIP == req.SourceIP {
		return k.keys
	}
	keys := requestContext(req, a.timeKeys(now))
	a.lastKeys.Store(&sharedKeys{unix: now.Unix(), secure: req.SecureTransport, region: region, sourceIP: req.SourceIP, keys: keys})
	return keys
}

// clockKeys are the time condition keys' values for one second. The
// slices are shared by every request of that second and never changed.
type clockKeys struct {
	unix           int64
	current, epoch []string
}

// timeKeys returns the values of aws:CurrentTime and aws:EpochTime at now.
func (a *Authorizer) timeKeys(now time.Time) *clockKeys {
	if k := a.clockKeys.Load(); k != nil && k.unix == now.Unix() {
		return k
	}
	k := &clockKeys{unix: now.Unix(), current: []string{now.UTC().Format(time.RFC3339)}, epoch: []string{strconv.FormatInt(now.Unix(), 10)}}
	a.clockKeys.Store(k)
	return k
}

// NewAuthorizer returns an Authorizer resolving callers through p (nil:
// RootsOnly).
func NewAuthorizer(p Principals, opts AuthorizerOptions) *Authorizer {
	if p == nil {
		p = RootsOnly{}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Keep <= 0 {
		opts.Keep = 200
	}
	return &Authorizer{engine: NewEngine(), principals: p, log: opts.Log, now: opts.Now, ring: make([]DecisionRecord, opts.Keep)}
}

// UsesResourcePolicies reports that decisions need each resource's
// policies and tags.
func (a *Authorizer) UsesResourcePolicies() bool { return true }

// Authorize decides req for each of its resources; the first denial is the
// answer, worded as AWS words it. A resource's Tags map must not change
// once given (core's are shared, never changed): a question asked again
// with the same map is answered as before.
func (a *Authorizer) Authorize(ctx context.Context, req core.AuthRequest) error {
	principal := a.resolve(req.Principal)
	now := a.now()
	var keys map[string][]string // built for the first question the engine is asked
	for i := range req.Resources {
		res := &req.Resources[i]
		if allowsWithoutPolicies(principal, res) {
			a.record(ctx, DecisionRecord{Time: now, Principal: req.Principal, Action: req.Action, Resource: res.ARN, Effect: Allow})
			continue
		}
		if keys == nil {
			keys = a.requestKeys(req, now)
		}
		slot := recentSlot(req.Action, res.ARN)
		d, ok := a.recentFor(slot, principal, req.Action, res, keys)
		if !ok {
			var err error
			d, err = a.engine.decideFor(ctx, &Request{
				Principal:           principal.p,
				Action:              req.Action,
				Resource:            res.ARN,
				ResourceAccount:     res.Registry.Account,
				ResourceRegion:      res.Registry.Region,
				ResourceTags:        res.Tags,
				ResourcePolicy:      res.Policy,
				RegistryPolicy:      res.RegistryPolicy,
				RegistryPolicyScope: res.RegistryPolicyScope,
				Context:             keys,
			}, &principal.key)
			if err != nil {
				a.log.ErrorContext(ctx, "iam decision failed", "principal", req.Principal, "action", req.Action, "resource", res.ARN, "err", err)
				return fmt.Errorf("authorizing %s on %s: %w", req.Action, res.ARN, err)
			}
			a.recent[slot].Store(&recentDecision{principal: principal, action: req.Action, resource: res.ARN,
				account: res.Registry.Account, region: res.Registry.Region, policy: res.Policy, registryPolicy: res.RegistryPolicy,
				registryPolicyScope: res.RegistryPolicyScope, tags: res.Tags, keys: keys, d: Decision{Effect: d.Effect, Sids: slices.Clone(d.Sids), Reason: d.Reason}})
		}
		a.record(ctx, DecisionRecord{Time: now, Principal: req.Principal, Action: req.Action, Resource: res.ARN, Effect: d.Effect, Sids: d.Sids, Reason: d.Reason})
		if d.Effect != Allow {
			// AWS: "User: <principal> is not authorized to perform: <action>
			// on resource: <arn> because no ... allows ..." or "... with an
			// explicit deny in a ... policy".
			return core.Errorf(core.KindDenied, "User: %s is not authorized to perform: %s on resource: %s %s", req.Principal, req.Action, res.ARN, d.Reason)
		}
	}
	return nil
}

// principal resolves a caller. One Principals does not know has no identity
// policies, except an account's root, which always exists.
func (a *Authorizer) principal(arn string) Principal {
	if p, ok := a.principals.Principal(arn); ok {
		return p
	}
	return PrincipalOf(arn)
}

// PrincipalOf is the principal an ARN names when nothing more is known of
// it: an account's root (full access in its own account), or a user, role
// session or federated user of the ARN's account with no identity policies
// and no tags.
func PrincipalOf(arn string) Principal {
	if account := accountRoot(arn); account != "" {
		return rootPrincipal(arn, account)
	}
	p := Principal{ARN: arn, Account: core.AccountOfPrincipal(arn)}
	resource := ""
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
		resource = parts[5]
	}
	switch {
	case strings.HasPrefix(resource, "user/"):
		p.Type = "User"
		p.Username = resource[strings.LastIndexByte(resource, '/')+1:]
	case strings.HasPrefix(resource, "assumed-role/"):
		p.Type = "AssumedRole"
		if role, _, ok := strings.Cut(strings.TrimPrefix(resource, "assumed-role/"), "/"); ok {
			p.RoleARN = "arn:aws:iam::" + p.Account + ":role/" + role
		}
	case strings.HasPrefix(resource, "federated-user/"):
		p.Type = "FederatedUser"
	}
	return p
}

// Values every request shares (the engine only reads a request's keys).
var (
	valueTrue  = []string{"true"}
	valueFalse = []string{"false"}
)

// requestContext is the request's own condition keys, lower-cased.
func requestContext(req core.AuthRequest, clock *clockKeys) map[string][]string {
	secure := valueFalse
	if req.SecureTransport {
		secure = valueTrue
	}
	keys := map[string][]string{
		"aws:securetransport": secure,
		"aws:currenttime":     clock.current,
		"aws:epochtime":       clock.epoch,
		// Present in every signed request; a berth caller is never a service.
		"aws:principalisawsservice": valueFalse,
	}
	// The region of the endpoint called: the registry's.
	if len(req.Resources) > 0 && req.Resources[0].Registry.Region != "" {
		keys["aws:requestedregion"] = []string{req.Resources[0].Registry.Region}
	}
	if req.SourceIP != "" {
		keys["aws:sourceip"] = []string{req.SourceIP}
	}
	for k, v := range req.RequestTags {
		keys["aws:requesttag/"+strings.ToLower(k)] = []string{v}
	}
	if len(req.TagKeys) > 0 {
		keys["aws:tagkeys"] = append([]string(nil), req.TagKeys...)
	}
	for k, v := range req.Context {
		keys[strings.ToLower(k)] = []string{v}
	}
	return keys
}

func (a *Authorizer) record(ctx context.Context, r DecisionRecord) {
	// A denial is worth a line at the default level; the allows, one per
	// request, only when debugging.
	level := slog.LevelDebug
	if r.Effect != Allow {
		level = slog.LevelInfo
	}
	if a.log.Enabled(ctx, level) {
		a.log.Log(ctx, level, "iam decision", "principal", r.Principal, "action", r.Action, "resource", r.Resource, "effect", string(r.Effect), "sids", r.Sids, "reason", r.Reason)
	}
	a.mu.Lock()
	a.ring[a.next] = r
	a.next++
	if a.next == len(a.ring) {
		a.next, a.wrapped = 0, true
	}
	a.mu.Unlock()
}

// Decisions returns the decisions kept, oldest first.
func (a *Authorizer) Decisions() []DecisionRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []DecisionRecord
	if a.wrapped {
		out = append(out, a.ring[a.next:]...)
	}
	return append(out, a.ring[:a.next]...)
}

var _ core.ResourcePolicyAuthorizer = (*Authorizer)(nil)
