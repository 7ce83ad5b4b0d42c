package oci

import (
	"context"
	"net/http"
	"net/url"

	"github.com/berth-dev/berth/core"
)

// endpoint is one thing the /v2 edge does: a route kind and a method (and,
// where one request line does several things, the query parameter that
// selects the variant), the IAM actions the caller needs for it, and the
// handler. The actions live beside the handler so that nothing is served
// without being authorized; TestEveryEndpointAsksTheAuthorizerForItsActions
// fails for an endpoint it has no expectation for.
type endpoint struct {
	kind   string
	method string
	// query selects a variant: the endpoint serves requests whose query has
	// this parameter. "" serves any request that no earlier variant took.
	query string
	// actions must all be allowed, each on the route's resource, before
	// serve runs. Only the base check has none.
	actions []string
	serve   func(h *Handler, ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route)
}

func (e *endpoint) String() string {
	s := e.method + " " + e.kind
	if e.query != "" {
		s += " ?" + e.query + "="
	}
	return s
}

// endpoints is every /v2 endpoint, with the actions ECR asks for it. For a
// kind and method, variants come before the plain endpoint.
var endpoints = []endpoint{
	// The base check proves the credentials and nothing more.
	{kind: kindBase, method: http.MethodGet, serve: (*Handler).base},
	{kind: kindCatalog, method: http.MethodGet, actions: []string{"ecr:DescribeRepositories"}, serve: (*Handler).catalog},

	{kind: kindManifest, method: http.MethodGet, actions: []string{"ecr:BatchGetImage"}, serve: (*Handler).getManifest},
	{kind: kindManifest, method: http.MethodHead, actions: []string{"ecr:BatchGetImage"}, serve: (*Handler).getManifest},
	{kind: kindManifest, method: http.MethodPut, actions: []string{"ecr:PutImage"}, serve: (*Handler).putManifest},
	{kind: kindManifest, method: http.MethodDelete, actions: []string{"ecr:BatchDeleteImage"}, serve: (*Handler).deleteManifest},

	{kind: kindBlob, method: http.MethodGet, actions: []string{"ecr:GetDownloadUrlForLayer"}, serve: (*Handler).getBlob},
	{kind: kindBlob, method: http.MethodHead, actions: []string{"ecr:BatchCheckLayerAvailability"}, serve: (*Handler).headBlob},
	// ECR serves no blob DELETE; berth's takes away what deleting images would.
	{kind: kindBlob, method: http.MethodDelete, actions: []string{"ecr:BatchDeleteImage"}, serve: (*Handler).deleteBlob},

	// A POST with ?digest= starts, sends and completes an upload in one
	// request. It comes before ?mount= so that a request asking for both
	// needs every action either could use.
	{kind: kindUploads, method: http.MethodPost, query: "digest",
		actions: []string{"ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"}, serve: (*Handler).uploadWhole},
	// A mount needs InitiateLayerUpload on the target here; core.MountBlob
	// asks for ecr:GetDownloadUrlForLayer on the source, which it skips when
	// denied, as ECR does.
	{kind: kindUploads, method: http.MethodPost, query: "mount", actions: []string{"ecr:InitiateLayerUpload"}, serve: (*Handler).mountBlob},
	{kind: kindUploads, method: http.MethodPost, actions: []string{"ecr:InitiateLayerUpload"}, serve: (*Handler).startUpload},

	{kind: kindUpload, method: http.MethodPatch, actions: []string{"ecr:UploadLayerPart"}, serve: (*Handler).patchUpload},
	{kind: kindUpload, method: http.MethodPut, actions: []string{"ecr:CompleteLayerUpload"}, serve: (*Handler).putUpload},
	// AWS documents no action for an upload's status or its cancellation.
	// Berth's choice: both act on an upload in progress, so they need the
	// action that writes to one.
	{kind: kindUpload, method: http.MethodGet, actions: []string{"ecr:UploadLayerPart"}, serve: (*Handler).uploadStatus},
	{kind: kindUpload, method: http.MethodDelete, actions: []string{"ecr:UploadLayerPart"}, serve: (*Handler).cancelUpload},

	{kind: kindTags, method: http.MethodGet, actions: []string{"ecr:ListImages"}, serve: (*Handler).listTags},
	// ECR asks for both: the list is read from the referring manifests.
	{kind: kindReferrers, method: http.MethodGet, actions: []string{"ecr:ListImageReferrers", "ecr:BatchGetImage"}, serve: (*Handler).referrers},
}

// queryOf is r's query, parsed; nil (which reads as empty) when there is
// none, as for most requests, rather than a new empty map each time.
func queryOf(r *http.Request) url.Values {
	if r.URL.RawQuery == "" {
		return nil
	}
	return r.URL.Query()
}

// endpointFor returns the endpoint serving r on rt, or false when the route
// has none for r's method.
func endpointFor(rt route, r *http.Request) (*endpoint, bool) {
	var query url.Values // parsed only for a route with variants
	for _, e := range endpointsByRoute[routeMethod{rt.kind, r.Method}] {
		if e.query != "" {
			if query == nil {
				query = queryOf(r)
			}
			if _, ok := query[e.query]; !ok {
				continue
			}
		}
		return e, true
	}
	return nil, false
}

// routeMethod is a route kind and a method: what selects endpoints.
type routeMethod struct{ kind, method string }

// endpointsByRoute is endpoints by route kind and method, each list in the
// order of endpoints (variants first): a request looks at its own few, not
// at the whole table, which it would read from memory every time.
var endpointsByRoute = func() map[routeMethod][]*endpoint {
	m := map[routeMethod][]*endpoint{}
	for i := range endpoints {
		e := &endpoints[i]
		k := routeMethod{e.kind, e.method}
		m[k] = append(m[k], e)
	}
	return m
}()

// authorize asks for each of e's actions on rt's resource and stops at the
// first denial.
func (h *Handler) authorize(ctx context.Context, r *http.Request, e *endpoint, reg core.RegistryID, rt route) error {
	mountSource := ""
	if rt.kind == kindUploads { // only a mount has a source; other requests need not parse their query
		if q := queryOf(r); q.Has("mount") && core.ValidRepositoryName(q.Get("from")) {
			mountSource = core.RepositoryARN(reg, q.Get("from"))
		}
	}
	if len(e.actions) == 0 {
		return nil
	}
	resources := h.resources(reg, rt)
	for _, action := range e.actions {
		req := core.AuthRequest{Action: action, Resources: resources, MountSource: mountSource}
		if err := h.reg.Authorize(ctx, req); err != nil {
			return err
		}
	}
	return nil
}

// resources is what rt's actions act on, as a list of one: the list built
// for the route last authorized when it is the same route's (its ARN is
// built from the registry and the name), else a new one, kept as the last.
// The list is shared, so never changed: core copies it before it fills in
// tags and policies, and the Authorizer only reads it.
func (h *Handler) resources(reg core.RegistryID, rt route) []core.Resource {
	k := routeResources{reg: reg, name: rt.name, catalog: rt.kind == kindCatalog}
	if res, ok := h.lastResources.Get(k); ok {
		return res
	}
	res := []core.Resource{rt.resource(reg)}
	h.lastResources.Set(k, res)
	return res
}

// routeResources names what the routes of one repository (or the catalog)
// of one registry act on.
type routeResources struct {
	reg     core.RegistryID
	name    string
	catalog bool
}
