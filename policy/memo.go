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
	d, ok := m.m[string(key)] // no copy of the key: a lookup converts in place
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
func (e *Engine) memoKey(r Request) (string, bool) {
	b, ok := e.appendMemoKey(nil, r)
	return string(b), ok
}

// memoKeys are buffers for appendMemoKey: a decision found in the memo
// then costs no allocation for its key.
var memoKeys = sync.Pool{New: func() any { return new([]byte) }}

// appendMemoKey appends r's memoKey to b. Every decision builds one, so it
// is written with helpers the compiler inlines rather than closures; its
// bytes are those of appendMemoKeyByClosures, its first form (memo_test.go).
// It is the principal's part (appendPrincipalKey), which a caller may have
// kept from an earlier decision by the same principal, then the rest
// (appendRequestKey).
func (e *Engine) appendMemoKey(b []byte, r Request) ([]byte, bool) {
	var scratch [8]string
	b, keys, ok := e.appendPrincipalKey(b, &r.Principal, scratch[:0])
	if !ok {
		return b, false
	}
	return e.appendRequestKey(b, &r, keys)
}

// appendPrincipalKey appends the part of a memo key that depends on p
// alone, and appends to keys the request keys p's identity policies read;
// false when one of them is not memoizable.
func (e *Engine) appendPrincipalKey(b []byte, p *Principal, keys []string) ([]byte, []string, bool) {
	b = appendCount(b, 7)
	b = appendField(b, p.ARN)
	b = appendField(b, p.Account)
	b = appendField(b, p.Type)
	b = appendField(b, p.RoleARN)
	b = appendField(b, p.UserID)
	b = appendField(b, p.Username)
	b = appendField(b, p.OrgID)
	b = appendCount(b, len(p.OrgPaths))
	for _, s := range p.OrgPaths {
		b = appendField(b, s)
	}
	b = appendSortedMap(b, p.Tags)
	b = appendCount(b, len(p.Policies))
	ok := true
	for _, text := range p.Policies {
		if b, keys, ok = e.appendPolicy(b, text, Identity, keys); !ok {
			return b, keys, false
		}
	}
	return b, keys, true
}

// appendPolicy appends a policy's field (its compiled id; "" for none)
// and appends to keys the request keys it reads.
func (e *Engine) appendPolicy(b []byte, text string, kind Kind, keys []string) ([]byte, []string, bool) {
	if text == "" {
		return appendField(b, ""), keys, true
	}
	c := e.compile(text, kind)
	if c.err != nil || c.allContext {
		return b, keys, false
	}
	return appendField(b, c.id), append(keys, c.contextKeys...), true
}

// appendRequestKey appends the rest of r's memo key after its principal's
// part; keys are the request keys the principal's policies read (a slice
// appendRequestKey may append to and sort, never one kept elsewhere).
func (e *Engine) appendRequestKey(b []byte, r *Request, keys []string) ([]byte, bool) {
	b = appendCount(b, 5)
	b = appendField(b, r.Action)
	b = appendField(b, r.Resource)
	b = appendField(b, r.ResourceAccount)
	b = appendField(b, r.ResourceRegion)
	b = appendField(b, r.RegistryPolicyScope)
	b = appendSortedMap(b, r.ResourceTags)
	ok := true
	if b, keys, ok = e.appendPolicy(b, r.ResourcePolicy, Repository, keys); !ok {
		return b, false
	}
	if b, keys, ok = e.appendPolicy(b, r.RegistryPolicy, Registry, keys); !ok {
		return b, false
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range keys {
		b = appendField(b, k)
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
			b = appendField(b, "-") // absent, which Null and ...IfExists tell from empty
			continue
		}
		b = appendField(b, "+")
		b = appendCount(b, len(v))
		for _, s := range v {
			b = appendField(b, s)
		}
	}
	return b, true
}

// appendField appends s as one field of a memo key: its length, ':', s.
func appendField(b []byte, s string) []byte {
	if n := len(s); n < 10 {
		b = append(b, byte('0'+n), ':')
	} else {
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, ':')
	}
	return append(b, s...)
}

// appendCount appends n as a field (its decimal digits, as a field).
func appendCount(b []byte, n int) []byte {
	if n >= 0 && n < 10 {
		return append(b, '1', ':', byte('0'+n))
	}
	var d [20]byte
	digits := strconv.AppendInt(d[:0], int64(n), 10)
	b = strconv.AppendInt(b, int64(len(digits)), 10)
	b = append(b, ':')
	return append(b, digits...)
}

// appendSortedMap appends m's size, then its keys in order, each followed
// by its value.
func appendSortedMap(b []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return appendCount(b, 0)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = appendCount(b, len(keys))
	for _, k := range keys {
		b = appendField(b, k)
		b = appendField(b, m[k])
	}
	return b
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
