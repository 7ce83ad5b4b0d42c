# The decision combination
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
# Policies are given as data.berth.policies.<id>.match, as compiled ones are.
package berth.authz_test

import data.berth.authz

repo := "arn:aws:ecr:us-east-1:111111111111:repository/app"

root_a := {"arn": "arn:aws:iam::111111111111:root", "account": "111111111111", "type": "Account", "policies": []}

root_b := {"arn": "arn:aws:iam::222222222222:root", "account": "222222222222", "type": "Account", "policies": []}

alice_a := {"arn": "arn:aws:iam::111111111111:user/alice", "account": "111111111111", "type": "User", "policies": ["id"]}

bob_b := {"arn": "arn:aws:iam::222222222222:user/bob", "account": "222222222222", "type": "User", "policies": ["id"]}

req(principal, resource) := {
	"action": "ecr:BatchGetImage", "action_lc": "ecr:batchgetimage",
	"principal": principal, "resource": resource, "context": {},
}

res(extra) := object.union({"arn": repo, "account": "111111111111", "policy": "", "registry_policy": ""}, extra)

allow(sid, via) := {"sid": sid, "index": 1, "effect": "Allow", "via": via}

deny(sid, via) := {"sid": sid, "index": 1, "effect": "Deny", "via": via}

pol(matches) := {"match": matches}

decide(i, policies) := d if {
	d := authz.decision with input as i with data.berth.policies as policies
}

test_root_in_own_account_is_allowed_without_policies if {
	d := authz.decision with input as req(root_a, res({}))
	d.effect == "Allow"
	authz.allow with input as req(root_a, res({}))
}

test_cross_account_without_resource_policy_is_implicitly_denied if {
	d := authz.decision with input as req(root_b, res({}))
	d == {"effect": "ImplicitDeny", "sids": set(), "reason": "because no resource-based policy allows the ecr:BatchGetImage action"}
	not authz.allow with input as req(root_b, res({}))
}

test_cross_account_needs_identity_and_resource_allow if {
	policies := {"id": pol({allow("Pull", "identity")}), "rp": pol({allow("B", "account")})}
	decide(req(bob_b, res({"policy": "rp"})), policies).effect == "Allow"
	d := decide(req(bob_b, res({})), policies)
	d.reason == "because no resource-based policy allows the ecr:BatchGetImage action"
	d2 := decide(req(bob_b, res({"policy": "rp"})), {"id": pol(set()), "rp": pol({allow("B", "account")})})
	d2.reason == "because no identity-based policy allows the ecr:BatchGetImage action"
}

test_same_account_identity_allow_is_enough if {
	policies := {"id": pol({allow("Pull", "identity")})}
	d := decide(req(alice_a, res({})), policies)
	d == {"effect": "Allow", "sids": {"Pull"}, "reason": ""}
}

test_same_account_direct_resource_allow_is_enough if {
	policies := {"id": pol(set()), "rp": pol({allow("Alice", "principal")})}
	decide(req(alice_a, res({"policy": "rp"})), policies).effect == "Allow"
}

test_same_account_account_principal_delegates_to_identity_policies if {
	policies := {"id": pol(set()), "rp": pol({allow("Account", "account")})}
	d := decide(req(alice_a, res({"policy": "rp"})), policies)
	d.effect == "ImplicitDeny"
	d.reason == "because no identity-based policy allows the ecr:BatchGetImage action"
}

test_explicit_deny_in_identity_policy_wins if {
	policies := {"id": pol({deny("NoPull", "identity")}), "rp": pol({allow("Any", "any")})}
	d := decide(req(alice_a, res({"policy": "rp"})), policies)
	d == {"effect": "ExplicitDeny", "sids": {"NoPull"}, "reason": "with an explicit deny in an identity-based policy"}
}

test_explicit_deny_in_resource_policy_wins_over_root if {
	policies := {"rp": pol({deny("NoOne", "any")})}
	d := decide(req(root_a, res({"policy": "rp"})), policies)
	d == {"effect": "ExplicitDeny", "sids": {"NoOne"}, "reason": "with an explicit deny in a resource-based policy"}
}

test_registry_policy_v2_applies_to_every_action if {
	policies := {"reg": pol({allow("Reg", "account")})}
	decide(req(root_b, res({"registry_policy": "reg", "registry_policy_scope": "V2"})), policies).effect == "Allow"
	decide(req(root_b, res({"registry_policy": "reg"})), policies).effect == "Allow"
}

test_registry_policy_v1_applies_only_to_replication_and_pull_through if {
	policies := {"reg": pol({allow("Reg", "account"), deny("NoDelete", "any")})}
	decide(req(root_b, res({"registry_policy": "reg", "registry_policy_scope": "V1"})), policies).effect == "ImplicitDeny"
	replicate := object.union(req(root_b, res({"registry_policy": "reg", "registry_policy_scope": "V1"})), {"action": "ecr:ReplicateImage", "action_lc": "ecr:replicateimage"})
	decide(replicate, policies).effect == "ExplicitDeny"
}

test_star_resource_is_decided_by_identity if {
	star := object.union(req(root_b, res({"arn": "*", "policy": "rp"})), {"action": "ecr:GetAuthorizationToken", "action_lc": "ecr:getauthorizationtoken"})
	policies := {"rp": pol({deny("Never", "any")})}
	decide(star, policies).effect == "Allow"
	other := object.union(star, {"action": "ecr:DescribeRegistry", "action_lc": "ecr:describeregistry"})
	decide(other, policies).reason == "because no resource-based policy allows the ecr:DescribeRegistry action"
}

test_get_authorization_token_needs_an_identity_allow_for_a_user if {
	gat := object.union(req(alice_a, res({"arn": "*"})), {"action": "ecr:GetAuthorizationToken", "action_lc": "ecr:getauthorizationtoken"})
	decide(gat, {"id": pol(set())}).effect == "ImplicitDeny"
	decide(gat, {"id": pol({allow("Token", "identity")})}).effect == "Allow"
}

test_root_recognised_from_its_arn_when_type_is_absent if {
	p := {"arn": "arn:aws:iam::111111111111:root", "account": "111111111111"}
	decide(req(p, res({})), {}).effect == "Allow"
}
