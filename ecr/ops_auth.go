package ecr

import (
	"encoding/base64"

	"github.com/berth-dev/berth/core"
)

func (h *Handler) getAuthorizationToken(c *call, in *GetAuthorizationTokenRequest) (*GetAuthorizationTokenResponse, error) {
	ids := in.RegistryIds
	if len(ids) == 0 {
		ids = []string{c.caller.Registry.Account}
	}
	out := &GetAuthorizationTokenResponse{}
	for _, id := range ids {
		reg, err := c.target(id)
		if err != nil {
			return nil, err
		}
		tok, exp := h.tokens.Issue(core.TokenClaims{Registry: core.RegistryID{Account: reg.Account, Region: c.caller.Registry.Region}, Principal: c.caller.Principal})
		out.AuthorizationData = append(out.AuthorizationData, AuthorizationData{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:" + tok)),
			ExpiresAt:          At(exp),
			ProxyEndpoint:      "http://" + c.registryHost(h, reg),
		})
	}
	return out, nil
}
