# Package berth.iam is IAM's matching: globs, ARNs, policy variables, principals,
# resources and every condition operator with AWS's rules for missing keys.
# Compiled policies (package berth.policies.<id>) call into it; the input
# document is described in rego/README.md.
package berth.iam

# ---------------------------------------------------------------- globs

# OPA's glob syntax gives [ ] { } \ a meaning; IAM patterns only * and ?.
glob_pattern(s) := strings.replace_n({"\\": "\\\\", "[": "\\[", "]": "\\]", "{": "\\{", "}": "\\}"}, s)

# A literal in a glob: a substituted variable or ${*} ${?} ${$}.
glob_literal(s) := strings.replace_n({"\\": "\\\\", "[": "\\[", "]": "\\]", "{": "\\{", "}": "\\}", "*": "\\*", "?": "\\?"}, s)

# glob_match: IAM's wildcards, * any run of characters (":" and "/" too), ? one.
glob_match(pattern, value) if glob.match(glob_pattern(pattern), null, value)

# action_matches: Action patterns are case-insensitive.
action_matches(pattern) if glob.match(glob_pattern(lower(pattern)), null, input.action_lc)

# ---------------------------------------------------------------- ARNs

# arn_parts splits an ARN into its six components at the first five colons.
arn_parts(s) := array.concat(array.slice(all, 0, 5), [concat(":", array.slice(all, 5, count(all)))]) if {
	all := split(s, ":")
	count(all) >= 6
}

# arn_glob_match compares a pattern (already in OPA glob syntax) with an ARN
# component by component, as ArnLike and Resource do. A pattern that is not
# an ARN ("*") is matched whole; one that starts like an ARN but has fewer
# than six components matches no ARN.
arn_glob_match(gp, value) if {
	pp := arn_parts(gp)
	vp := arn_parts(value)
	every i in numbers.range(0, 5) {
		glob.match(pp[i], null, vp[i])
	}
}

arn_glob_match(gp, value) if {
	not startswith(gp, "arn:")
	glob.match(gp, null, value)
}

# arn_like: an IAM ARN pattern (no variables) against an ARN.
arn_like(pattern, value) if arn_glob_match(glob_pattern(pattern), value)

# ---------------------------------------------------------------- values and variables

# A compiled value is a string, or a template {"parts": [...]} whose parts are
# {"text": s} (pattern text), {"char": c} (${*} ${?} ${$}: a literal
# character) or {"var": key} / {"var": key, "default": d} (a policy variable).
# A variable whose key has no single value and no default leaves the whole
# value undefined: it matches nothing.

text(t) := t if is_string(t)

text(t) := concat("", parts) if {
	is_object(t)
	parts := [p | some seg in t.parts; p := segment_text(seg)]
	count(parts) == count(t.parts)
}

segment_text(seg) := seg.text

segment_text(seg) := seg.char

segment_text(seg) := variable(seg)

# pattern: a compiled value as an OPA glob pattern; substituted text is literal.
pattern(t) := glob_pattern(t) if is_string(t)

pattern(t) := concat("", parts) if {
	is_object(t)
	parts := [p | some seg in t.parts; p := segment_glob(seg)]
	count(parts) == count(t.parts)
}

segment_glob(seg) := glob_pattern(seg.text)

segment_glob(seg) := glob_literal(seg.char)

segment_glob(seg) := glob_literal(variable(seg))

variable(seg) := vals[0] if {
	vals := values(seg.var)
	count(vals) == 1
}

variable(seg) := seg["default"] if not single_valued(seg.var)

single_valued(key) if count(values(key)) == 1

# ---------------------------------------------------------------- context keys

# The request's values for a condition key are always a list, empty when the
# request has no such key. Keys about the principal and the resource are
# derived from input.principal and input.resource when asked for (compiled
# policies name the accessor of each key); the rest come from input.context.

default principal_account := []

principal_account := [input.principal.account] if input.principal.account != ""

# aws:PrincipalArn of an assumed-role session is its role's ARN
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).
default principal_arn := []

principal_arn := [input.principal.role_arn] if {
	input.principal.role_arn != ""
} else := [input.principal.arn] if {
	input.principal.arn != ""
}

default principal_org_id := []

principal_org_id := [input.principal.org_id] if input.principal.org_id != ""

default principal_org_paths := []

principal_org_paths := input.principal.org_paths if is_array(input.principal.org_paths)

default principal_type := []

principal_type := [input.principal.type] if input.principal.type != ""

default userid := []

userid := [input.principal.userid] if input.principal.userid != ""

default username := []

username := [input.principal.username] if input.principal.username != ""

# Tag keys in condition keys are matched without regard to case, like the
# rest of the key name.
principal_tag(name) := [v | some k, v in input.principal.tags; lower(k) == name]

resource_tag(name) := [v | some k, v in input.resource.tags; lower(k) == name]

# values(key): the values of any lower-cased condition key (for policy
# variables and hand-written policies).
values(key) := principal_account if key == "aws:principalaccount"

values(key) := principal_arn if key == "aws:principalarn"

values(key) := principal_org_id if key == "aws:principalorgid"

values(key) := principal_org_paths if key == "aws:principalorgpaths"

values(key) := principal_type if key == "aws:principaltype"

values(key) := userid if key == "aws:userid"

values(key) := username if key == "aws:username"

values(key) := principal_tag(substring(key, count("aws:principaltag/"), -1)) if startswith(key, "aws:principaltag/")

values(key) := resource_tag(substring(key, count("aws:resourcetag/"), -1)) if startswith(key, "aws:resourcetag/")

values(key) := resource_tag(substring(key, count("ecr:resourcetag/"), -1)) if startswith(key, "ecr:resourcetag/")

values(key) := object.get(object.get(input, "context", {}), key, []) if not derived_key(key)

derived_key(key) if key in {
	"aws:principalaccount", "aws:principalarn", "aws:principalorgid", "aws:principalorgpaths",
	"aws:principaltype", "aws:userid", "aws:username",
}

derived_key(key) if startswith(key, "aws:principaltag/")

derived_key(key) if startswith(key, "aws:resourcetag/")

derived_key(key) if startswith(key, "ecr:resourcetag/")

# ---------------------------------------------------------------- conditions

# condition(op, qualifier, if_exists, vals, policy_values) is one condition
# key of one operator: op is the lower-cased base operator ("stringequals",
# "numericlessthan", ...), qualifier "" | "any" (ForAnyValue) | "all"
# (ForAllValues), if_exists whether the operator ends in IfExists, vals the
# request's values for the key ([] when it has none).
condition(op, qualifier, if_exists, vals, pvals) if {
	count(vals) == 0
	missing_key_holds(op, qualifier, if_exists)
}

condition(op, qualifier, _, vals, pvals) if {
	count(vals) > 0
	holds(op, qualifier, vals, pvals)
}

# Null: "true" holds when the key is absent, "false" when it is present.
null_condition(vals, pvals) if {
	count(vals) == 0
	some p in pvals
	lower(text(p)) == "true"
}

null_condition(vals, pvals) if {
	count(vals) > 0
	some p in pvals
	lower(text(p)) == "false"
}

# Specialised forms the compiler uses for the commonest conditions: a
# positive operator over literal values (patterns already in OPA's glob
# syntax), where a missing key (no values) simply does not match.
any_in(vals, pvals) if {
	some v in vals
	v in pvals
}

any_glob(vals, globs) if {
	some v in vals
	some g in globs
	glob.match(g, null, v)
}

any_arn_glob(vals, globs) if {
	some v in vals
	some g in globs
	arn_glob_match(g, v)
}

# AWS's rules for a key the request does not have: ...IfExists holds,
# ForAllValues holds (vacuously), a negated operator holds; a positive
# operator and ForAnyValue do not.
missing_key_holds(_, _, true)

missing_key_holds(_, "all", _)

missing_key_holds(op, "", _) if negation[op]

# Without a qualifier the key's values are treated like ForAnyValue for a
# positive operator and like ForAllValues for a negated one: a negated
# operator holds when no value matches any policy value.
holds(op, "", vals, pvals) if {
	not negation[op]
	some v in vals
	holds_for_value(op, v, pvals)
}

holds(op, "", vals, pvals) if {
	negation[op]
	every v in vals {
		holds_for_value(op, v, pvals)
	}
}

holds(op, "any", vals, pvals) if {
	some v in vals
	holds_for_value(op, v, pvals)
}

holds(op, "all", vals, pvals) if {
	every v in vals {
		holds_for_value(op, v, pvals)
	}
}

# Several policy values of one key are ORed; for a negated operator none may match.
holds_for_value(op, v, pvals) if {
	not negation[op]
	some p in pvals
	value_matches(op, v, p)
}

holds_for_value(op, v, pvals) if {
	positive := negation[op]
	not matches_any(positive, v, pvals)
}

matches_any(op, v, pvals) if {
	some p in pvals
	value_matches(op, v, p)
}

negation := {
	"stringnotequals": "stringequals",
	"stringnotequalsignorecase": "stringequalsignorecase",
	"stringnotlike": "stringlike",
	"arnnotequals": "arnequals",
	"arnnotlike": "arnlike",
	"numericnotequals": "numericequals",
	"datenotequals": "dateequals",
	"notipaddress": "ipaddress",
}

# operators lists every base operator the library knows (the compiler checks against it).
operators := {
	"stringequals", "stringnotequals", "stringequalsignorecase", "stringnotequalsignorecase",
	"stringlike", "stringnotlike",
	"arnequals", "arnlike", "arnnotequals", "arnnotlike",
	"numericequals", "numericnotequals", "numericlessthan", "numericlessthanequals",
	"numericgreaterthan", "numericgreaterthanequals",
	"dateequals", "datenotequals", "datelessthan", "datelessthanequals",
	"dategreaterthan", "dategreaterthanequals",
	"bool", "binaryequals", "ipaddress", "notipaddress", "null",
}

# value_matches(op, v, p): one request value against one policy value, for a
# positive operator.
value_matches("stringequals", v, p) if v == text(p)

value_matches("stringequalsignorecase", v, p) if lower(v) == lower(text(p))

value_matches("stringlike", v, p) if glob.match(pattern(p), null, v)

# ArnEquals and ArnLike are the same test: per component, with wildcards.
value_matches("arnequals", v, p) if arn_glob_match(pattern(p), v)

value_matches("arnlike", v, p) if arn_glob_match(pattern(p), v)

value_matches("numericequals", v, p) if to_number(v) == to_number(text(p))

value_matches("numericlessthan", v, p) if to_number(v) < to_number(text(p))

value_matches("numericlessthanequals", v, p) if to_number(v) <= to_number(text(p))

value_matches("numericgreaterthan", v, p) if to_number(v) > to_number(text(p))

value_matches("numericgreaterthanequals", v, p) if to_number(v) >= to_number(text(p))

value_matches("dateequals", v, p) if date_ns(v) == date_ns(text(p))

value_matches("datelessthan", v, p) if date_ns(v) < date_ns(text(p))

value_matches("datelessthanequals", v, p) if date_ns(v) <= date_ns(text(p))

value_matches("dategreaterthan", v, p) if date_ns(v) > date_ns(text(p))

value_matches("dategreaterthanequals", v, p) if date_ns(v) >= date_ns(text(p))

value_matches("bool", v, p) if {
	b := lower(v)
	b in {"true", "false"}
	b == lower(text(p))
}

# BinaryEquals: the request's bytes against the policy's base64.
value_matches("binaryequals", v, p) if base64.decode(text(p)) == v

value_matches("ipaddress", v, p) if net.cidr_contains(cidr(text(p)), v)

# A bare address in IpAddress is a single host.
cidr(s) := s if contains(s, "/")

cidr(s) := concat("", [s, "/32"]) if {
	not contains(s, "/")
	not contains(s, ":")
}

cidr(s) := concat("", [s, "/128"]) if {
	not contains(s, "/")
	contains(s, ":")
}

# date_ns: a date as ISO 8601 (date, date and time with or without zone) or
# epoch seconds, in nanoseconds since the epoch.
date_ns(s) := to_number(s) * 1000000000 if regex.match(`^-?[0-9]+(\.[0-9]+)?$`, s)

date_ns(s) := parsed[0] if {
	not regex.match(`^-?[0-9]+(\.[0-9]+)?$`, s)
	parsed := [ns | some layout in date_layouts; ns := time.parse_ns(layout, s)]
	count(parsed) > 0
}

date_layouts := [
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02",
]

# ---------------------------------------------------------------- principals and resources

# caller_is: the caller is this principal ARN; an assumed-role session is
# also its role.
caller_is(arn) if input.principal.arn == arn

caller_is(arn) if {
	input.principal.role_arn != ""
	input.principal.role_arn == arn
}

# The ARNs a caller is known by, for NotPrincipal: itself, its account, its role.
caller_identities contains input.principal.arn

caller_identities contains concat("", ["arn:aws:iam::", input.principal.account, ":root"])

caller_identities contains input.principal.role_arn if input.principal.role_arn != ""

# not_principal: NotPrincipal applies unless every ARN the caller is known by
# is excluded (AWS: exclude a user with both its ARN and its account's).
not_principal(arns) if {
	not "*" in arns
	some id in caller_identities
	not id in arns
}

# resource_matches: Resource (compiled values) against input.resource.arn.
resource_matches(pvals) if {
	some p in pvals
	arn_glob_match(pattern(p), input.resource.arn)
}

# patterns_resolve: every variable of the patterns has a value, or the
# resource is outside the pattern whatever the value (its partition,
# service, region or account, which take no variables, differ). IAM user
# guide, "Policy variables": "If AWS cannot resolve a variable this might
# cause the entire statement to be invalid" — a NotResource whose pattern
# cannot be resolved makes its statement apply to nothing, rather than to
# every resource.
patterns_resolve(pvals) if every p in pvals {
	resolves_or_differs(p)
}

resolves_or_differs(p) if pattern(p)

resolves_or_differs(p) if {
	not pattern(p)
	not arn_glob_match(concat("", [glob_pattern(p.parts[0].text), "*"]), input.resource.arn)
}
