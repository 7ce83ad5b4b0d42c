// Package oci serves the OCI Distribution Spec v1.1 at /v2/. Handlers are
// thin: parse the request, identify the caller and the addressed registry,
// ask core's Authorizer for the endpoint's actions, call core, write the
// answer or map core's error to the spec's error body.
package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/internal/httpdate"
	"github.com/berth-dev/berth/internal/last"
)

// Config configures the /v2 edge.
type Config struct {
	Registry        *core.Registry
	Tokens          *core.Tokens
	NoAuth          bool            // serve anonymously as DefaultRegistry
	DefaultRegistry core.RegistryID // --default-account, --region
	Realm           string
	Log             *slog.Logger
}

// Handler serves /v2/.
type Handler struct {
	reg    *core.Registry
	tokens *core.Tokens
	noAuth bool
	def    core.RegistryID
	// defRoot is the root of def's account: every anonymous request's
	// principal, built once.
	defRoot string
	realm   string
	log     *slog.Logger
	// lastManifest holds the header values of the manifest last served
	// (manifestHeaderValues).
	lastManifest last.One[manifestKey, *[4]string]
	// lastResources is the resource list of the route last authorized
	// (resources).
	lastResources last.One[routeResources, []core.Resource]
	// date is a manifest answer's Date header (getManifest).
	date httpdate.Date
}

// New returns the /v2 handler. Mount it at /v2/.
func New(c Config) *Handler {
	h := &Handler{reg: c.Registry, tokens: c.Tokens, noAuth: c.NoAuth, def: c.DefaultRegistry, realm: c.Realm, log: c.Log,
		defRoot: core.RootPrincipal(c.DefaultRegistry.Account)}
	if h.realm == "" {
		h.realm = "berth"
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h
}

// ecrHost matches <account>.dkr.ecr.<region>.(localhost|amazonaws.com)[:port].
var ecrHost = regexp.MustCompile(`^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.(?:localhost|amazonaws\.com)(?::\d+)?$`)

// HostRegistry returns the registry a Host header addresses, if it names one.
func HostRegistry(host string) (core.RegistryID, bool) {
	if !strings.Contains(strings.ToLower(host), ".dkr.ecr.") {
		return core.RegistryID{}, false // most requests: skip the regexp
	}
	m := ecrHost.FindStringSubmatch(strings.ToLower(host))
	if m == nil {
		return core.RegistryID{}, false
	}
	return core.RegistryID{Account: m[1], Region: m[2]}, true
}

// identify authenticates the request and picks the addressed registry: the
// one the Host names, else the token's. Whether the caller may act there is
// the Authorizer's question, asked per endpoint.
func (h *Handler) identify(r *http.Request) (core.Caller, core.RegistryID, error) {
	caller := core.Caller{SourceIP: r.RemoteAddr, SecureTransport: r.TLS != nil}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		caller.SourceIP = ip
	}
	hostReg, hostNamed := HostRegistry(r.Host)
	if h.noAuth {
		// Anonymous requests act as the root of the addressed registry's
		// account, so that every registry stays reachable without credentials.
		target, root := h.def, h.defRoot
		if hostNamed {
			target, root = hostReg, core.RootPrincipal(hostReg.Account)
		}
		caller.Registry, caller.Principal = target, root
		return caller, target, nil
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != "AWS" {
		return caller, core.RegistryID{}, core.Errorf(core.KindUnauthorized, "authentication required: use HTTP Basic with user AWS and a token from 'aws ecr get-login-password' or 'berth token'")
	}
	claims, err := h.tokens.Verify(pass)
	if err != nil {
		return caller, core.RegistryID{}, err
	}
	caller.Registry = core.RegistryID{Account: core.AccountOfPrincipal(claims.Principal), Region: claims.Registry.Region}
	caller.Principal = claims.Principal
	target := claims.Registry
	if hostNamed {
		target = hostReg
	}
	return caller, target, nil
}

// ServeHTTP answers in this order, so that what a caller learns depends only
// on what it may know: 401 without valid credentials, 404 for an unknown
// endpoint, 400 for an invalid repository name, 405 for a method the route
// does not serve — none of which reads the store — then 403 unless the
// Authorizer allows every action of the endpoint, and only then the handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["Docker-Distribution-Api-Version"] = apiVersion // the canonical form of the key
	caller, reg, err := h.identify(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	rt, ok := parseRoute(strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v2"), "/"))
	if !ok {
		writeErrorBody(w, http.StatusNotFound, ociError{Code: "NOT_FOUND", Message: "no such endpoint"})
		return
	}
	if rt.name != "" && !core.ValidRepositoryName(rt.name) {
		h.writeError(w, r, core.Errorf(core.KindNameInvalid, "invalid repository name '%s'", rt.name))
		return
	}
	e, ok := endpointFor(rt, r)
	if !ok {
		writeErrorBody(w, http.StatusMethodNotAllowed, ociError{Code: "UNSUPPORTED", Message: "method not allowed"})
		return
	}
	// The caller's context goes to the endpoint as an argument: a request
	// made anew for it (WithContext) would copy the request every time.
	ctx := core.WithCaller(r.Context(), caller)
	if err := h.authorize(ctx, r, e, reg, rt); err != nil {
		h.writeError(w, r, err)
		return
	}
	e.serve(h, ctx, w, r, reg, rt)
}

// setHeaders sets each key to its value, as Header.Set does, with one
// slice holding every value rather than one each: the answers to the most
// frequent requests set several. Keys given in canonical form cost nothing
// to canonicalize.
func setHeaders(h http.Header, keyValues ...string) {
	values := make([]string, len(keyValues)/2)
	for i := range values {
		values[i] = keyValues[2*i+1]
		h[textproto.CanonicalMIMEHeaderKey(keyValues[2*i])] = values[i : i+1 : i+1]
	}
}

// apiVersion is the Docker-Distribution-API-Version header of every answer.
// net/http only reads header values, so one slice serves every response.
var apiVersion = []string{"registry/2.0"}

func (h *Handler) base(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "{}")
}

// page reads n and last; n < 0 means "no limit given".
func page(w http.ResponseWriter, r *http.Request) (core.Page, bool, bool) {
	q := queryOf(r)
	p := core.Page{Last: q.Get("last")}
	hasN := q.Has("n")
	if hasN {
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 {
			writeErrorBody(w, http.StatusBadRequest, ociError{Code: "PAGINATION_NUMBER_INVALID", Message: "n must be a non-negative integer"})
			return p, false, false
		}
		p.N = n
	}
	return p, hasN, true
}

func nextLink(w http.ResponseWriter, path, last string, n int) {
	q := url.Values{"last": {last}, "n": {strconv.Itoa(n)}}
	w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, path, q.Encode()))
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func (h *Handler) catalog(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	p, hasN, ok := page(w, r)
	if !ok {
		return
	}
	names := []string{}
	if !hasN || p.N > 0 {
		repos, more, err := h.reg.ListRepositories(ctx, reg, p)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		for _, repo := range repos {
			names = append(names, repo.Name)
		}
		if more {
			nextLink(w, "/v2/_catalog", names[len(names)-1], p.N)
		}
	}
	writeJSON(w, http.StatusOK, "application/json", map[string]any{"repositories": names})
}

func (h *Handler) listTags(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	p, hasN, ok := page(w, r)
	if !ok {
		return
	}
	tags := []string{}
	if hasN && p.N == 0 {
		// n=0 asks for nothing, but the repository must still exist.
		if _, err := h.reg.GetRepository(ctx, reg, rt.name); err != nil {
			h.writeError(w, r, err)
			return
		}
	} else {
		got, more, err := h.reg.ListTags(ctx, reg, rt.name, p)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		tags = append(tags, got...)
		if more {
			nextLink(w, "/v2/"+rt.name+"/tags/list", tags[len(tags)-1], p.N)
		}
	}
	writeJSON(w, http.StatusOK, "application/json", map[string]any{"name": rt.name, "tags": tags})
}

func (h *Handler) referrers(ctx context.Context, w http.ResponseWriter, r *http.Request, reg core.RegistryID, rt route) {
	dg, err := core.ParseDigest(rt.ref)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	at := queryOf(r).Get("artifactType")
	referrers, err := h.reg.Referrers(ctx, reg, rt.name, dg, at)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	descs := make([]core.Descriptor, 0, len(referrers))
	for _, img := range referrers {
		descs = append(descs, img.Descriptor())
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	writeJSON(w, http.StatusOK, core.MediaTypeOCIIndex, map[string]any{
		"schemaVersion": 2, "mediaType": core.MediaTypeOCIIndex, "manifests": descs,
	})
}
