package pullthrough

import "time"

// Rule is one of a registry's pull-through cache rules, as ECR's
// CreatePullThroughCacheRule describes it. A registry's rules are kept, in
// prefix order, as its per-registry data under dataRules.
type Rule struct {
	// Prefix is the ecrRepositoryPrefix, as given: a repository namespace,
	// or ROOT for every repository no other rule claims.
	Prefix           string    `json:"prefix"`
	UpstreamRegistry string    `json:"upstreamRegistry,omitempty"` // ECR's UpstreamRegistry enum; "" for berth's own http(s):// upstreams
	UpstreamURL      string    `json:"upstreamUrl"`
	UpstreamPrefix   string    `json:"upstreamPrefix,omitempty"` // upstreamRepositoryPrefix; "" is ROOT
	CredentialARN    string    `json:"credentialArn,omitempty"`
	CustomRoleARN    string    `json:"customRoleArn,omitempty"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
}
