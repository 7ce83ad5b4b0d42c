package policy

//go:generate go run ./internal/genactions -model ../ecr/model/ecr.json -out zz_actions.go

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ID names a policy text of a kind: "p_" and 20 hex digits of
// sha256(kind byte + text). A compiled module's package is
// berth.policies.<id>, so a changed text is a different module.
func ID(text string, kind Kind) string {
	h := sha256.New()
	h.Write([]byte{byte(kind)})
	h.Write([]byte(text))
	return "p_" + hex.EncodeToString(h.Sum(nil))[:20]
}

// Compile parses a policy and compiles it to a Rego v1 module, package
// berth.policies.<id>, with one rule set, match: one rule per statement ×
// expanded action × principal entry. Each rule begins with equality on the
// lower-cased action and, for resource policies, on the principal's
// account, so OPA's rule index selects the few rules that can apply however
// many statements the policy has. Every string from the policy reaches the
// module as a JSON string literal, so no policy can add Rego of its own.
func Compile(text string, kind Kind) (id string, module string, err error) {
	return compile(text, kind, false)
}

// compile is Compile; generic sends every condition through iam.condition
// (tests compare it with the specialised forms).
func compile(text string, kind Kind, generic bool) (id string, module string, err error) {
	doc, err := Parse(text, kind)
	if err != nil {
		return "", "", err
	}
	id = ID(text, kind)
	var b strings.Builder
	fmt.Fprintf(&b, "package berth.policies.%s\n\nimport data.berth.iam\n", id)
	// Policy variables exist only in the 2012-10-17 language; before it
	// "${...}" is plain text.
	variables := doc.Version == "2012-10-17"
	for i, st := range doc.Statement {
		if err := compileStatement(&b, kind, i+1, st, variables, generic); err != nil {
			return "", "", invalid("Statement %d: %v", i+1, err)
		}
	}
	return id, b.String(), nil
}

// quote is a string as a Rego string literal (JSON's syntax is Rego's).
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a Go string always marshals
	}
	return string(b)
}

// principalEntry is one way a statement's principal can match: how (via)
// and the body lines that test it.
type principalEntry struct {
	via   string
	lines []string
}

func compileStatement(b *strings.Builder, kind Kind, index int, st Statement, variables, generic bool) error {
	sid := st.Sid
	if sid == "" {
		sid = fmt.Sprintf("statement %d", index)
	}
	// Action lines: one rule per expanded action, or one NotAction rule.
	var actionLines []string
	if st.Action != nil {
		for _, a := range expandActions(st.Action) {
			actionLines = append(actionLines, "input.action_lc == "+quote(a))
		}
	} else {
		excluded := expandActions(st.NotAction)
		if len(excluded) == 0 {
			actionLines = append(actionLines, "")
		} else {
			quoted := make([]string, len(excluded))
			for i, a := range excluded {
				quoted[i] = quote(a)
			}
			actionLines = append(actionLines, "not input.action_lc in {"+strings.Join(quoted, ", ")+"}")
		}
	}
	var principals []principalEntry
	switch kind {
	case Identity:
		principals = []principalEntry{{via: "identity"}}
	default:
		principals = compilePrincipals(st)
	}
	var rest []string
	if kind != Repository {
		if st.Resource != nil {
			if l := resourceTest(st.Resource, variables, generic); l != "" {
				rest = append(rest, l)
			}
		}
		if st.NotResource != nil {
			l := resourceTest(st.NotResource, variables, generic)
			if l == "" {
				l = "true" // NotResource "*": the statement applies to nothing
			}
			if strings.HasPrefix(l, "iam.resource_matches(") {
				// Variables: unresolved, the statement applies to nothing.
				rest = append(rest, "iam.patterns_resolve("+strings.TrimPrefix(l, "iam.resource_matches("))
			}
			rest = append(rest, "not "+l)
		}
	}
	conds, err := compileConditions(st.Condition, variables, generic)
	if err != nil {
		return err
	}
	rest = append(rest, conds...)

	head := fmt.Sprintf("match contains {\"sid\": %s, \"index\": %d, \"effect\": %s, \"via\": %%s} if {\n", quote(sid), index, quote(st.Effect))
	for _, action := range actionLines {
		for _, p := range principals {
			b.WriteString("\n")
			fmt.Fprintf(b, head, quote(p.via))
			lines := 0
			for _, l := range append(append([]string{action}, p.lines...), rest...) {
				if l == "" {
					continue
				}
				b.WriteString("\t" + l + "\n")
				lines++
			}
			if lines == 0 {
				// A body must have an expression: an unconditional statement.
				b.WriteString("\ttrue\n")
			}
			b.WriteString("}\n")
		}
	}
	return nil
}

// compilePrincipals turns Principal / NotPrincipal into entries. Account
// equality comes first so the rule index can use it.
func compilePrincipals(st Statement) []principalEntry {
	var out []principalEntry
	for _, p := range st.Principal["AWS"] {
		switch {
		case p == "*":
			out = append(out, principalEntry{via: "any"})
		case isAccountID(p):
			out = append(out, principalEntry{via: "account", lines: []string{"input.principal.account == " + quote(p)}})
		case accountRoot(p) != "":
			out = append(out, principalEntry{via: "account", lines: []string{"input.principal.account == " + quote(accountRoot(p))}})
		default:
			var lines []string
			if acct := arnAccount(p); acct != "" {
				lines = append(lines, "input.principal.account == "+quote(acct))
			}
			// A role ARN names the role's sessions; any other ARN the caller itself.
			if strings.HasPrefix(p, "arn:aws:iam::") && strings.Contains(p, ":role/") {
				lines = append(lines, "input.principal.role_arn == "+quote(p))
			} else {
				lines = append(lines, "input.principal.arn == "+quote(p))
			}
			out = append(out, principalEntry{via: "principal", lines: lines})
		}
	}
	// A service principal is never a berth caller; the rule says so in the
	// input's terms, so a hand-written input with that type still matches.
	for _, s := range st.Principal["Service"] {
		out = append(out, principalEntry{via: "service", lines: []string{`input.principal.type == "Service"`, "input.principal.arn == " + quote(s)}})
	}
	if st.NotPrincipal != nil {
		var arns []string
		for _, p := range st.NotPrincipal["AWS"] {
			if isAccountID(p) {
				p = "arn:aws:iam::" + p + ":root"
			}
			arns = append(arns, quote(p))
		}
		set := "set()"
		if len(arns) > 0 {
			set = "{" + strings.Join(arns, ", ") + "}"
		}
		out = append(out, principalEntry{via: "notprincipal", lines: []string{"iam.not_principal(" + set + ")"}})
	}
	return out
}

func isAccountID(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

// accountRoot returns N for arn:aws:iam::N:root.
func accountRoot(arn string) string {
	acct, ok := strings.CutPrefix(arn, "arn:aws:iam::")
	if !ok {
		return ""
	}
	acct, ok = strings.CutSuffix(acct, ":root")
	if !ok || !isAccountID(acct) {
		return ""
	}
	return acct
}

// arnAccount returns the account component of an ARN, when it is one.
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && isAccountID(parts[4]) {
		return parts[4]
	}
	return ""
}

// expandActions lists the ECR actions the patterns name, lower-cased and
// sorted; patterns of other services name none.
func expandActions(patterns []string) []string {
	seen := map[string]bool{}
	for _, p := range patterns {
		p = strings.ToLower(p)
		for _, a := range ecrActionsLower {
			if globMatch(p, a) {
				seen[a] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

var ecrActionsLower = func() []string {
	out := make([]string, len(ecrActions))
	for i, a := range ecrActions {
		out[i] = strings.ToLower(a)
	}
	return out
}()

// globMatch matches s against an IAM pattern: '*' any run, '?' one character.
func globMatch(pattern, s string) bool {
	p, n := []rune(pattern), []rune(s)
	pi, ni := 0, 0
	star, mark := -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// resourceTest is the test that input.resource.arn matches one of the
// Resource patterns, "" when one of them is "*" (it matches every resource).
// Patterns without wildcards are plain equality.
func resourceTest(patterns []string, variables, generic bool) string {
	for _, p := range patterns {
		if variables && strings.Contains(p, "${") || generic {
			out := make([]string, len(patterns))
			for i, p := range patterns {
				out[i] = compileResource(p, variables)
			}
			return "iam.resource_matches([" + strings.Join(out, ", ") + "])"
		}
	}
	exact := true
	for _, p := range patterns {
		if p == "*" {
			return ""
		}
		if strings.ContainsAny(p, "*?") {
			exact = false
		}
	}
	switch {
	case exact && len(patterns) == 1:
		return "input.resource.arn == " + quote(patterns[0])
	case exact:
		return "input.resource.arn in " + stringSet(patterns)
	}
	return "iam.any_arn_glob([input.resource.arn], " + globList(patterns) + ")"
}

// compileResource renders a Resource pattern. Variables are resolved only in
// its resource part: IAM user guide, "Where you can use policy variables":
// in the Resource element "only in the resource portion of the ARN", after
// the fifth colon; "you can't use a variable to replace parts of the ARN
// before the fifth colon, such as the service or account". Written there,
// ${...} stands for itself, and matches no real ARN.
func compileResource(p string, variables bool) string {
	at, colons := -1, 0
	for i := 0; i < len(p) && colons < 5; i++ {
		if p[i] == ':' {
			colons++
			at = i
		}
	}
	if colons < 5 || !variables || !strings.Contains(p[at+1:], "${") {
		return quote(p)
	}
	rest := compileValue(p[at+1:], variables) // {"parts": [...]}
	return `{"parts": [{"text": ` + quote(p[:at+1]) + `}, ` + strings.TrimPrefix(rest, `{"parts": [`)
}

// valueList renders values (Resource, condition values) as a Rego array of
// compiled values.
func valueList(vals []string, variables bool) string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = compileValue(v, variables)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// compileValue renders one value: a string literal, or with policy
// variables a template {"parts": [...]} the library resolves.
func compileValue(v string, variables bool) string {
	if !variables || !strings.Contains(v, "${") {
		return quote(v)
	}
	var parts []string
	text := func(s string) {
		if s != "" {
			parts = append(parts, `{"text": `+quote(s)+`}`)
		}
	}
	rest := v
	for {
		start := strings.Index(rest, "${")
		if start < 0 {
			text(rest)
			break
		}
		end := strings.IndexByte(rest[start:], '}')
		if end < 0 {
			text(rest)
			break
		}
		inner := rest[start+2 : start+end]
		seg, ok := variableSegment(inner)
		if !ok {
			// Not a variable: the text stands as written.
			text(rest[:start+end+1])
			rest = rest[start+end+1:]
			continue
		}
		text(rest[:start])
		parts = append(parts, seg)
		rest = rest[start+end+1:]
	}
	return `{"parts": [` + strings.Join(parts, ", ") + `]}`
}

// variableSegment reads the inside of ${...}: *, ? or $ (the literal
// character), or a key with an optional default, key, 'default'.
func variableSegment(inner string) (string, bool) {
	switch inner {
	case "*", "?", "$":
		return `{"char": ` + quote(inner) + `}`, true
	}
	key, def, hasDefault := strings.Cut(inner, ",")
	key = strings.ToLower(strings.TrimSpace(key))
	if key == "" || strings.ContainsAny(key, " \t'") {
		return "", false
	}
	if !hasDefault {
		return `{"var": ` + quote(key) + `}`, true
	}
	def = strings.TrimSpace(def)
	if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' {
		return "", false
	}
	// Inside the quotes a quote is written twice.
	def = def[1 : len(def)-1]
	if strings.Contains(strings.ReplaceAll(def, "''", ""), "'") {
		return "", false
	}
	return `{"var": ` + quote(key) + `, "default": ` + quote(strings.ReplaceAll(def, "''", "'")) + `}`, true
}

// conditionOperator is a parsed condition operator.
type conditionOperator struct {
	base      string // lower-cased, e.g. "stringequals"
	qualifier string // "", "any" (ForAnyValue:), "all" (ForAllValues:)
	ifExists  bool
}

// conditionOperators are the base operators berth.iam implements.
var conditionOperators = map[string]bool{
	"stringequals": true, "stringnotequals": true, "stringequalsignorecase": true, "stringnotequalsignorecase": true,
	"stringlike": true, "stringnotlike": true,
	"arnequals": true, "arnlike": true, "arnnotequals": true, "arnnotlike": true,
	"numericequals": true, "numericnotequals": true, "numericlessthan": true, "numericlessthanequals": true,
	"numericgreaterthan": true, "numericgreaterthanequals": true,
	"dateequals": true, "datenotequals": true, "datelessthan": true, "datelessthanequals": true,
	"dategreaterthan": true, "dategreaterthanequals": true,
	"bool": true, "binaryequals": true, "ipaddress": true, "notipaddress": true, "null": true,
}

// parseOperator reads a condition operator: an optional ForAnyValue: or
// ForAllValues: qualifier, a base operator and an optional IfExists. The
// spelling is matched without regard to case.
func parseOperator(op string) (conditionOperator, error) {
	var c conditionOperator
	name := strings.ToLower(op)
	if q, rest, ok := strings.Cut(name, ":"); ok {
		switch q {
		case "foranyvalue":
			c.qualifier = "any"
		case "forallvalues":
			c.qualifier = "all"
		default:
			return c, fmt.Errorf("unknown condition operator %q", op)
		}
		name = rest
	}
	if base, ok := strings.CutSuffix(name, "ifexists"); ok {
		c.ifExists = true
		name = base
	}
	c.base = name
	if !conditionOperators[c.base] {
		return c, fmt.Errorf("unknown condition operator %q", op)
	}
	if c.base == "null" && (c.ifExists || c.qualifier != "") {
		return c, fmt.Errorf("condition operator %q: Null takes no qualifier and no IfExists", op)
	}
	return c, nil
}

// compileConditions renders a Condition block as calls into berth.iam, one
// per operator × key (all of them must hold), in a fixed order. The key's
// values are read by the accessor for that key, and the commonest forms
// (a positive string or ARN operator over literal values) call a
// specialised function; the rest go through iam.condition.
func compileConditions(cond map[string]map[string][]string, variables bool, generic bool) ([]string, error) {
	ops := make([]string, 0, len(cond))
	for op := range cond {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var lines []string
	for _, op := range ops {
		c, err := parseOperator(op)
		if err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(cond[op]))
		for k := range cond[op] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			vals := keyValues(strings.ToLower(k))
			pvals := cond[op][k]
			if line, ok := principalFieldEquals(c, strings.ToLower(k), pvals, variables); ok && !generic {
				lines = append(lines, line)
				continue
			}
			if line, ok := fastCondition(c, vals, pvals, variables); ok && !generic {
				lines = append(lines, line)
				continue
			}
			if c.base == "null" {
				lines = append(lines, fmt.Sprintf("iam.null_condition(%s, %s)", vals, valueList(pvals, variables)))
				continue
			}
			lines = append(lines, fmt.Sprintf("iam.condition(%s, %s, %t, %s, %s)",
				quote(c.base), quote(c.qualifier), c.ifExists, vals, valueList(pvals, variables)))
		}
	}
	return lines, nil
}

// fastCondition renders a positive string or ARN operator over literal
// values, without qualifier (or ForAnyValue) and without IfExists: a missing
// key has no values, so the test is simply "some value matches".
func fastCondition(c conditionOperator, vals string, pvals []string, variables bool) (string, bool) {
	if c.ifExists || c.qualifier == "all" {
		return "", false
	}
	for _, p := range pvals {
		if variables && strings.Contains(p, "${") {
			return "", false
		}
	}
	switch c.base {
	case "stringequals":
		return fmt.Sprintf("iam.any_in(%s, %s)", vals, stringSet(pvals)), true
	case "stringlike":
		return fmt.Sprintf("iam.any_glob(%s, %s)", vals, globList(pvals)), true
	case "arnlike", "arnequals":
		return fmt.Sprintf("iam.any_arn_glob(%s, %s)", vals, globList(pvals)), true
	}
	return "", false
}

// principalFields are the single-valued keys read straight off
// input.principal, where "" means the request has no such key
// (aws:PrincipalArn is not one: for a role session it is the role's ARN).
var principalFields = map[string]string{
	"aws:principalaccount": "account",
	"aws:principalorgid":   "org_id",
	"aws:principaltype":    "type",
	"aws:userid":           "userid",
	"aws:username":         "username",
}

// principalFieldEquals renders StringEquals on a single-valued principal
// key as plain equality on the input field, the cheapest test there is
// (and one OPA's rule index can use). A missing key ("" or absent) equals
// none of the values, as long as none of them is "".
func principalFieldEquals(c conditionOperator, key string, pvals []string, variables bool) (string, bool) {
	field, ok := principalFields[key]
	if !ok || c.base != "stringequals" || c.ifExists || c.qualifier == "all" {
		return "", false
	}
	for _, p := range pvals {
		if p == "" || variables && strings.Contains(p, "${") {
			return "", false
		}
	}
	if len(pvals) == 1 {
		return "input.principal." + field + " == " + quote(pvals[0]), true
	}
	return "input.principal." + field + " in " + stringSet(pvals), true
}

// keyValues is the Rego expression for a condition key's values in the
// request: always a list, empty when the request has no such key.
func keyValues(key string) string {
	switch key {
	case "aws:principalaccount":
		return "iam.principal_account"
	case "aws:principalarn":
		return "iam.principal_arn"
	case "aws:principalorgid":
		return "iam.principal_org_id"
	case "aws:principalorgpaths":
		return "iam.principal_org_paths"
	case "aws:principaltype":
		return "iam.principal_type"
	case "aws:userid":
		return "iam.userid"
	case "aws:username":
		return "iam.username"
	}
	for _, prefix := range []string{"aws:principaltag/"} {
		if name, ok := strings.CutPrefix(key, prefix); ok {
			return "iam.principal_tag(" + quote(name) + ")"
		}
	}
	for _, prefix := range []string{"aws:resourcetag/", "ecr:resourcetag/"} {
		if name, ok := strings.CutPrefix(key, prefix); ok {
			return "iam.resource_tag(" + quote(name) + ")"
		}
	}
	return "object.get(object.get(input, \"context\", {}), " + quote(key) + ", [])"
}

func stringSet(vals []string) string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vals {
		if !seen[v] {
			seen[v] = true
			out = append(out, quote(v))
		}
	}
	return "{" + strings.Join(out, ", ") + "}"
}

// globList renders IAM patterns as OPA glob patterns, as the library's
// glob_pattern does: only * and ? stay special.
func globList(vals []string) string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = quote(globPattern(v))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

var globEscaper = strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, "{", `\{`, "}", `\}`)

func globPattern(p string) string { return globEscaper.Replace(p) }
