package policy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	berthrego "github.com/berth-dev/berth/rego"
)

// Principal is who is asking.
type Principal struct {
	ARN      string            // arn:aws:iam::111122223333:root | :user/alice | arn:aws:sts::111122223333:assumed-role/Role/session
	Account  string            // the principal's account id
	Type     string            // aws:PrincipalType: "Account" (root), "User", "AssumedRole", "FederatedUser"
	RoleARN  string            // assumed-role sessions: the role's ARN (matches a role ARN in a Principal element)
	UserID   string            // aws:userid
	Username string            // aws:username (users only)
	Tags     map[string]string // aws:PrincipalTag/*
	OrgID    string            // aws:PrincipalOrgID ("" = no organisation)
	OrgPaths []string          // aws:PrincipalOrgPaths, e.g. "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"
	Policies []string          // identity policy documents (JSON text), already valid
}

// Root reports whether p is an account's root user, which has full access in
// its own account.
func (p Principal) Root() bool { return p.Type == "Account" }

// Request is one question about one resource.
type Request struct {
	Principal           Principal
	Action              string            // "ecr:BatchGetImage" (any case)
	Resource            string            // a repository ARN, arn:...:repository/*, or "*"
	ResourceAccount     string            // the account owning the resource (for "*": the registry's account)
	ResourceRegion      string            // the resource's region
	ResourceTags        map[string]string // aws:ResourceTag/* and ecr:ResourceTag/*
	ResourcePolicy      string            // the repository's policy text; "" none
	RegistryPolicy      string            // the registry's policy text; "" none
	RegistryPolicyScope string            // "V1" | "V2" ("" = V2, ECR's default)
	// Context holds request keys by lower-cased name (aws:sourceip,
	// aws:currenttime, aws:requesttag/<k>, ecr:accountsetting, ...); single
	// values are one-element lists.
	Context map[string][]string
}

// Effect is a decision's outcome.
type Effect string

// The three outcomes of IAM's evaluation.
const (
	Allow        Effect = "Allow"
	ExplicitDeny Effect = "ExplicitDeny"
	ImplicitDeny Effect = "ImplicitDeny"
)

// Decision is the answer to a Request.
type Decision struct {
	Effect Effect
	Sids   []string // the deciding statements' Sids ("statement N" for a statement without one)
	Reason string   // AWS's tail of an AccessDenied message; "" when allowed
}

// DefaultMaxPolicies bounds the distinct policy texts an Engine keeps compiled.
const DefaultMaxPolicies = 4096

// Engine evaluates requests with OPA: one compiled world holding the Rego
// library and a module per distinct policy text, and a query prepared on it.
// A policy text seen for the first time is compiled and the world rebuilt
// (copy-on-write: decisions in flight keep the world they started with).
// Safe for concurrent use.
type Engine struct {
	maxPolicies int
	library     map[string]*ast.Module
	clock       atomic.Int64 // ticks once per decision, to find policies not used recently

	mu       sync.RWMutex // guards policies
	policies map[policyKey]*compiled
	build    sync.Mutex       // serializes world rebuilds; guards rejected
	rejected map[string]error // policy modules OPA would not compile, by id
	world    atomic.Pointer[world]

	memo decisionMemo
}

type policyKey struct {
	kind Kind
	text string
}

// compiled is one policy text, compiled (or the error that stopped it).
type compiled struct {
	id       string
	idTerm   *ast.Term // id, as it appears in inputs (nil: built when needed)
	module   *ast.Module
	err      error
	lastUsed atomic.Int64
	// contextKeys are the lower-cased request keys the policy reads (its
	// condition keys and variables); allContext, that it names a key Decide
	// cannot list ahead (a variable in a key name).
	contextKeys []string
	allContext  bool
}

// world is one prepared query and the policy modules it was built with.
type world struct {
	query rego.PreparedEvalQuery
	ids   map[string]bool
}

// NewEngine returns an Engine holding at most DefaultMaxPolicies policy texts.
func NewEngine() *Engine { return newEngine(DefaultMaxPolicies) }

func newEngine(maxPolicies int) *Engine {
	lib := map[string]*ast.Module{}
	for name, src := range berthrego.Library() {
		m, err := ast.ParseModuleWithOpts("berth/"+name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			panic(fmt.Sprintf("rego library %s: %v", name, err)) // embedded and tested: cannot happen
		}
		lib["berth/"+name] = m
	}
	return &Engine{maxPolicies: maxPolicies, library: lib, policies: map[policyKey]*compiled{}, rejected: map[string]error{}}
}

// Decide evaluates r.
//
// OPA decides each distinct question once: a decision depends on nothing but
// its input, so a question whose input is the same as an earlier one's —
// the same principal, action and resource with the same policies, tags and
// values of the request keys those policies read — gets the earlier answer.
func (e *Engine) Decide(ctx context.Context, r Request) (Decision, error) {
	buf := memoKeys.Get().(*[]byte)
	defer memoKeys.Put(buf)
	key, memoizable := e.appendMemoKey((*buf)[:0], r)
	*buf = key
	return e.decideMemo(ctx, &r, key, memoizable)
}

// principalKey is the part of a memo key that depends on a principal alone
// (appendPrincipalKey) and the request keys its identity policies read, as
// a caller deciding many requests of one principal keeps them: both follow
// from the principal's fields and its policies' texts, so they are the same
// for every decision about that principal.
type principalKey struct {
	key  []byte
	keys []string
	ok   bool // false: an identity policy is not memoizable
}

func (e *Engine) principalKeyOf(p *Principal) principalKey {
	key, keys, ok := e.appendPrincipalKey(nil, p, nil)
	return principalKey{key: key, keys: keys, ok: ok}
}

// decideFor is Decide for a request whose principal's part of the memo key
// is pk (principalKeyOf(&r.Principal)).
func (e *Engine) decideFor(ctx context.Context, r *Request, pk *principalKey) (Decision, error) {
	if !pk.ok {
		return e.decideMemo(ctx, r, nil, false)
	}
	buf := memoKeys.Get().(*[]byte)
	defer memoKeys.Put(buf)
	var scratch [8]string
	key, memoizable := e.appendRequestKey(append((*buf)[:0], pk.key...), r, append(scratch[:0], pk.keys...))
	*buf = key
	return e.decideMemo(ctx, r, key, memoizable)
}

// decideMemo answers r from the memo under key when memoizable, else
// decides it (and remembers the decision under key).
func (e *Engine) decideMemo(ctx context.Context, r *Request, key []byte, memoizable bool) (Decision, error) {
	if memoizable {
		if d, ok := e.memo.get(key); ok {
			return d, nil
		}
	}
	d, err := e.decide(ctx, *r)
	if err == nil && memoizable {
		e.memo.put(key, d)
	}
	return d, err
}

func (e *Engine) decide(ctx context.Context, r Request) (Decision, error) {
	input, used, err := e.input(r)
	if err != nil {
		return Decision{}, err
	}
	w, err := e.worldWith(ctx, used)
	if err != nil {
		return Decision{}, err
	}
	rs, err := evaluate(ctx, w.query, input)
	if err != nil {
		return Decision{}, fmt.Errorf("policy evaluation: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Decision{}, fmt.Errorf("policy evaluation: no decision")
	}
	return decisionOf(rs[0].Expressions[0].Value)
}

// evaluate runs the prepared query on input. What OPA does per evaluation
// beyond evaluating is kept to what a decision needs:
//   - the result stays an OPA term (decisionOf reads it) instead of being
//     converted to Go maps and slices;
//   - no metrics are recorded;
//   - cancellation follows ctx through context.AfterFunc rather than a
//     goroutine per evaluation (none at all for a context that cannot be
//     cancelled);
//   - the virtual-document cache is one that keeps nothing: it only saves
//     evaluating a rule (or a function with the same arguments) a second
//     time within one decision, which the library and compiled policies
//     rarely do, and filling it costs more allocations than the rules it
//     would spare. Evaluation is deterministic, so a rule evaluated twice
//     has the same value: the decision is the same.
func evaluate(ctx context.Context, q rego.PreparedEvalQuery, input ast.Value) (rego.ResultSet, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cancel := neverCancelled
	if ctx.Done() != nil {
		cancel = topdown.NewCancel()
		stop := context.AfterFunc(ctx, cancel.Cancel)
		defer stop()
	}
	return q.Eval(ctx,
		rego.EvalParsedInput(input),
		rego.EvalExternalCancel(cancel),
		rego.EvalMetrics(metrics.NoOp()),
		rego.EvalGenerateJSON(keepTerm),
		rego.EvalVirtualCache(noVirtualCache{}),
	)
}

var neverCancelled = topdown.NewCancel()

func keepTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// noVirtualCache is a topdown.VirtualCache that remembers nothing.
type noVirtualCache struct{}

func (noVirtualCache) Push()                         {}
func (noVirtualCache) Pop()                          {}
func (noVirtualCache) Get(ast.Ref) (*ast.Term, bool) { return nil, false }
func (noVirtualCache) Put(ast.Ref, *ast.Term)        {}
func (noVirtualCache) Keys() []ast.Ref               { return nil }

// decisionOf reads the decision document, as an OPA term (what Decide
// evaluates to) or converted to Go values.
func decisionOf(v any) (Decision, error) {
	if t, ok := v.(*ast.Term); ok {
		return decisionOfTerm(t)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("policy evaluation: decision is %T", v)
	}
	effect, _ := obj["effect"].(string)
	reason, _ := obj["reason"].(string)
	d := Decision{Effect: Effect(effect), Reason: reason}
	switch d.Effect {
	case Allow, ExplicitDeny, ImplicitDeny:
	default:
		return Decision{}, fmt.Errorf("policy evaluation: effect %q", effect)
	}
	sids, _ := obj["sids"].([]any)
	for _, s := range sids {
		if s, ok := s.(string); ok {
			d.Sids = append(d.Sids, s)
		}
	}
	sort.Strings(d.Sids)
	return d, nil
}

func decisionOfTerm(t *ast.Term) (Decision, error) {
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return Decision{}, fmt.Errorf("policy evaluation: decision is %s", ast.ValueName(t.Value))
	}
	str := func(key *ast.Term) string {
		if v := obj.Get(key); v != nil {
			if s, ok := v.Value.(ast.String); ok {
				return string(s)
			}
		}
		return ""
	}
	effect := str(keyEffect)
	d := Decision{Effect: Effect(effect), Reason: str(keyReason)}
	switch d.Effect {
	case Allow, ExplicitDeny, ImplicitDeny:
	default:
		return Decision{}, fmt.Errorf("policy evaluation: effect %q", effect)
	}
	// sids is a set; the converted form is a list, so either is read.
	collect := func(s *ast.Term) {
		if s, ok := s.Value.(ast.String); ok {
			d.Sids = append(d.Sids, string(s))
		}
	}
	if sids := obj.Get(keySids); sids != nil {
		switch v := sids.Value.(type) {
		case ast.Set:
			v.Foreach(collect)
		case *ast.Array:
			v.Foreach(collect)
		}
	}
	sort.Strings(d.Sids)
	return d, nil
}

// Input returns the OPA input document for r, as Decide evaluates it.
func (e *Engine) Input(r Request) (map[string]any, error) {
	v, _, err := e.input(r)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := ast.As(v, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// input builds the input document as an OPA value (no JSON round trip) and
// returns the compiled policies it names.
func (e *Engine) input(r Request) (ast.Value, []*compiled, error) {
	var used []*compiled
	var a terms
	ref := func(text string, kind Kind) (*ast.Term, error) {
		if text == "" {
			return ast.InternedEmptyString, nil
		}
		c := e.compile(text, kind)
		if c.err != nil {
			return nil, c.err
		}
		used = append(used, c)
		if c.idTerm == nil {
			return ast.StringTerm(c.id), nil
		}
		return c.idTerm, nil
	}
	var ids []*ast.Term
	if len(r.Principal.Policies) > 0 {
		ids = make([]*ast.Term, 0, len(r.Principal.Policies))
	}
	for _, text := range r.Principal.Policies {
		t, err := ref(text, Identity)
		if err != nil {
			return nil, nil, fmt.Errorf("identity policy of %s: %w", r.Principal.ARN, err)
		}
		ids = append(ids, t)
	}
	repo, err := ref(r.ResourcePolicy, Repository)
	if err != nil {
		return nil, nil, fmt.Errorf("repository policy of %s: %w", r.Resource, err)
	}
	registry, err := ref(r.RegistryPolicy, Registry)
	if err != nil {
		return nil, nil, fmt.Errorf("registry policy of account %s: %w", r.ResourceAccount, err)
	}
	scope := r.RegistryPolicyScope
	if scope == "" {
		scope = "V2"
	}
	policies := emptyArray
	if len(ids) > 0 {
		policies = ast.ArrayTerm(ids...)
	}
	p := r.Principal
	principal := ast.NewObject(
		ast.Item(keyARN, a.str(p.ARN)),
		ast.Item(keyAccount, a.str(p.Account)),
		ast.Item(keyType, a.str(p.Type)),
		ast.Item(keyRoleARN, a.str(p.RoleARN)),
		ast.Item(keyUserID, a.str(p.UserID)),
		ast.Item(keyUsername, a.str(p.Username)),
		ast.Item(keyTags, a.stringMap(p.Tags)),
		ast.Item(keyOrgID, a.str(p.OrgID)),
		ast.Item(keyOrgPaths, a.stringList(p.OrgPaths)),
		ast.Item(keyPolicies, policies),
	)
	resource := ast.NewObject(
		ast.Item(keyARN, a.str(r.Resource)),
		ast.Item(keyAccount, a.str(r.ResourceAccount)),
		ast.Item(keyRegion, a.str(r.ResourceRegion)),
		ast.Item(keyTags, a.stringMap(r.ResourceTags)),
		ast.Item(keyPolicy, repo),
		ast.Item(keyRegistryPolicy, registry),
		ast.Item(keyRegistryPolicyScope, a.str(scope)),
	)
	context := emptyObject
	if len(r.Context) > 0 {
		// Keys already lower-cased (as Request asks) are distinct, and
		// NewObject takes them as they are; others may meet once
		// lower-cased, which Insert resolves.
		items := make([][2]*ast.Term, 0, len(r.Context))
		for k, vals := range r.Context {
			if lk := strings.ToLower(k); lk != k {
				items = nil
				break
			}
			items = append(items, ast.Item(a.str(k), a.stringList(vals)))
		}
		if items != nil {
			context = ast.NewTerm(ast.NewObject(items...))
		} else {
			obj := ast.NewObject()
			for k, vals := range r.Context {
				obj.Insert(a.str(strings.ToLower(k)), a.stringList(vals))
			}
			context = ast.NewTerm(obj)
		}
	}
	action, actionLC := actionTerms[r.Action], (*ast.Term)(nil)
	if action != nil {
		actionLC = actionTerms[strings.ToLower(r.Action)]
	} else {
		action, actionLC = a.str(r.Action), a.str(strings.ToLower(r.Action))
	}
	return ast.NewObject(
		ast.Item(keyAction, action),
		ast.Item(keyActionLC, actionLC),
		ast.Item(keyPrincipal, ast.NewTerm(principal)),
		ast.Item(keyResource, ast.NewTerm(resource)),
		ast.Item(keyContext, context),
	), used, nil
}

// The input document's keys, and empty values, are built once: terms are
// only read once in an input, so inputs can share them.
var (
	keyAction, keyActionLC, keyPrincipal, keyResource, keyContext     = ast.StringTerm("action"), ast.StringTerm("action_lc"), ast.StringTerm("principal"), ast.StringTerm("resource"), ast.StringTerm("context")
	keyARN, keyAccount, keyType, keyRoleARN, keyUserID, keyUsername   = ast.StringTerm("arn"), ast.StringTerm("account"), ast.StringTerm("type"), ast.StringTerm("role_arn"), ast.StringTerm("userid"), ast.StringTerm("username")
	keyTags, keyOrgID, keyOrgPaths, keyPolicies, keyRegion, keyPolicy = ast.StringTerm("tags"), ast.StringTerm("org_id"), ast.StringTerm("org_paths"), ast.StringTerm("policies"), ast.StringTerm("region"), ast.StringTerm("policy")
	keyRegistryPolicy, keyRegistryPolicyScope                         = ast.StringTerm("registry_policy"), ast.StringTerm("registry_policy_scope")
	keyEffect, keySids, keyReason                                     = ast.StringTerm("effect"), ast.StringTerm("sids"), ast.StringTerm("reason")
	emptyObject, emptyArray                                           = ast.NewTerm(ast.NewObject()), ast.ArrayTerm()
)

// actionTerms are the ECR actions as the API spells them and lower-cased,
// and common holds the strings most inputs contain (principal types,
// registry policy scopes, the request keys berth's authorizer sets), built
// once and shared by inputs like the keys above.
var actionTerms, commonTerms = func() (map[string]*ast.Term, map[string]*ast.Term) {
	actions := map[string]*ast.Term{}
	for _, a := range ecrActions {
		actions[a] = ast.StringTerm(a)
		actions[strings.ToLower(a)] = ast.StringTerm(strings.ToLower(a))
	}
	common := map[string]*ast.Term{}
	for _, s := range []string{
		"Account", "User", "AssumedRole", "FederatedUser", "V1", "V2", "true", "false",
		"aws:sourceip", "aws:securetransport", "aws:currenttime", "aws:epochtime",
		"aws:principalisawsservice", "aws:requestedregion", "aws:tagkeys",
	} {
		common[s] = ast.StringTerm(s)
	}
	return actions, common
}()

// terms allocates an input's string terms in blocks rather than one by one.
type terms struct{ block []ast.Term }

func (a *terms) str(s string) *ast.Term {
	if s == "" {
		return ast.InternedEmptyString
	}
	if t := commonTerms[s]; t != nil {
		return t
	}
	if len(a.block) == 0 {
		a.block = make([]ast.Term, 16)
	}
	t := &a.block[0]
	a.block = a.block[1:]
	t.Value = ast.String(s)
	return t
}

func (a *terms) stringMap(m map[string]string) *ast.Term {
	if len(m) == 0 {
		return emptyObject
	}
	items := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		items = append(items, ast.Item(a.str(k), a.str(v)))
	}
	return ast.NewTerm(ast.NewObject(items...))
}

func (a *terms) stringList(l []string) *ast.Term {
	if len(l) == 0 {
		return emptyArray
	}
	elems := make([]*ast.Term, len(l))
	for i, s := range l {
		elems[i] = a.str(s)
	}
	return ast.ArrayTerm(elems...)
}

// compile returns the compiled form of a policy text, compiling it the
// first time it is seen.
func (e *Engine) compile(text string, kind Kind) *compiled {
	key := policyKey{kind, text}
	now := e.clock.Add(1)
	e.mu.RLock()
	c := e.policies[key]
	e.mu.RUnlock()
	if c == nil {
		c = &compiled{}
		id, src, err := Compile(text, kind)
		c.id, c.err = id, err
		c.idTerm = ast.StringTerm(id)
		if err == nil {
			c.contextKeys, c.allContext = contextKeysOf(text, kind)
		}
		if err == nil {
			c.module, c.err = ast.ParseModuleWithOpts(id, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if c.err != nil {
				c.err = fmt.Errorf("compiled policy does not parse: %w", c.err)
			}
		}
		e.mu.Lock()
		if prev := e.policies[key]; prev != nil {
			c = prev
		} else {
			e.policies[key] = c
			c.lastUsed.Store(now)
			e.evictLocked()
		}
		e.mu.Unlock()
	}
	c.lastUsed.Store(now)
	return c
}

// worldWith returns a world holding every policy in used, building one if
// the current world lacks any.
func (e *Engine) worldWith(ctx context.Context, used []*compiled) (*world, error) {
	if w := e.world.Load(); w != nil && w.has(used) {
		return w, nil
	}
	e.build.Lock()
	defer e.build.Unlock()
	if w := e.world.Load(); w != nil && w.has(used) {
		return w, nil
	}
	e.mu.RLock()
	modules := make(map[string]*ast.Module, len(e.library)+len(e.policies))
	for name, m := range e.library {
		modules[name] = m
	}
	ids := map[string]bool{}
	for _, c := range e.policies {
		if c.err == nil && !ids[c.id] {
			ids[c.id] = true
			modules[c.id] = c.module
		}
	}
	e.mu.RUnlock()
	for _, c := range used {
		if !ids[c.id] { // evicted and compiled again by another decision meanwhile
			ids[c.id] = true
			modules[c.id] = c.module
		}
	}
	for _, c := range used {
		if err := e.rejected[c.id]; err != nil {
			return nil, err
		}
	}
	compiler, err := e.compileWorld(modules, ids)
	if err != nil {
		return nil, err
	}
	q, err := rego.New(
		rego.Query("data.berth.authz.decision"),
		rego.Compiler(compiler),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy world: %w", err)
	}
	w := &world{query: q, ids: ids}
	e.world.Store(w)
	for _, c := range used {
		if err := e.rejected[c.id]; err != nil {
			return nil, err
		}
	}
	return w, nil
}

// compileWorld compiles the modules. A policy module OPA refuses (none
// should: Compile writes only what the library expects) is dropped and
// remembered, so that it fails the decisions that need it and no others.
// Called with build held.
func (e *Engine) compileWorld(modules map[string]*ast.Module, ids map[string]bool) (*ast.Compiler, error) {
	for {
		compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
		if compiler.Compile(modules); !compiler.Failed() {
			return compiler, nil
		}
		dropped := false
		for _, cerr := range compiler.Errors {
			if cerr.Location == nil || !ids[cerr.Location.File] {
				continue
			}
			id := cerr.Location.File
			if len(e.rejected) >= e.maxPolicies {
				clear(e.rejected)
			}
			e.rejected[id] = fmt.Errorf("compiled policy %s: %v", id, cerr)
			delete(modules, id)
			delete(ids, id)
			dropped = true
		}
		if !dropped {
			return nil, fmt.Errorf("policy world: %v", compiler.Errors)
		}
	}
}

func (w *world) has(used []*compiled) bool {
	for _, c := range used {
		if !w.ids[c.id] {
			return false
		}
	}
	return true
}

// evictLocked drops the least recently used policy texts when there are
// more than maxPolicies, down to three quarters of it. The world keeps
// their modules until it is next rebuilt; a decision needing one that was
// dropped compiles it again. Called with mu held.
func (e *Engine) evictLocked() {
	if len(e.policies) <= e.maxPolicies {
		return
	}
	type aged struct {
		key  policyKey
		used int64
	}
	candidates := make([]aged, 0, len(e.policies))
	for k, c := range e.policies {
		candidates = append(candidates, aged{k, c.lastUsed.Load()})
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].used < candidates[j].used })
	target := e.maxPolicies * 3 / 4
	for _, a := range candidates {
		if len(e.policies) <= target {
			break
		}
		delete(e.policies, a.key)
	}
}
