package ecr

import (
	"regexp"

	"github.com/berth-dev/berth/core"
)

// authorize asks the Authorizer whether the caller may perform the
// operation's action on what its input names, and, if so, records on c the
// registry the request addresses and the resources it was authorized on.
// in is the decoded input, already valid against the model; nothing is read
// from the stores before the answer.
func (h *Handler) authorize(c *call, spec authorizationSpec, in inputMembers) error {
	reg := c.caller.Registry
	if id := in.stringMember("registryId"); spec.RegistryID && id != "" {
		reg.Account = id
	}
	var resources []core.Resource
	switch spec.Resources {
	case anyResource:
		// "*" still lies in a registry: the one registryId names where the
		// input has it (pull-through cache rules), so that another account's
		// registry is the Authorizer's decision, not the handler's.
		resources = []core.Resource{core.AnyResource(reg)}
	case namedRepository: // most operations: the resource is kept in the call, not in an allocation of its own
		c.resource[0] = core.RepositoryResource(reg, in.stringMember("repositoryName"))
		resources = c.resource[:]
	case namedRepositories:
		for _, name := range in.stringsMember("repositoryNames") {
			resources = append(resources, core.RepositoryResource(reg, name))
		}
		if len(resources) == 0 {
			resources = []core.Resource{core.AllRepositories(reg)}
		}
	case repositoryByARN:
		arnReg, name, err := parseRepositoryARN(in.stringMember("resourceArn"))
		if err != nil {
			return err
		}
		reg = arnReg
		resources = []core.Resource{core.RepositoryResource(reg, name)}
	}
	req := core.AuthRequest{Action: spec.Action, Resources: resources}
	if spec.RequestTags {
		for _, tag := range in.tagsMember("tags") {
			if req.RequestTags == nil {
				req.RequestTags = map[string]string{}
			}
			req.RequestTags[tag.Key] = tag.Value
			req.TagKeys = append(req.TagKeys, tag.Key)
		}
	}
	if spec.TagKeys {
		req.TagKeys = append(req.TagKeys, in.stringsMember("tagKeys")...)
	}
	for key, member := range spec.Context {
		if req.Context == nil {
			req.Context = map[string]string{}
		}
		req.Context[key] = in.stringMember(member)
	}
	if err := h.reg.Authorize(c.ctx, req); err != nil {
		return err
	}
	c.registry, c.resources = reg, resources
	return nil
}

var repositoryARNRE = regexp.MustCompile(`^arn:aws:ecr:([a-z0-9-]+):(\d{12}):repository/(.+)$`)

// parseRepositoryARN returns the registry and repository a repository ARN
// names. A malformed one is a parameter error, answered before authorization
// since nothing need be read to know it.
func parseRepositoryARN(arn string) (core.RegistryID, string, error) {
	m := repositoryARNRE.FindStringSubmatch(arn)
	if m == nil || !core.ValidRepositoryName(m[3]) {
		return core.RegistryID{}, "", invalidParameter("resourceArn", "Invalid ARN")
	}
	return core.RegistryID{Account: m[2], Region: m[1]}, m[3], nil
}
