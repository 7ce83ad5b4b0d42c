package berth.iam_test

import data.berth.iam

# ---------------------------------------------------------------- globs and ARNs

test_glob_star_matches_any_run_including_slashes_and_colons if {
	iam.glob_match("repo/*", "repo/a/b:c")
	iam.glob_match("*", "")
	not iam.glob_match("repo/*", "other/a")
}

test_glob_question_matches_exactly_one_character if {
	iam.glob_match("app?", "app1")
	not iam.glob_match("app?", "app")
	not iam.glob_match("app?", "app12")
}

test_glob_brackets_braces_and_backslashes_are_literal if {
	iam.glob_match("a[b]{c,d}\\e", "a[b]{c,d}\\e")
	not iam.glob_match("a[bc]", "ab")
	not iam.glob_match("{a,b}", "a")
}

test_action_match_is_case_insensitive if {
	iam.action_matches("ECR:Batch*") with input.action_lc as "ecr:batchgetimage"
	iam.action_matches("ecr:*") with input.action_lc as "ecr:putimage"
	not iam.action_matches("s3:*") with input.action_lc as "ecr:putimage"
}

test_arn_like_matches_each_component if {
	iam.arn_like("arn:aws:ecr:*:111111111111:repository/*", "arn:aws:ecr:us-east-1:111111111111:repository/app")
	iam.arn_like("arn:aws:ecr:us-east-?:*:repository/team-*/x", "arn:aws:ecr:us-east-1:222222222222:repository/team-a/x")
	not iam.arn_like("arn:aws:ecr:*:111111111111:repository/*", "arn:aws:ecr:us-east-1:222222222222:repository/app")
}

# A * in one component does not run into the next one.
test_arn_like_star_stays_within_its_component if {
	not iam.arn_like("arn:aws:*:111111111111:repository/app", "arn:aws:ecr:us-east-1:111111111111:repository/app")
	not iam.arn_like("arn:*:repository/app", "arn:aws:ecr:us-east-1:111111111111:repository/app")
}

test_arn_like_resource_part_keeps_colons if {
	iam.arn_like("arn:aws:ecr:us-east-1:111111111111:repository/a:*", "arn:aws:ecr:us-east-1:111111111111:repository/a:b:c")
}

test_arn_like_star_pattern_matches_anything if {
	iam.arn_like("*", "arn:aws:ecr:us-east-1:111111111111:repository/app")
	iam.arn_like("*", "*")
}

test_arn_like_arn_pattern_does_not_match_star_resource if {
	not iam.arn_like("arn:aws:ecr:*:*:repository/*", "*")
}

test_arn_like_is_case_sensitive if {
	not iam.arn_like("arn:aws:ecr:*:*:repository/App", "arn:aws:ecr:us-east-1:111111111111:repository/app")
}

# ---------------------------------------------------------------- variables

alice := {
	"arn": "arn:aws:iam::111111111111:user/alice", "account": "111111111111", "type": "User",
	"userid": "AIDAALICE", "username": "alice", "tags": {"Team": "blue", "cost": "42"},
	"org_id": "o-a1b2c3d4e5", "org_paths": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"],
}

test_variable_username_is_substituted_in_text if {
	iam.text({"parts": [{"text": "home/"}, {"var": "aws:username"}]}) == "home/alice" with input.principal as alice
}

test_variable_principal_tag_is_case_insensitive_in_key if {
	iam.text({"parts": [{"var": "aws:principaltag/team"}]}) == "blue" with input.principal as alice
}

test_variable_missing_without_default_is_undefined if {
	not iam.text({"parts": [{"text": "x-"}, {"var": "aws:principaltag/missing"}]}) with input.principal as alice
}

test_variable_missing_takes_default if {
	iam.text({"parts": [{"text": "x-"}, {"var": "aws:principaltag/missing", "default": "none"}]}) == "x-none" with input.principal as alice
}

test_variable_present_ignores_default if {
	iam.text({"parts": [{"var": "aws:username", "default": "none"}]}) == "alice" with input.principal as alice
}

test_variable_special_characters_are_literal_in_globs if {
	g := iam.pattern({"parts": [{"text": "a"}, {"char": "*"}, {"text": "*"}]})
	glob.match(g, null, "a*bc")
	not glob.match(g, null, "abc")
	iam.pattern({"parts": [{"char": "?"}]}) == "\\?"
	iam.pattern({"parts": [{"char": "$"}]}) == "$"
}

test_variable_value_is_literal_in_globs if {
	g := iam.pattern({"parts": [{"var": "aws:requesttag/p"}]}) with input.context as {"aws:requesttag/p": ["a*"]}
	glob.match(g, null, "a*")
	not glob.match(g, null, "ab")
}

test_variable_in_resource if {
	p := {"parts": [{"text": "arn:aws:ecr:*:111111111111:repository/"}, {"var": "aws:username"}, {"text": "/*"}]}
	iam.resource_matches([p]) with input.principal as alice
		with input.resource.arn as "arn:aws:ecr:us-east-1:111111111111:repository/alice/app"
	not iam.resource_matches([p]) with input.principal as alice
		with input.resource.arn as "arn:aws:ecr:us-east-1:111111111111:repository/bob/app"
	not iam.resource_matches([p]) with input.principal as object.remove(alice, ["username"])
		with input.resource.arn as "arn:aws:ecr:us-east-1:111111111111:repository/alice/app"
}

# ---------------------------------------------------------------- derived keys

test_derived_principal_keys if {
	iam.values("aws:principalaccount") == ["111111111111"] with input.principal as alice
	iam.values("aws:principalarn") == ["arn:aws:iam::111111111111:user/alice"] with input.principal as alice
	iam.values("aws:principalorgid") == ["o-a1b2c3d4e5"] with input.principal as alice
	iam.values("aws:principalorgpaths") == ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"] with input.principal as alice
	iam.values("aws:principaltype") == ["User"] with input.principal as alice
	iam.values("aws:userid") == ["AIDAALICE"] with input.principal as alice
	iam.values("aws:username") == ["alice"] with input.principal as alice
	iam.values("aws:principaltag/cost") == ["42"] with input.principal as alice
}

test_principal_arn_of_a_role_session_is_the_role if {
	session := {"arn": "arn:aws:sts::111111111111:assumed-role/ci/build-1", "account": "111111111111", "type": "AssumedRole", "role_arn": "arn:aws:iam::111111111111:role/ci"}
	iam.values("aws:principalarn") == ["arn:aws:iam::111111111111:role/ci"] with input.principal as session
}

test_derived_keys_missing_when_empty if {
	root := {"arn": "arn:aws:iam::111111111111:root", "account": "111111111111", "type": "Account", "org_id": "", "org_paths": []}
	iam.values("aws:username") == [] with input.principal as root
	iam.values("aws:principalorgid") == [] with input.principal as root
	iam.values("aws:principalorgpaths") == [] with input.principal as root
	iam.values("aws:principaltag/team") == [] with input.principal as root
}

test_derived_resource_tags_under_both_prefixes if {
	iam.values("aws:resourcetag/env") == ["prod"] with input.resource.tags as {"env": "prod"}
	iam.values("ecr:resourcetag/env") == ["prod"] with input.resource.tags as {"env": "prod"}
	iam.values("ecr:resourcetag/other") == [] with input.resource.tags as {"env": "prod"}
}

test_derived_keys_are_not_taken_from_context if {
	iam.values("aws:username") == [] with input.context as {"aws:username": ["mallory"]}
}

test_request_keys_come_from_context if {
	iam.values("aws:sourceip") == ["10.0.0.1"] with input.context as {"aws:sourceip": ["10.0.0.1"]}
}
