package core

import "time"

// PullThroughRule is one of a registry's pull-through cache rules, as ECR's
// CreatePullThroughCacheRule describes it. Core only keeps the rules (in
// RegistrySettings); the pullthrough package validates and applies them.
type PullThroughRule struct {
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
