package oci

import "strings"

// route is a parsed /v2 path. Repository names contain slashes, so a path is
// split at the last marker whose remainder is a single segment.
type route struct {
	name string
	kind string // "blob", "upload", "manifest", "tags", "referrers"
	ref  string // digest, upload id (may be empty), tag or digest
}

var markers = []struct{ marker, kind string }{
	{"/blobs/uploads/", "upload"},
	{"/blobs/", "blob"},
	{"/manifests/", "manifest"},
	{"/referrers/", "referrers"},
}

func parseRoute(p string) (route, bool) {
	if name, ok := strings.CutSuffix(p, "/tags/list"); ok && name != "" {
		return route{name: name, kind: "tags"}, true
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
	if bestAt < 0 || (best.kind != "upload" && best.ref == "") {
		return route{}, false
	}
	return best, true
}
