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
	// The reference is the last segment, so a marker ends at the last
	// slash: one scan, then a suffix test per marker (no two markers end
	// alike, so at most one matches).
	j := strings.LastIndexByte(p, '/')
	if j < 0 {
		return route{}, false
	}
	head, rest := p[:j+1], p[j+1:]
	for _, m := range markers {
		i := len(head) - len(m.marker)
		if i <= 0 || head[i:] != m.marker {
			continue
		}
		rt := route{name: p[:i], kind: m.kind, ref: rest}
		if rt.ref == "" {
			if rt.kind != kindUpload {
				return route{}, false
			}
			rt.kind = kindUploads
		}
		return rt, true
	}
	return route{}, false
}

// resource is what a route's actions act on: the catalog lists the whole
// registry's repositories; every other route acts on its one repository.
func (rt route) resource(reg core.RegistryID) core.Resource {
	if rt.kind == kindCatalog {
		return core.AllRepositories(reg)
	}
	return core.RepositoryResource(reg, rt.name)
}
