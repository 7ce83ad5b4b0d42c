# Package berth.authz combines the statements of the applicable policies into
# AWS's decision: an explicit deny wins; within an account the identity or the
# resource policy may allow; across accounts both must.
#
# The decision is one rule over two lists, the matching statements of the
# identity policies and of the resource's policies, handed to functions:
# every rule, function and expression OPA evaluates has its cost, so the
# common path goes through few of them.
package berth.authz

default allow := false

allow if decision.effect == "Allow"

decision := combine(identity_matches, resource_matches)

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
resource_matches := [] if input.resource.arn == "*"

resource_matches := array.concat(
	[m |
		id := input.resource.policy
		id != ""
		some m in data.berth.policies[id].match
	],
	[m |
		id := input.resource.registry_policy
		id != ""
		registry_policy_applies
		some m in data.berth.policies[id].match
	],
) if input.resource.arn != "*"

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

# ---------------------------------------------------------------- decision

# combine(identity, resource): the effect, the deciding statements' Sids (a
# set: sorted when serialised) and the tail of AWS's AccessDenied message.
#
# A side's deny branch is taken when one of its matches is a Deny with a Sid
# (its set of Sids is not empty); the set is only built then.
combine(identity, resource) := {
	"effect": "ExplicitDeny",
	"sids": {m.sid | some m in identity; m.effect == "Deny"},
	"reason": "with an explicit deny in an identity-based policy",
} if {
	some d in identity
	d.effect == "Deny"
	_ = d.sid
} else := {
	"effect": "ExplicitDeny",
	"sids": {m.sid | some m in resource; m.effect == "Deny"},
	"reason": "with an explicit deny in a resource-based policy",
} if {
	some d in resource
	d.effect == "Deny"
	_ = d.sid
} else := {
	"effect": "Allow",
	"sids": {m.sid | some m in array.concat(identity, resource); m.effect == "Allow"},
	"reason": "",
} if {
	allowed(identity, resource)
} else := {
	"effect": "ImplicitDeny",
	"sids": set(),
	"reason": sprintf("because no resource-based policy allows the %s action", [input.action]),
} if {
	identity_allows(identity)
} else := {
	"effect": "ImplicitDeny",
	"sids": set(),
	"reason": sprintf("because no identity-based policy allows the %s action", [input.action]),
}

# identity_allows: the root user has full access in its own account and is
# the caller side of any cross-account request; anyone else needs an Allow
# in an identity policy. An input without a type is root by its ARN.
identity_allows(_) if input.principal.type == "Account"

identity_allows(_) if {
	not input.principal.type
	regex.match(`^arn:aws:iam::[0-9]{12}:root$`, input.principal.arn)
}

identity_allows(identity) if {
	some m in identity
	m.effect == "Allow"
}

# ecr:GetAuthorizationToken is decided by identity policies alone.
allowed(identity, _) if {
	input.action_lc == "ecr:getauthorizationtoken"
	identity_allows(identity)
}

# Within the account: the identity side, or a resource policy granting the
# caller directly ("any", "principal", "notprincipal"); a grant to the
# account ("account") delegates to the account's identity policies.
#
# The accounts are compared first: it is what most often fails.
allowed(identity, _) if {
	input.principal.account == input.resource.account
	input.action_lc != "ecr:getauthorizationtoken"
	identity_allows(identity)
}

allowed(_, resource) if {
	input.principal.account == input.resource.account
	input.action_lc != "ecr:getauthorizationtoken"
	some m in resource
	m.effect == "Allow"
	m.via in {"any", "principal", "notprincipal"}
}

# Across accounts: both sides.
allowed(identity, resource) if {
	input.principal.account != input.resource.account
	input.action_lc != "ecr:getauthorizationtoken"
	identity_allows(identity)
	some m in resource
	m.effect == "Allow"
}
