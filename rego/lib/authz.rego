# Package berth.authz combines the statements of the applicable policies into
# AWS's decision: an explicit deny wins; within an account the identity or the
# resource policy may allow; across accounts both must.
package berth.authz

default allow := false

allow if decision.effect == "Allow"

# ---------------------------------------------------------------- matching statements

# The statements of the caller's identity policies that match the request.
identity_matches := [m |
	some id in input.principal.policies
	some m in data.berth.policies[id].match
]

# The statements of the resource's policies that match: the repository
# policy, and the registry policy when its scope covers the action. Resource
# policies are about resources: an action without a resource type ("*") is
# decided by identity policies.
resource_matches := array.concat(
	[m |
		input.resource.arn != "*"
		id := input.resource.policy
		id != ""
		some m in data.berth.policies[id].match
	],
	[m |
		input.resource.arn != "*"
		id := input.resource.registry_policy
		id != ""
		registry_policy_applies
		some m in data.berth.policies[id].match
	],
)

# V2 (ECR's default, also when unset): the registry policy is evaluated for
# every ECR action; V1: only for the actions ECR enforced at registry level.
registry_policy_applies if {
	object.get(input.resource, "registry_policy_scope", "") in {"", "V2"}
	startswith(input.action_lc, "ecr:")
}

registry_policy_applies if {
	input.resource.registry_policy_scope == "V1"
	input.action_lc in {"ecr:replicateimage", "ecr:batchimportupstreamimage", "ecr:createrepository"}
}

# ---------------------------------------------------------------- sides

# (identity_allows) The root user has full access in its own account and is
# the caller side of any cross-account request; an input without a type is
# root by its ARN.
root_arn if regex.match(`^arn:aws:iam::[0-9]{12}:root$`, input.principal.arn)

identity_allows if input.principal.type == "Account"

identity_allows if {
	not input.principal.type
	root_arn
}

identity_allows if {
	some m in identity_matches
	m.effect == "Allow"
}

resource_allows if {
	some m in resource_matches
	m.effect == "Allow"
}

# "any", "principal" and "notprincipal" grant the caller directly;
# "account" delegates to the account's identity policies.
direct_resource_allows if {
	some m in resource_matches
	m.effect == "Allow"
	m.via in {"any", "principal", "notprincipal"}
}

same_account if input.principal.account == input.resource.account

allowed if {
	input.action_lc == "ecr:getauthorizationtoken"
	identity_allows
}

allowed if {
	input.action_lc != "ecr:getauthorizationtoken"
	same_account
	identity_allows
}

allowed if {
	input.action_lc != "ecr:getauthorizationtoken"
	same_account
	direct_resource_allows
}

allowed if {
	input.action_lc != "ecr:getauthorizationtoken"
	not same_account
	identity_allows
	resource_allows
}

# ---------------------------------------------------------------- decision

identity_denies if {
	some m in identity_matches
	m.effect == "Deny"
}

resource_denies if {
	some m in resource_matches
	m.effect == "Deny"
}

# decision: the effect, the deciding statements' Sids (a set: sorted when
# serialised) and the tail of AWS's AccessDenied message.
decision := {
	"effect": "ExplicitDeny",
	"sids": {m.sid | some m in identity_matches; m.effect == "Deny"},
	"reason": "with an explicit deny in an identity-based policy",
} if {
	identity_denies
} else := {
	"effect": "ExplicitDeny",
	"sids": {m.sid | some m in resource_matches; m.effect == "Deny"},
	"reason": "with an explicit deny in a resource-based policy",
} if {
	resource_denies
} else := {
	"effect": "Allow",
	"sids": {m.sid | some m in array.concat(identity_matches, resource_matches); m.effect == "Allow"},
	"reason": "",
} if {
	allowed
} else := {
	"effect": "ImplicitDeny",
	"sids": set(),
	"reason": sprintf("because no resource-based policy allows the %s action", [input.action]),
} if {
	identity_allows
} else := {
	"effect": "ImplicitDeny",
	"sids": set(),
	"reason": sprintf("because no identity-based policy allows the %s action", [input.action]),
}
