// Package pullthrough is ECR's pull-through cache: the rules
// (Create/Describe/Update/Delete/ValidatePullThroughCacheRule) and the
// core.Upstream that applies them.
//
// A pull of <prefix>/<name> that the registry does not hold is matched to
// the rule with the longest ecrRepositoryPrefix (ROOT matches any
// repository no other rule claims), mapped to the upstream repository
// (upstreamRepositoryPrefix), and fetched: manifests through core's
// ImportManifest, blobs handed to core, which stores them while it streams
// them to the client. The repository is created by core with the reason
// core.CreateForPullThrough, so PULL_THROUGH_CACHE creation templates apply.
// Every write is marked core.CausePullThrough.
//
// Remote upstreams (ECR's supported registries, or berth's own extension of
// an http:// or https:// URL of any registry) are reached with
// go-containerregistry's transport and the credential the rule names in the
// --ptc-credentials file. An ecr upstream
// (<account>.dkr.ecr.<region>.amazonaws.com) is a registry berth holds: the
// image is copied from berth's own core (blobs linked, not copied), after
// the authorizer has let the rule's role pull it.
//
// A tag pulled through is checked upstream again, on a pull, once the
// refresh interval (--ptc-refresh, 24h by default) has passed on the
// injected clock since it was last checked; when it was is kept as per-image
// data beside the image. Upstream failures are core.KindUpstreamUnavailable
// errors carrying the upstream's reason; an upstream without the image is a
// miss.
//
// The package knows core only through Core, so it can be tested alone.
package pullthrough
