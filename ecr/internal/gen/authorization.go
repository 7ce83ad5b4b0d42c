package main

import "fmt"

// authorization is how one operation is authorized: what the generated
// authorizationSpec row says.
type authorization struct {
	Action      string
	Resources   string // the ecr package's resourceSource constant
	RegistryID  bool   // registryId names the addressed registry's account
	RequestTags bool   // tags: aws:RequestTag/* and aws:TagKeys
	TagKeys     bool   // tagKeys: aws:TagKeys
	Context     map[string]string
}

// conditionKeys names the service-specific condition key whose value is an
// input member of the given shape.
var conditionKeys = map[string]string{
	"AccountSettingName": "ecr:AccountSetting",
}

// deriveAuthorization reads an operation's authorization off its input
// members. The rule reproduces the Service Authorization Reference for ECR
// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html):
//
//   - every action whose resource type is repository names its repositories
//     in exactly one of repositoryName, repositoryNames (none named: all of
//     the registry's repositories, repository/*) or resourceArn, and no other
//     action has any of these members: those have no resource type in IAM
//     (GetAuthorizationToken, registry policy, account settings, pull-through
//     cache rules, creation templates, signing, replication, registry
//     scanning) and are authorized on "*";
//   - registryId, where the input has it, names the account of the registry
//     the resources belong to;
//   - CreateRepository and TagResource take aws:RequestTag/* and aws:TagKeys
//     from tags, UntagResource aws:TagKeys from tagKeys, and
//     Get/PutAccountSetting ecr:AccountSetting from name.
//
// ListImageReferrers is newer than the copy of the reference this was checked
// against; it follows the same rule (repository). An input that does not fit
// the rule — two ways of naming a repository, or a member of that name with
// another shape — stops the generator rather than guessing.
func deriveAuthorization(m model, op string) (authorization, error) {
	a := authorization{Action: "ecr:" + op, Resources: "anyResource"}
	o := m.Operations[op]
	if o.Input == nil {
		return a, nil
	}
	in := m.Shapes[o.Input.Shape]
	member := func(name string) (shape, string, bool) {
		r, ok := in.Members[name]
		return m.Shapes[r.Shape], r.Shape, ok
	}
	listOf := func(s shape) string {
		if s.Type != "list" || s.Member == nil {
			return ""
		}
		return s.Member.Shape
	}
	bad := func(format string, args ...any) (authorization, error) {
		return authorization{}, fmt.Errorf("%s: "+format+": the authorization rule does not cover it", append([]any{op}, args...)...)
	}

	var named []string
	if s, shapeName, ok := member("repositoryName"); ok {
		if s.Type != "string" || shapeName != "RepositoryName" {
			return bad("repositoryName has shape %s", shapeName)
		}
		a.Resources, named = "namedRepository", append(named, "repositoryName")
	}
	if s, shapeName, ok := member("repositoryNames"); ok {
		if listOf(s) != "RepositoryName" {
			return bad("repositoryNames has shape %s", shapeName)
		}
		a.Resources, named = "namedRepositories", append(named, "repositoryNames")
	}
	if s, shapeName, ok := member("resourceArn"); ok {
		if s.Type != "string" {
			return bad("resourceArn has shape %s", shapeName)
		}
		a.Resources, named = "repositoryByARN", append(named, "resourceArn")
	}
	if len(named) > 1 {
		return bad("the input names repositories in %v", named)
	}
	if s, shapeName, ok := member("registryId"); ok {
		if s.Type != "string" || shapeName != "RegistryId" {
			return bad("registryId has shape %s", shapeName)
		}
		if a.Resources == "repositoryByARN" {
			return bad("both registryId and resourceArn name the registry")
		}
		a.RegistryID = true
	}
	if s, shapeName, ok := member("tags"); ok {
		tag := m.Shapes[listOf(s)]
		if _, k := tag.Members["Key"]; !k || tag.Type != "structure" {
			return bad("tags has shape %s", shapeName)
		}
		if _, v := tag.Members["Value"]; !v {
			return bad("tags has shape %s", shapeName)
		}
		a.RequestTags = true
	}
	if s, shapeName, ok := member("tagKeys"); ok {
		if m.Shapes[listOf(s)].Type != "string" {
			return bad("tagKeys has shape %s", shapeName)
		}
		a.TagKeys = true
	}
	for _, name := range sortedKeys(in.Members) {
		if key, ok := conditionKeys[in.Members[name].Shape]; ok {
			if a.Context == nil {
				a.Context = map[string]string{}
			}
			a.Context[key] = name
		}
	}
	return a, nil
}
