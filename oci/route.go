package oci

import (
	"strings"

	"github.com/berth-dev/berth/core"
)

// route is a parsed /v2 path. Repository names contain slashes, so a path is
// split at the last marker whose remainder is a single segment.
type route struct {
	name string // the repository; empty for the base check and the catalog
	kind string // one of the kind constants
	ref  string // digest, upload id, tag or digest
}

// What a /v2 path addresses.
const (
	kindBase      = "base"      // /v2/
	kindCatalog   = "catalog"   // /v2/_catalog
	kindManifest  = "manifest"  // /v2/<name>/manifests/<tag or digest>
	kindBlob      = "blob"      // /v2/<name>/blobs/<digest>
	kindUploads   = "uploads"   // /v2/<name>/blobs/uploads/, where uploads start
	kindUpload    = "upload"    // /v2/<name>/blobs/uploads/<id>, one upload in progress
	kindTags      = "tags"      // /v2/<name>/tags/list
	kindReferrers = "referrers" // /v2/<name>/referrers/<digest>
)

var markers = []struct{ marker, kind string }{
	{"/blobs/uploads/", kindUpload},
	{"/blobs/", kindBlob},
	{"/manifests/", kindManifest},
	{"/referrers/", kindReferrers},
}

// parseRoute parses a path relative to /v2/.
func parseRoute(p string) (route, bool) {
	switch p {
	case "":
		return route{kind: kindBase}, true
	case "_catalog":
		return route{kind: kindCatalog}, true
	}
	if name, ok := strings.CutSuffix(p, "/tags/list"); ok && name != "" {
		return route{name: name, kind: kindTags}, true
	}
	best := route{}
	bestAt := -1
	for _, m := range markers {
		i := strings.LastIndex(p, m.marker)
		if i <= 0 {
			continue
		}
		rest := p[i+len(m.marker):]
		if strings.Contains(rest, "/") {
			continue
		}
		// "/blobs/uploads/" also contains "/blobs/": prefer the longer marker at the same place.
		if i > bestAt {
			best, bestAt = route{name: p[:i], kind: m.kind, ref: rest}, i
		}
	}
	if bestAt < 0 {
		return route{}, false
	}
	if best.ref == "" {
		if best.kind != kindUpload {
			return route{}, false
		}
		best.kind = kindUploads
	}
	return best, true
}

// resource is what a route's actions act on: the catalog lists the whole
// registry's repositories; every other route acts on its one repository.
func (rt route) resource(reg core.RegistryID) core.Resource {
	if rt.kind == kindCatalog {
		return core.AllRepositories(reg)
	}
	return core.RepositoryResource(reg, rt.name)
}
