package core

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// Upstream fetches what the registry does not hold from where it came from:
// the pull-through cache implements it. Core consults it inside a manifest
// GET or HEAD (and so BatchGetImage) and a blob GET that miss; the Upstream
// imports what it finds through core's trusted writes (ImportManifest,
// ImportBlob) and core reads again. It returns nil when it imported the
// content, an error of KindManifestNotFound, KindBlobNotFound or
// KindRepositoryNotFound when it has nothing for that name (the caller's
// miss stands), or another error (KindUpstreamUnavailable for a failing
// upstream) that the caller sees instead of the miss.
//
// Concurrent misses of the same reference make one call.
type Upstream interface {
	FetchManifest(ctx context.Context, reg RegistryID, repo, ref string) error
	FetchBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) error
}

// missing reports whether err is a miss an Upstream may fill.
func missing(err error) bool {
	switch KindOf(err) {
	case KindManifestNotFound, KindBlobNotFound, KindRepositoryNotFound:
		return true
	}
	return false
}

// offerMiss hands a miss to the Upstream, once for all concurrent callers
// with the same key. It returns true when the upstream imported something
// to read again, false when the miss stands, or an upstream failure to
// report instead of the miss.
func (r *Registry) offerMiss(ctx context.Context, key string, fetch func(ctx context.Context) error) (bool, error) {
	if r.upstream == nil {
		return false, nil
	}
	// The fetch outlives a caller who gives up: others may be waiting on it.
	_, err, _ := r.fetches.Do(key, func() (any, error) { return nil, fetch(context.WithoutCancel(ctx)) })
	switch {
	case err == nil:
		return true, nil
	case missing(err):
		return false, nil
	}
	return false, err
}

func (r *Registry) fetchManifest(ctx context.Context, reg RegistryID, repo, ref string) (bool, error) {
	return r.offerMiss(ctx, "manifest"+sep+regPrefix(reg)+repo+sep+ref, func(ctx context.Context) error {
		return r.upstream.FetchManifest(ctx, reg, repo, ref)
	})
}

func (r *Registry) fetchBlob(ctx context.Context, reg RegistryID, repo string, d digest.Digest) (bool, error) {
	return r.offerMiss(ctx, "blob"+sep+regPrefix(reg)+repo+sep+string(d), func(ctx context.Context) error {
		return r.upstream.FetchBlob(ctx, reg, repo, d)
	})
}
