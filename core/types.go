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

// Caller is who makes a request, as established by an edge's authentication.
type Caller struct {
	Registry  RegistryID // the caller's own account and region
	Principal string     // ARN, e.g. arn:aws:iam::123456789012:root
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

// Clock is injected so that ages and expiries are testable without sleeping.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}
