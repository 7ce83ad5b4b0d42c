# Package berth.world builds the input document berth gives the decision
# (data.berth.authz.decision) from an exported inventory,
# data.berth.inventory, so that a user's `opa test` case names a request as
# a caller would make it: a principal, an action and a resource.
#
#	authz.allow with input as world.request("arn:aws:iam::222222222222:root",
#		"ecr:BatchGetImage", "arn:aws:ecr:us-east-1:111111111111:repository/app")
#
# A principal or repository missing from the inventory is what berth would
# see for it: an account root has full access in its own account, anyone
# else has no identity policies; a repository has no policy and no tags.
package berth.world

# request is the input for principal_arn performing action on resource_arn.
request(principal_arn, action, resource_arn) := request_with_context(principal_arn, action, resource_arn, {})

# request_with_context adds request condition keys (aws:SourceIp,
# aws:CurrentTime, aws:RequestTag/<key>, aws:TagKeys, ...): names are
# case-insensitive, a value is a string or a list of strings.
request_with_context(principal_arn, action, resource_arn, context) := {
	"action": action,
	"action_lc": lower(action),
	"principal": principal(principal_arn),
	"resource": resource(resource_arn, principal_arn),
	"context": {lower(k): as_list(v) | some k, v in context},
}

principal(arn) := object.union(principal_defaults(arn), inventory_entry("principals", arn))

# inventory_entry is an entry of the inventory, or {} when it has none.
inventory_entry(section, key) := e if {
	e := data.berth.inventory[section][key]
} else := {}

principal_defaults(arn) := {
	"arn": arn,
	"account": account_of(arn),
	"type": principal_type(arn),
	"role_arn": role_of(arn),
	"userid": userid_of(arn),
	"username": username_of(arn),
	"tags": {},
	"org_id": "",
	"org_paths": [],
	"policies": [],
}

# resource is a repository ARN's resource, or "*" (an action with no
# resource type) in the principal's own registry.
resource(arn, principal_arn) := r if {
	arn != "*"
	parts := split(arn, ":")
	repo := inventory_entry("repositories", arn)
	registry := inventory_entry("registries", concat("/", [parts[4], parts[3]]))
	r := {
		"arn": arn,
		"account": parts[4],
		"region": parts[3],
		"tags": object.get(repo, "tags", {}),
		"policy": object.get(repo, "policy", ""),
		"registry_policy": object.get(registry, "policy", ""),
		"registry_policy_scope": object.get(registry, "scope", "V2"),
	}
}

resource("*", principal_arn) := {
	"arn": "*",
	"account": account_of(principal_arn),
	"region": "",
	"tags": {},
	"policy": "",
	"registry_policy": "",
	"registry_policy_scope": "V2",
}

as_list(v) := v if is_array(v)

as_list(v) := [v] if not is_array(v)

account_of(arn) := split(arn, ":")[4]

principal_type(arn) := "Account" if regex.match(`^arn:aws[a-z-]*:iam::[0-9]{12}:root$`, arn)

else := "User" if regex.match(`^arn:aws[a-z-]*:iam::[0-9]{12}:user/`, arn)

else := "AssumedRole" if regex.match(`^arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/`, arn)

else := "FederatedUser" if regex.match(`^arn:aws[a-z-]*:sts::[0-9]{12}:federated-user/`, arn)

else := ""

# An assumed-role session acts for its role: arn:aws:sts::N:assumed-role/R/s
# is role arn:aws:iam::N:role/R.
role_of(arn) := sprintf("arn:%s:iam::%s:role/%s", [split(arn, ":")[1], account_of(arn), split(split(arn, ":")[5], "/")[1]]) if {
	principal_type(arn) == "AssumedRole"
} else := ""

# The root user's aws:userid is its account id.
userid_of(arn) := account_of(arn) if principal_type(arn) == "Account"

else := ""

username_of(arn) := name if {
	principal_type(arn) == "User"
	segments := split(split(arn, ":")[5], "/")
	name := segments[count(segments) - 1]
} else := ""
