package core

import (
	"context"
	"math"
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
	return &callerContext{Context: ctx, caller: c}
}

// callerContext is context.WithValue(ctx, callerKey{}, c) in one allocation
// instead of two (the context and the boxed Caller): every request makes one.
type callerContext struct {
	context.Context
	caller Caller
}

func (c *callerContext) Value(key any) any {
	if key == (callerKey{}) {
		return &c.caller
	}
	return c.Context.Value(key)
}

// CallerFrom returns the caller attached to ctx (zero if none).
func CallerFrom(ctx context.Context) Caller {
	if c, ok := ctx.Value(callerKey{}).(*Caller); ok {
		return *c
	}
	return Caller{}
}

// RootPrincipal is the ARN of an account's root user.
func RootPrincipal(account string) string { return "arn:aws:iam::" + account + ":root" }

// Repository is one repository's record.
type Repository struct {
	Registry  RegistryID `json:"registry"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"createdAt"`
	RepositorySettings
	// LifecycleEvaluatedAt is when the repository's lifecycle policy was
	// last enforced (GetLifecyclePolicy's lastEvaluatedAt).
	LifecycleEvaluatedAt time.Time `json:"lifecycleEvaluatedAt,omitzero"`
}

// RepositorySettings are what a user (or a creation template) sets on a
// repository.
type RepositorySettings struct {
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
	// LifecyclePolicy is the lifecycle policy's text as the user gave it,
	// validated by lifecycle.Parse before it is stored.
	LifecyclePolicy string `json:"lifecyclePolicy,omitempty"`
}

// ResourceTag is an AWS resource tag.
type ResourceTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TagImmutable reports whether an existing tag may not be moved.
func (r *RepositorySettings) TagImmutable(tag string) bool {
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

// Manifest is a parsed manifest or index: what its content says. What the
// registry keeps about a stored one (times, tags, storage class) is an Image.
type Manifest struct {
	Digest       digest.Digest
	MediaType    string
	Size         int64
	ArtifactType string // explicit, or the config media type for OCI images
	Config       *Descriptor
	Layers       []Descriptor
	Children     []Descriptor // an index's manifests
	Subject      *Descriptor
	Annotations  map[string]string
}

// IsIndex reports whether the manifest lists other manifests.
func (m *Manifest) IsIndex() bool { return isIndexType(m.MediaType) }

// Blobs lists the blobs the manifest needs in its repository: the config and
// the layers, except non-distributable ones, which are never pushed.
func (m *Manifest) Blobs() []Descriptor {
	var out []Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	for _, l := range m.Layers {
		if !nonDistributable(l.MediaType) {
			out = append(out, l)
		}
	}
	return out
}

// layersSize is an image's imageSizeInBytes: the sum of its layers, or the
// manifest's own size when it lists none (an artifact without layers). The
// sizes are what the manifest claims, so the sum stops at the largest int64
// rather than wrapping negative.
func (m *Manifest) layersSize() int64 {
	var n int64
	for _, l := range m.Layers {
		if l.Size > math.MaxInt64-n {
			return math.MaxInt64
		}
		n += l.Size
	}
	if n == 0 {
		n = m.Size
	}
	return n
}

// Page asks for part of an ordered listing: at most N entries (0: all) after Last.
type Page struct {
	Last string
	N    int
}
