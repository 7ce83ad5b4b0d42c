package ecr

import (
	"encoding/base64"

	"github.com/berth-dev/berth/core"
)

// getAuthorizationToken issues a registry password per registryId (the
// caller's own account when none is given) for the calling principal. AWS
// decides this action by identity policies alone, on "*": a token for
// another account's registry is issued, and /v2 then decides what its
// principal may do there.
func (h *Handler) getAuthorizationToken(c *call, in *GetAuthorizationTokenRequest) (*GetAuthorizationTokenResponse, error) {
	ids := in.RegistryIds
	if len(ids) == 0 {
		ids = []string{c.caller.Registry.Account}
	}
	out := &GetAuthorizationTokenResponse{}
	for _, id := range ids {
		reg := core.RegistryID{Account: id, Region: c.caller.Registry.Region}
		tok, exp := h.tokens.Issue(core.TokenClaims{Registry: reg, Principal: c.caller.Principal})
		out.AuthorizationData = append(out.AuthorizationData, AuthorizationData{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:" + tok)),
			ExpiresAt:          At(exp),
			ProxyEndpoint:      c.requestURIs(h).ProxyEndpoint(reg),
		})
	}
	return out, nil
}
