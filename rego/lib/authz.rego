# Package berth.authz combines the statements of the applicable policies into
# AWS's decision: an explicit deny wins; within an account the identity or the
# resource policy may allow; across accounts both must.
package berth.authz

default allow := false

allow if decision.effect == "Allow"

# ---------------------------------------------------------------- matching statements

identity_matches contains m if {
	some id in input.principal.policies
	some m in data.berth.policies[id].match
}

repository_matches contains m if {
	id := input.resource.policy
	id != ""
	some m in data.berth.policies[id].match
}

registry_matches contains m if {
	registry_policy_applies
	id := input.resource.registry_policy
	id != ""
	some m in data.berth.policies[id].match
}

registry_scope := s if {
	s := input.resource.registry_policy_scope
	s != ""
} else := "V2"

# V2 (ECR's default): the registry policy is evaluated for every ECR action;
# V1: only for the actions ECR enforced at registry level.
registry_policy_applies if {
	registry_scope == "V2"
	startswith(input.action_lc, "ecr:")
}

registry_policy_applies if {
	registry_scope == "V1"
	input.action_lc in {"ecr:replicateimage", "ecr:batchimportupstreamimage", "ecr:createrepository"}
}

# Resource policies are about resources: an action without a resource type
# ("*") is decided by identity policies.
resource_matches contains m if {
	input.resource.arn != "*"
	some m in repository_matches
}

resource_matches contains m if {
	input.resource.arn != "*"
	some m in registry_matches
}

# ---------------------------------------------------------------- sides

root if input.principal.type == "Account"

root if {
	not input.principal.type
	regex.match(`^arn:aws:iam::[0-9]{12}:root$`, input.principal.arn)
}

identity_deny_sids := {m.sid | some m in identity_matches; m.effect == "Deny"}

resource_deny_sids := {m.sid | some m in resource_matches; m.effect == "Deny"}

identity_allow_sids := {m.sid | some m in identity_matches; m.effect == "Allow"}

identity_allows if root

identity_allows if count(identity_allow_sids) > 0

resource_allow_vias := {m.via | some m in resource_matches; m.effect == "Allow"}

resource_allow_sids := {m.sid | some m in resource_matches; m.effect == "Allow"}

# An account principal delegates to the account's identity policies, so
# within the account only a direct grant allows on its own.
direct_resource_allow if {
	some via in resource_allow_vias
	via in {"any", "principal", "notprincipal"}
}

same_account if input.principal.account == input.resource.account

get_authorization_token if input.action_lc == "ecr:getauthorizationtoken"

allowed if {
	get_authorization_token
	identity_allows
}

allowed if {
	not get_authorization_token
	same_account
	identity_allows
}

allowed if {
	not get_authorization_token
	same_account
	direct_resource_allow
}

allowed if {
	not get_authorization_token
	not same_account
	identity_allows
	count(resource_allow_vias) > 0
}

# ---------------------------------------------------------------- decision

decision := {
	"effect": "ExplicitDeny",
	"sids": sort(identity_deny_sids),
	"reason": "with an explicit deny in an identity-based policy",
} if {
	count(identity_deny_sids) > 0
} else := {
	"effect": "ExplicitDeny",
	"sids": sort(resource_deny_sids),
	"reason": "with an explicit deny in a resource-based policy",
} if {
	count(resource_deny_sids) > 0
} else := {
	"effect": "Allow",
	"sids": sort(identity_allow_sids | resource_allow_sids),
	"reason": "",
} if {
	allowed
} else := {
	"effect": "ImplicitDeny",
	"sids": [],
	"reason": sprintf("because no resource-based policy allows the %s action", [input.action]),
} if {
	identity_allows
} else := {
	"effect": "ImplicitDeny",
	"sids": [],
	"reason": sprintf("because no identity-based policy allows the %s action", [input.action]),
}
