package oci

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
)

func TestParseRoute(t *testing.T) {
	const dg = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	for _, c := range []struct {
		path string
		want route
		ok   bool
	}{
		{"app/manifests/latest", route{name: "app", kind: "manifest", ref: "latest"}, true},
		{"team/app/manifests/" + dg, route{name: "team/app", kind: "manifest", ref: dg}, true},
		{"app/blobs/" + dg, route{name: "app", kind: "blob", ref: dg}, true},
		{"", route{kind: "base"}, true},
		{"_catalog", route{kind: "catalog"}, true},
		{"app/blobs/uploads/", route{name: "app", kind: "uploads"}, true},
		{"app/blobs/uploads/abc-123", route{name: "app", kind: "upload", ref: "abc-123"}, true},
		{"app/tags/list", route{name: "app", kind: "tags"}, true},
		{"a/b/c/tags/list", route{name: "a/b/c", kind: "tags"}, true},
		{"app/referrers/" + dg, route{name: "app", kind: "referrers", ref: dg}, true},

		// Repository names holding the markers' words as segments.
		{"blobs/manifests/v1", route{name: "blobs", kind: "manifest", ref: "v1"}, true},
		{"x/blobs/y/manifests/v1", route{name: "x/blobs/y", kind: "manifest", ref: "v1"}, true},
		{"manifests/blobs/" + dg, route{name: "manifests", kind: "blob", ref: dg}, true},
		{"a/manifests/b/blobs/" + dg, route{name: "a/manifests/b", kind: "blob", ref: dg}, true},
		{"uploads/blobs/uploads/", route{name: "uploads", kind: "uploads"}, true},
		{"x/blobs/uploads/blobs/uploads/", route{name: "x/blobs/uploads", kind: "uploads"}, true},
		{"_catalog/manifests/v1", route{name: "_catalog", kind: "manifest", ref: "v1"}, true}, // an invalid name, refused later
		{"x/_catalog/tags/list", route{name: "x/_catalog", kind: "tags"}, true},
		{"x/blobs/uploads/blobs/uploads/id1", route{name: "x/blobs/uploads", kind: "upload", ref: "id1"}, true},
		{"x/blobs/uploads/blobs/" + dg, route{name: "x/blobs/uploads", kind: "blob", ref: dg}, true},
		{"x/blobs/uploads/manifests/latest", route{name: "x/blobs/uploads", kind: "manifest", ref: "latest"}, true},
		{"x/manifests/latest/manifests/v2", route{name: "x/manifests/latest", kind: "manifest", ref: "v2"}, true},
		{"x/tags/list/manifests/v2", route{name: "x/tags/list", kind: "manifest", ref: "v2"}, true},
		{"x/tags/list/tags/list", route{name: "x/tags/list", kind: "tags"}, true},
		{"x/manifests/tags/list", route{name: "x/manifests", kind: "tags"}, true},
		{"x/referrers/y/referrers/" + dg, route{name: "x/referrers/y", kind: "referrers", ref: dg}, true},
		{"x/referrers/manifests/v1", route{name: "x/referrers", kind: "manifest", ref: "v1"}, true},

		// Not routes.
		{"app", route{}, false},
		{"/", route{}, false},
		{"x/_catalog", route{}, false},
		{"_catalog/", route{}, false},
		{"app/manifests/", route{}, false},
		{"app/blobs/", route{}, false},
		{"app/referrers/", route{}, false},
		{"manifests/latest", route{}, false}, // no name before the marker
		{"/manifests/latest", route{}, false},
		{"tags/list", route{}, false},
		{"app/manifests/a/b", route{}, false},
		{"app/blobs/uploads/a/b", route{}, false},
		{"app/tags", route{}, false},
		{"app/unknown/x", route{}, false},
	} {
		got, ok := parseRoute(c.path)
		if ok != c.ok || got != c.want {
			t.Errorf("parseRoute(%q) = %+v, %v; want %+v, %v", c.path, got, ok, c.want, c.ok)
		}
	}
}

func TestHostRegistry(t *testing.T) {
	for _, c := range []struct {
		host string
		want core.RegistryID
		ok   bool
	}{
		{"123456789012.dkr.ecr.us-east-1.localhost", core.RegistryID{Account: "123456789012", Region: "us-east-1"}, true},
		{"123456789012.dkr.ecr.eu-west-2.localhost:4566", core.RegistryID{Account: "123456789012", Region: "eu-west-2"}, true},
		{"000000000000.dkr.ecr.ap-southeast-1.amazonaws.com", core.RegistryID{Account: "000000000000", Region: "ap-southeast-1"}, true},
		{"123456789012.DKR.ECR.US-EAST-1.LOCALHOST:4566", core.RegistryID{Account: "123456789012", Region: "us-east-1"}, true},
		{"localhost:4566", core.RegistryID{}, false},
		{"127.0.0.1:4566", core.RegistryID{}, false},
		{"", core.RegistryID{}, false},
		{"12345678901.dkr.ecr.us-east-1.localhost", core.RegistryID{}, false},   // 11 digits
		{"1234567890123.dkr.ecr.us-east-1.localhost", core.RegistryID{}, false}, // 13 digits
		{"abcdefghijkl.dkr.ecr.us-east-1.localhost", core.RegistryID{}, false},
		{"123456789012.dkr.ecr.us-east-1.example.com", core.RegistryID{}, false},
		{"123456789012.dkr.ecr.us-east-1.localhost.evil.com", core.RegistryID{}, false},
		{"x.123456789012.dkr.ecr.us-east-1.localhost", core.RegistryID{}, false},
		{"123456789012.dkr.ecr..localhost", core.RegistryID{}, false},
		{"123456789012.dkr.ecr.us-east-1.localhost:port", core.RegistryID{}, false},
	} {
		got, ok := HostRegistry(c.host)
		if ok != c.ok || got != c.want {
			t.Errorf("HostRegistry(%q) = %+v, %v; want %+v, %v", c.host, got, ok, c.want, c.ok)
		}
	}
}

// parseRouteByMarkers is parseRoute as first written, every marker searched
// for: the oracle for the one-scan form.
func parseRouteByMarkers(p string) (route, bool) {
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

func TestParseRouteAnswersAsTheMarkerSearchDid(t *testing.T) {
	parts := []string{"", "/", "a", "b/c", "blobs", "uploads", "manifests", "referrers", "tags", "list", "_catalog", "x"}
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range 200000 {
		var b strings.Builder
		for range rnd.IntN(7) {
			b.WriteString(parts[rnd.IntN(len(parts))])
			if rnd.IntN(3) > 0 {
				b.WriteByte('/')
			}
		}
		p := b.String()
		got, gotOK := parseRoute(p)
		want, wantOK := parseRouteByMarkers(p)
		if got != want || gotOK != wantOK {
			t.Fatalf("path %d %q: %+v %v, want %+v %v", i, p, got, gotOK, want, wantOK)
		}
	}
}
