package berth.world_test

import data.berth.world

test_an_account_root_not_in_the_inventory_is_the_root_user if {
	p := world.principal("arn:aws:iam::111111111111:root")
	p.type == "Account"
	p.account == "111111111111"
	p.userid == "111111111111"
	p.policies == []
}

test_a_session_acts_for_its_role if {
	p := world.principal("arn:aws:sts::222222222222:assumed-role/ci/build-7")
	p.type == "AssumedRole"
	p.role_arn == "arn:aws:iam::222222222222:role/ci"
	p.username == ""
}

test_a_user_named_by_its_path_has_its_last_segment_as_username if {
	world.principal("arn:aws:iam::111111111111:user/team/alice").username == "alice"
}

test_the_inventory_supplies_identity_policies_and_tags if {
	p := world.principal("arn:aws:iam::111111111111:user/alice") with data.berth.inventory as {"principals": {"arn:aws:iam::111111111111:user/alice": {
		"policies": ["p_1"],
		"tags": {"team": "a"},
	}}}
	p.policies == ["p_1"]
	p.tags.team == "a"
	p.type == "User"
}

test_a_repository_gets_its_policy_and_its_registrys_policy_and_scope if {
	r := world.resource("arn:aws:ecr:eu-west-1:111111111111:repository/app", "arn:aws:iam::222222222222:root") with data.berth.inventory as {
		"repositories": {"arn:aws:ecr:eu-west-1:111111111111:repository/app": {"policy": "p_r", "tags": {"env": "prod"}}},
		"registries": {"111111111111/eu-west-1": {"policy": "p_g", "scope": "V1"}},
	}
	r.account == "111111111111"
	r.region == "eu-west-1"
	r.policy == "p_r"
	r.tags.env == "prod"
	r.registry_policy == "p_g"
	r.registry_policy_scope == "V1"
}

test_an_unknown_repository_has_no_policy_and_ecrs_default_scope if {
	r := world.resource("arn:aws:ecr:us-east-1:111111111111:repository/none", "arn:aws:iam::111111111111:root")
	r.policy == ""
	r.registry_policy_scope == "V2"
}

test_context_keys_are_lower_cased_lists if {
	req := world.request_with_context("arn:aws:iam::111111111111:root", "ecr:TagResource", "*", {"aws:SourceIp": "10.0.0.1", "aws:TagKeys": ["a", "b"]})
	req.context == {"aws:sourceip": ["10.0.0.1"], "aws:tagkeys": ["a", "b"]}
	req.action_lc == "ecr:tagresource"
	req.resource.account == "111111111111"
}
