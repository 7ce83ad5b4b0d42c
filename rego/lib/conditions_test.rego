# Condition operators and AWS's rules for missing keys
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
package berth.conditions_test

import data.berth.iam

# holds: one condition key with the request's values vals ([] = missing).
holds(op, vals, pvals) if iam.condition(op, "", false, vals, pvals)

# ---------------------------------------------------------------- strings

test_string_equals_is_case_sensitive if {
	holds("stringequals", ["prod"], ["prod"])
	not holds("stringequals", ["Prod"], ["prod"])
}

test_string_equals_values_are_ored if {
	holds("stringequals", ["b"], ["a", "b"])
	not holds("stringequals", ["c"], ["a", "b"])
}

test_string_not_equals_is_nor_of_values if {
	holds("stringnotequals", ["c"], ["a", "b"])
	not holds("stringnotequals", ["b"], ["a", "b"])
}

test_string_equals_ignore_case if {
	holds("stringequalsignorecase", ["PROD"], ["prod"])
	not holds("stringequalsignorecase", ["dev"], ["prod"])
	holds("stringnotequalsignorecase", ["dev"], ["PROD"])
	not holds("stringnotequalsignorecase", ["prod"], ["PROD"])
}

test_string_like_globs if {
	holds("stringlike", ["team-a/app"], ["team-*/app", "x"])
	holds("stringlike", ["v1"], ["v?"])
	not holds("stringlike", ["v10"], ["v?"])
	not holds("stringlike", ["Team-a"], ["team-*"])
	holds("stringnotlike", ["other"], ["team-*"])
	not holds("stringnotlike", ["team-b"], ["team-*"])
}

# ---------------------------------------------------------------- ARNs

test_arn_like_and_arn_equals_match_per_component if {
	holds("arnlike", ["arn:aws:iam::111111111111:role/ci-deploy"], ["arn:aws:iam::*:role/ci-*"])
	holds("arnequals", ["arn:aws:iam::111111111111:role/ci-deploy"], ["arn:aws:iam::111111111111:role/ci-*"])
	not holds("arnlike", ["arn:aws:iam::111111111111:user/ci-deploy"], ["arn:aws:iam::*:role/*"])
}

test_arn_not_like_and_not_equals if {
	holds("arnnotlike", ["arn:aws:iam::111111111111:user/bob"], ["arn:aws:iam::*:role/*"])
	not holds("arnnotlike", ["arn:aws:iam::111111111111:role/r"], ["arn:aws:iam::*:role/*"])
	holds("arnnotequals", ["arn:aws:iam::222222222222:root"], ["arn:aws:iam::111111111111:root"])
	not holds("arnnotequals", ["arn:aws:iam::111111111111:root"], ["arn:aws:iam::111111111111:root"])
}

# ---------------------------------------------------------------- numbers

test_numeric_operators if {
	holds("numericequals", ["10"], ["10.0"])
	not holds("numericequals", ["10"], ["11"])
	holds("numericnotequals", ["10"], ["11"])
	not holds("numericnotequals", ["10"], ["10"])
	holds("numericlessthan", ["9"], ["10"])
	not holds("numericlessthan", ["10"], ["10"])
	holds("numericlessthanequals", ["10"], ["10"])
	not holds("numericlessthanequals", ["11"], ["10"])
	holds("numericgreaterthan", ["11"], ["10"])
	not holds("numericgreaterthan", ["10"], ["10"])
	holds("numericgreaterthanequals", ["10"], ["10"])
	not holds("numericgreaterthanequals", ["9"], ["10"])
}

test_numeric_operator_on_text_does_not_match if {
	not holds("numericequals", ["ten"], ["10"])
	not holds("numericlessthan", ["1"], ["ten"])
}

# ---------------------------------------------------------------- dates

test_date_operators_with_iso_8601 if {
	holds("dateequals", ["2026-12-01T17:00:00Z"], ["2026-12-01T18:00:00+01:00"])
	holds("datenotequals", ["2026-12-01T17:00:00Z"], ["2026-12-01T17:00:01Z"])
	not holds("datenotequals", ["2026-12-01T17:00:00Z"], ["2026-12-01T17:00:00Z"])
	holds("datelessthan", ["2026-12-01T17:00:00Z"], ["2027-01-01T00:00:00Z"])
	not holds("datelessthan", ["2027-01-01T00:00:00Z"], ["2027-01-01T00:00:00Z"])
	holds("datelessthanequals", ["2027-01-01T00:00:00Z"], ["2027-01-01T00:00:00Z"])
	holds("dategreaterthan", ["2026-12-01T17:00:00Z"], ["2026-01-01"])
	not holds("dategreaterthan", ["2025-12-31T23:59:59Z"], ["2026-01-01"])
	holds("dategreaterthanequals", ["2026-01-01T00:00:00Z"], ["2026-01-01"])
}

test_date_operators_with_epoch_seconds if {
	# 2026-12-01T17:00:00Z is 1796144400.
	holds("dateequals", ["1796144400"], ["2026-12-01T17:00:00Z"])
	holds("datelessthan", ["2026-12-01T16:59:59Z"], ["1796144400"])
	not holds("datelessthan", ["1796144400"], ["1796144400"])
}

test_date_operator_on_text_does_not_match if {
	not holds("dateequals", ["yesterday"], ["2026-01-01"])
}

# ---------------------------------------------------------------- bool, binary, addresses

test_bool if {
	holds("bool", ["true"], ["true"])
	holds("bool", ["false"], ["FALSE"])
	not holds("bool", ["false"], ["true"])
	not holds("bool", ["yes"], ["yes"])
}

test_binary_equals_compares_bytes_with_base64 if {
	holds("binaryequals", ["hello"], ["aGVsbG8="])
	not holds("binaryequals", ["hellO"], ["aGVsbG8="])
	not holds("binaryequals", ["hello"], ["not base64!"])
}

test_ip_address_ipv4 if {
	holds("ipaddress", ["10.1.2.3"], ["10.0.0.0/8"])
	holds("ipaddress", ["192.0.2.7"], ["192.0.2.7"])
	not holds("ipaddress", ["11.1.2.3"], ["10.0.0.0/8"])
	holds("notipaddress", ["11.1.2.3"], ["10.0.0.0/8"])
	not holds("notipaddress", ["10.1.2.3"], ["10.0.0.0/8", "192.168.0.0/16"])
}

test_ip_address_ipv6 if {
	holds("ipaddress", ["2001:db8::1"], ["2001:db8::/32"])
	holds("ipaddress", ["2001:db8::1"], ["2001:db8::1"])
	not holds("ipaddress", ["2001:db9::1"], ["2001:db8::/32"])
	not holds("ipaddress", ["10.0.0.1"], ["2001:db8::/32"])
}

# ---------------------------------------------------------------- missing keys

positive_ops := [
	"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike",
	"numericequals", "numericlessthan", "numericlessthanequals", "numericgreaterthan", "numericgreaterthanequals",
	"dateequals", "datelessthan", "datelessthanequals", "dategreaterthan", "dategreaterthanequals",
	"bool", "binaryequals", "ipaddress",
]

negated_ops := [
	"stringnotequals", "stringnotequalsignorecase", "stringnotlike", "arnnotequals", "arnnotlike",
	"numericnotequals", "datenotequals", "notipaddress",
]

test_missing_key_positive_operator_is_false if {
	every op in positive_ops {
		not iam.condition(op, "", false, [], ["x"])
	}
}

test_missing_key_negated_operator_is_true if {
	every op in negated_ops {
		iam.condition(op, "", false, [], ["x"])
	}
}

test_missing_key_if_exists_is_true if {
	every op in array.concat(positive_ops, negated_ops) {
		iam.condition(op, "", true, [], ["x"])
	}
}

test_if_exists_with_key_present_tests_it if {
	iam.condition("stringequals", "", true, ["a"], ["a"])
	not iam.condition("stringequals", "", true, ["b"], ["a"])
}

test_missing_key_for_all_values_is_true if {
	every op in array.concat(positive_ops, negated_ops) {
		iam.condition(op, "all", false, [], ["x"])
	}
}

test_missing_key_for_any_value_is_false if {
	every op in array.concat(positive_ops, negated_ops) {
		not iam.condition(op, "any", false, [], ["x"])
	}
}

test_missing_key_for_any_value_if_exists_is_true if {
	iam.condition("stringequals", "any", true, [], ["x"])
}

test_null if {
	iam.null_condition([], ["true"])
	not iam.null_condition(["v"], ["true"])
	iam.null_condition(["v"], ["false"])
	not iam.null_condition([], ["false"])
	iam.null_condition([], ["false", "true"])
}

# ---------------------------------------------------------------- sets of values

test_for_any_value_needs_one_request_value_to_match if {
	iam.condition("stringequals", "any", false, ["a", "z"], ["a", "b"])
	not iam.condition("stringequals", "any", false, ["y", "z"], ["a", "b"])
}

test_for_all_values_needs_every_request_value_to_match if {
	iam.condition("stringequals", "all", false, ["a", "b"], ["a", "b", "c"])
	not iam.condition("stringequals", "all", false, ["a", "z"], ["a", "b"])
}

test_for_all_values_negated_every_value_outside if {
	iam.condition("stringnotequals", "all", false, ["y", "z"], ["a", "b"])
	not iam.condition("stringnotequals", "all", false, ["a", "z"], ["a", "b"])
}

test_for_any_value_negated_one_value_outside if {
	iam.condition("stringnotequals", "any", false, ["a", "z"], ["a", "b"])
	not iam.condition("stringnotequals", "any", false, ["a", "b"], ["a", "b"])
}

test_for_any_value_string_like if {
	iam.condition("stringlike", "any", false, ["team", "env"], ["e*"])
}

# ---------------------------------------------------------------- variables in condition values

test_condition_value_with_variable if {
	p := {"parts": [{"var": "aws:username"}]}
	holds("stringequals", ["alice"], [p]) with input.principal.username as "alice"
	not holds("stringequals", ["bob"], [p]) with input.principal.username as "alice"
}

# An unresolvable variable leaves that value unmatched; the others still count.
test_condition_value_with_missing_variable_does_not_match if {
	p := {"parts": [{"var": "aws:principaltag/team"}]}
	not holds("stringequals", ["blue"], [p]) with input.principal.tags as {}
	holds("stringequals", ["blue"], [p, "blue"]) with input.principal.tags as {}
	holds("stringlike", ["blue-x"], [{"parts": [{"var": "aws:principaltag/team", "default": "blue"}, {"text": "-*"}]}]) with input.principal.tags as {}
}

# ---------------------------------------------------------------- specialised forms agree with the generic one

test_specialised_forms_agree_with_condition if {
	cases := [
		["stringequals", ["a"], ["a", "b"]],
		["stringequals", ["c"], ["a", "b"]],
		["stringequals", [], ["a"]],
		["stringlike", ["team-a"], ["team-*"]],
		["stringlike", ["x"], ["team-*"]],
		["arnlike", ["arn:aws:iam::1:role/r"], ["arn:aws:iam::*:role/*"]],
		["arnlike", ["arn:aws:iam::1:user/u"], ["arn:aws:iam::*:role/*"]],
	]
	every c in cases {
		generic_or_false(c) == specialised_or_false(c)
	}
}

generic_or_false(c) := true if iam.condition(c[0], "", false, c[1], c[2])

generic_or_false(c) := false if not iam.condition(c[0], "", false, c[1], c[2])

specialised_or_false(c) := true if specialised(c[0], c[1], c[2])

specialised_or_false(c) := false if not specialised(c[0], c[1], c[2])

specialised("stringequals", vals, pvals) if iam.any_in(vals, {p | some p in pvals})

specialised("stringlike", vals, pvals) if iam.any_glob(vals, [iam.glob_pattern(p) | some p in pvals])

specialised("arnlike", vals, pvals) if iam.any_arn_glob(vals, [iam.glob_pattern(p) | some p in pvals])
