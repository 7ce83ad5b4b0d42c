package policy

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// decisionMemo holds decisions by the whole of what they were decided on
// (memoKey). It is bounded: past memoMax entries it starts over.
type decisionMemo struct {
	mu sync.Mutex
	m  map[string]Decision
}

const memoMax = 1 << 14

func (m *decisionMemo) get(key []byte) (Decision, bool) {
	m.mu.Lock()
	d, ok := m.m[string(key)] // looked up without a copy of the key
	m.mu.Unlock()
	if ok {
		d.Sids = slices.Clone(d.Sids) // the caller's to keep
	}
	return d, ok
}

func (m *decisionMemo) put(key []byte, d Decision) {
	d.Sids = slices.Clone(d.Sids)
	m.mu.Lock()
	if m.m == nil || len(m.m) >= memoMax {
		m.m = map[string]Decision{}
	}
	m.m[string(key)] = d
	m.mu.Unlock()
}

// memoKey is everything a decision on r can read: the principal and the
// resource whole (the keys derived from them — aws:PrincipalTag/*,
// aws:ResourceTag/*, aws:username... — and the policies' identities come
// from there), the action, and the values of the request keys that the
// applicable policies read; keys no policy reads cannot change the answer.
// It is not memoizable when a policy does not compile (Decide reports
// that) or names a key that cannot be listed ahead.
func (e *Engine) memoKey(r Request) ([]byte, bool) {
	b := make([]byte, 0, 512) // appended to rather than built as a string: a lookup copies nothing
	field := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	count := func(n int) {
		b = strconv.AppendInt(b, int64(len(strconv.Itoa(n))), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(n), 10)
	}
	fields := func(list ...string) {
		count(len(list))
		for _, s := range list {
			field(s)
		}
	}
	sortedMap := func(m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		count(len(keys))
		for _, k := range keys {
			field(k)
			field(m[k])
		}
	}
	var keys []string
	policy := func(text string, kind Kind) bool {
		if text == "" {
			field("")
			return true
		}
		c := e.compile(text, kind)
		if c.err != nil || c.allContext {
			return false
		}
		field(c.id)
		keys = append(keys, c.contextKeys...)
		return true
	}
	p := r.Principal
	fields(p.ARN, p.Account, p.Type, p.RoleARN, p.UserID, p.Username, p.OrgID)
	fields(p.OrgPaths...)
	sortedMap(p.Tags)
	count(len(p.Policies))
	for _, text := range p.Policies {
		if !policy(text, Identity) {
			return nil, false
		}
	}
	fields(r.Action, r.Resource, r.ResourceAccount, r.ResourceRegion, r.RegistryPolicyScope)
	sortedMap(r.ResourceTags)
	if !policy(r.ResourcePolicy, Repository) || !policy(r.RegistryPolicy, Registry) {
		return nil, false
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range keys {
		field(k)
		v, ok := r.Context[k]
		if !ok {
			// Context names may come in any case.
			for name, vals := range r.Context {
				if strings.EqualFold(name, k) {
					v, ok = vals, true
					break
				}
			}
		}
		if !ok {
			field("-") // absent, which Null and ...IfExists tell from empty
			continue
		}
		field("+")
		fields(v...)
	}
	return b, true
}

// variable finds the key of each ${key} or ${key, 'default'}.
var variable = regexp.MustCompile(`\$\{([^}]*)\}`)

// contextKeysOf lists, lower-cased, the keys a policy reads: its condition
// keys and the keys of its variables. all reports a key name that is not a
// plain name (one built from a variable).
func contextKeysOf(text string, kind Kind) (keys []string, all bool) {
	doc, err := Parse(text, kind)
	if err != nil {
		return nil, true
	}
	seen := map[string]bool{}
	add := func(k string) {
		k = strings.ToLower(strings.TrimSpace(k))
		if k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	vars := func(values []string) {
		for _, v := range values {
			for _, m := range variable.FindAllStringSubmatch(v, -1) {
				name, _, _ := strings.Cut(m[1], ",")
				add(name)
			}
		}
	}
	for _, st := range doc.Statement {
		vars(st.Resource)
		vars(st.NotResource)
		for _, block := range st.Condition {
			for key, values := range block {
				if strings.Contains(key, "${") {
					return nil, true
				}
				add(key)
				vars(values)
			}
		}
	}
	return keys, false
}
