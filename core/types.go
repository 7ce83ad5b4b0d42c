package core

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// RegistryID names one registry: an AWS account in a region.
type RegistryID struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

func (r RegistryID) String() string { return r.Account + "/" + r.Region }

// Caller is who makes a request, as established by an edge's authentication,
// with what the request's transport says about it (for policy conditions).
type Caller struct {
	Registry        RegistryID // the caller's own account and region
	Principal       string     // ARN, e.g. arn:aws:iam::123456789012:root
	SourceIP        string     // the client's address, without the port
	SecureTransport bool       // the request arrived over TLS
}

type callerKey struct{}

// WithCaller attaches the authenticated caller to ctx.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller attached to ctx (zero if none).
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// RootPrincipal is the ARN of an account's root user.
func RootPrincipal(account string) string { return "arn:aws:iam::" + account + ":root" }

// Repository is one repository's record.
type Repository struct {
	Registry  RegistryID `json:"registry"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"createdAt"`

	// ImageTagMutability is MUTABLE (also when empty), IMMUTABLE,
	// MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION; the exclusions are
	// wildcard filters naming the tags that behave the other way.
	ImageTagMutability   string        `json:"imageTagMutability,omitempty"`
	MutabilityExclusions []string      `json:"mutabilityExclusions,omitempty"`
	ScanOnPush           bool          `json:"scanOnPush,omitempty"`
	EncryptionType       string        `json:"encryptionType,omitempty"` // AES256 (default), KMS, KMS_DSSE
	KMSKey               string        `json:"kmsKey,omitempty"`
	Tags                 []ResourceTag `json:"tags,omitempty"`
	Policy               string        `json:"policy,omitempty"`
}

// ResourceTag is an AWS resource tag.
type ResourceTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TagImmutable reports whether an existing tag may not be moved.
func (r *Repository) TagImmutable(tag string) bool {
	excluded := false
	for _, f := range r.MutabilityExclusions {
		if WildcardMatch(f, tag) {
			excluded = true
			break
		}
	}
	switch r.ImageTagMutability {
	case "IMMUTABLE":
		return true
	case "IMMUTABLE_WITH_EXCLUSION":
		return !excluded
	case "MUTABLE_WITH_EXCLUSION":
		return excluded
	}
	return false
}

// WildcardMatch matches s against a pattern in which '*' stands for any run of characters.
func WildcardMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	star := -1
	match := 0
	pi, si := 0, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, match = pi, si
			pi++
		case pi < len(pattern) && pattern[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			match++
			si = match
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// Descriptor points at content, as in the OCI image spec.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Manifest is what core knows about a stored manifest; its exact bytes are
// kept beside it.
type Manifest struct {
	Digest       digest.Digest     `json:"digest"`
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"` // explicit, or the config media type for images
	Config       *Descriptor       `json:"config,omitempty"`
	Layers       []Descriptor      `json:"layers,omitempty"`
	Children     []Descriptor      `json:"children,omitempty"` // an index's manifests
	Subject      *Descriptor       `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	PushedAt     time.Time         `json:"pushedAt"`
	LastPulledAt time.Time         `json:"lastPulledAt,omitzero"`

	// Storage class: archived images cannot be pulled until restored.
	Archived    bool      `json:"archived,omitempty"`
	ArchivedAt  time.Time `json:"archivedAt,omitzero"`
	ActivatedAt time.Time `json:"activatedAt,omitzero"` // when a restore was asked for
}

// IsIndex reports whether the manifest lists other manifests.
func (m *Manifest) IsIndex() bool { return isIndexType(m.MediaType) }

// Descriptor describes m for a referrers list or an index.
func (m *Manifest) Descriptor() Descriptor {
	return Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
}

// Page asks for part of an ordered listing: at most N entries (0: all) after Last.
type Page struct {
	Last string
	N    int
}
