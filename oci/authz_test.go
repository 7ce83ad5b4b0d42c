package oci

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

// recordingAuthorizer notes every question it is asked, with the caller
// attached to the request, and answers with decide (allow when nil).
type recordingAuthorizer struct {
	mu      sync.Mutex
	asked   []core.AuthRequest
	callers []core.Caller
	decide  func(core.AuthRequest) error
}

func (a *recordingAuthorizer) Authorize(ctx context.Context, req core.AuthRequest) error {
	a.mu.Lock()
	a.asked = append(a.asked, req)
	a.callers = append(a.callers, core.CallerFrom(ctx))
	a.mu.Unlock()
	if a.decide != nil {
		return a.decide(req)
	}
	return nil
}

// take returns what was asked since the last take.
func (a *recordingAuthorizer) take() ([]core.AuthRequest, []core.Caller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	asked, callers := a.asked, a.callers
	a.asked, a.callers = nil, nil
	return asked, callers
}

// denyAll answers every question as AWS words a denial.
func denyAll(req core.AuthRequest) error {
	return core.AccessDenied(req, req.Resources[0], "the test denies everything")
}

// ask is one question to the authorizer: an action on one resource.
type ask struct{ action, arn string }

func asksOf(reqs []core.AuthRequest) []ask {
	out := []ask{}
	for _, r := range reqs {
		a := ask{action: r.Action}
		for i, res := range r.Resources {
			if i > 0 {
				a.arn += " "
			}
			a.arn += res.ARN
		}
		out = append(out, a)
	}
	return out
}

const appARN = "arn:aws:ecr:us-east-1:111111111111:repository/app"

// authzFixture is what the endpoint cases act on, all in acct: repository app
// holding image app:v1 and an upload in progress, and repository src holding
// a blob app lacks, mountable because blob mounting is enabled.
type authzFixture struct {
	manifest  digest.Digest // app:v1
	nextImage []byte        // a manifest whose blobs app holds, not pushed yet
	layer     digest.Digest // a blob of app
	srcOnly   digest.Digest // a blob of src only
	upload    string        // an empty upload in progress in app
}

func newAuthzFixture(e *env) authzFixture {
	e.t.Helper()
	var f authzFixture
	e.createRepo(acct, "app")
	e.createRepo(acct, "src")
	body := e.image(acct, "app", "one")
	m, err := e.reg.PutManifest(bgctx, acct, "app", core.PutManifestInput{Reference: "v1", Body: body})
	if err != nil {
		e.t.Fatal(err)
	}
	f.manifest = m.Digest
	f.layer = e.putBlob(acct, "app", []byte("a layer of app")).Digest
	f.nextImage = e.image(acct, "app", "two")
	f.srcOnly = e.putBlob(acct, "src", []byte("a layer only src has")).Digest
	st, err := e.reg.StartUpload(bgctx, acct, "app")
	if err != nil {
		e.t.Fatal(err)
	}
	f.upload = st.ID
	_, err = e.reg.UpdateSettings(bgctx, acct, func(s *core.RegistrySettings) error {
		s.Account = map[string]string{"BLOB_MOUNTING": "ENABLED"}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// wholeBlob is what the monolithic upload case sends.
var wholeBlob = []byte("a blob sent whole")

// endpointCase exercises one endpoint: a request on a repository that
// succeeds against the fixture with status, having asked asks of the
// authorizer (on repository app).
type endpointCase struct {
	request func(f authzFixture, repo string) req
	status  int
	asks    []ask
}

// endpointCases has one case per entry of endpoints, keyed by its String.
var endpointCases = map[string]endpointCase{
	"GET base": {
		func(authzFixture, string) req { return req{method: "GET", path: "/v2/"} },
		200, nil},
	"GET catalog": {
		func(authzFixture, string) req { return req{method: "GET", path: "/v2/_catalog"} },
		200, []ask{{"ecr:DescribeRepositories", "arn:aws:ecr:us-east-1:111111111111:repository/*"}}},

	"GET manifest": {
		func(f authzFixture, repo string) req {
			return req{method: "GET", path: "/v2/" + repo + "/manifests/v1"}
		},
		200, []ask{{"ecr:BatchGetImage", appARN}}},
	"HEAD manifest": {
		func(f authzFixture, repo string) req {
			return req{method: "HEAD", path: "/v2/" + repo + "/manifests/" + f.manifest.String()}
		},
		200, []ask{{"ecr:BatchGetImage", appARN}}},
	"PUT manifest": {
		func(f authzFixture, repo string) req {
			return req{method: "PUT", path: "/v2/" + repo + "/manifests/v2", body: f.nextImage,
				header: map[string]string{"Content-Type": core.MediaTypeOCIManifest}}
		},
		201, []ask{{"ecr:PutImage", appARN}}},
	"DELETE manifest": {
		func(f authzFixture, repo string) req {
			return req{method: "DELETE", path: "/v2/" + repo + "/manifests/v1"}
		},
		202, []ask{{"ecr:BatchDeleteImage", appARN}}},

	"GET blob": {
		func(f authzFixture, repo string) req {
			return req{method: "GET", path: "/v2/" + repo + "/blobs/" + f.layer.String()}
		},
		200, []ask{{"ecr:GetDownloadUrlForLayer", appARN}}},
	"HEAD blob": {
		func(f authzFixture, repo string) req {
			return req{method: "HEAD", path: "/v2/" + repo + "/blobs/" + f.layer.String()}
		},
		200, []ask{{"ecr:BatchCheckLayerAvailability", appARN}}},
	"DELETE blob": {
		func(f authzFixture, repo string) req {
			return req{method: "DELETE", path: "/v2/" + repo + "/blobs/" + f.layer.String()}
		},
		202, []ask{{"ecr:BatchDeleteImage", appARN}}},

	"POST uploads ?digest=": {
		func(f authzFixture, repo string) req {
			return req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?digest=" + digest.FromBytes(wholeBlob).String(), body: wholeBlob}
		},
		201, []ask{{"ecr:InitiateLayerUpload", appARN}, {"ecr:UploadLayerPart", appARN}, {"ecr:CompleteLayerUpload", appARN}}},
	"POST uploads ?mount=": {
		func(f authzFixture, repo string) req {
			return req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?mount=" + f.srcOnly.String() + "&from=src"}
		},
		// The source is asked about by core.MountBlob.
		201, []ask{{"ecr:InitiateLayerUpload", appARN}, {"ecr:GetDownloadUrlForLayer", "arn:aws:ecr:us-east-1:111111111111:repository/src"}}},
	"POST uploads": {
		func(f authzFixture, repo string) req {
			return req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/"}
		},
		202, []ask{{"ecr:InitiateLayerUpload", appARN}}},

	"PATCH upload": {
		func(f authzFixture, repo string) req {
			return req{method: "PATCH", path: "/v2/" + repo + "/blobs/uploads/" + f.upload, body: []byte("a chunk")}
		},
		202, []ask{{"ecr:UploadLayerPart", appARN}}},
	"PUT upload": {
		func(f authzFixture, repo string) req {
			return req{method: "PUT", path: "/v2/" + repo + "/blobs/uploads/" + f.upload + "?digest=" + digest.FromBytes(nil).String()}
		},
		201, []ask{{"ecr:CompleteLayerUpload", appARN}}},
	"GET upload": {
		func(f authzFixture, repo string) req {
			return req{method: "GET", path: "/v2/" + repo + "/blobs/uploads/" + f.upload}
		},
		204, []ask{{"ecr:UploadLayerPart", appARN}}},
	"DELETE upload": {
		func(f authzFixture, repo string) req {
			return req{method: "DELETE", path: "/v2/" + repo + "/blobs/uploads/" + f.upload}
		},
		204, []ask{{"ecr:UploadLayerPart", appARN}}},

	"GET tags": {
		func(f authzFixture, repo string) req { return req{method: "GET", path: "/v2/" + repo + "/tags/list"} },
		200, []ask{{"ecr:ListImages", appARN}}},
	"GET referrers": {
		func(f authzFixture, repo string) req {
			return req{method: "GET", path: "/v2/" + repo + "/referrers/" + f.manifest.String()}
		},
		200, []ask{{"ecr:ListImageReferrers", appARN}, {"ecr:BatchGetImage", appARN}}},
}

// routeOf is the endpoint the handler picks for a request.
func routeOf(t *testing.T, r req) (route, *endpoint) {
	t.Helper()
	hr, _ := http.NewRequest(r.method, r.path, nil)
	rt, ok := parseRoute(strings.TrimPrefix(strings.TrimPrefix(hr.URL.Path, "/v2"), "/"))
	if !ok {
		t.Fatalf("%s %s is no route", r.method, r.path)
	}
	e, ok := endpointFor(rt, hr)
	if !ok {
		t.Fatalf("%s %s has no endpoint", r.method, r.path)
	}
	return rt, e
}

// Every endpoint asks the authorizer exactly for its actions on its resource,
// as the caller the token names, before serving. An endpoint added to the
// table without a case here fails, so nothing is served unauthorized.
func TestEveryEndpointAsksTheAuthorizerForItsActions(t *testing.T) {
	const principal = "arn:aws:iam::111111111111:user/ci"
	seen := map[string]bool{}
	for i := range endpoints {
		ep := &endpoints[i]
		name := ep.String()
		if seen[name] {
			t.Errorf("endpoint %s is in the table twice", name)
		}
		seen[name] = true
		c, ok := endpointCases[name]
		if !ok {
			t.Errorf("endpoint %s has no case in endpointCases: say which actions it needs", name)
			continue
		}
		if len(ep.actions) == 0 && ep.kind != kindBase {
			t.Errorf("endpoint %s asks for no action; only the base check may", name)
		}
		t.Run(name, func(t *testing.T) {
			az := &recordingAuthorizer{}
			e := newEnvWith(t, envConfig{authorizer: az})
			e.token, _ = e.tokens.Issue(core.TokenClaims{Registry: acct, Principal: principal})
			f := newAuthzFixture(e)
			az.take()

			r := c.request(f, "app")
			if _, got := routeOf(t, r); got != ep {
				t.Fatalf("the case's request %s %s is served by %s", r.method, r.path, got)
			}
			w := e.do(r)
			wantStatus(t, w, c.status, name)
			asked, callers := az.take()
			want := c.asks
			if want == nil {
				want = []ask{}
			}
			if got := asksOf(asked); !reflect.DeepEqual(got, want) {
				t.Fatalf("authorizer was asked\n %v\nwant\n %v", got, want)
			}
			for i, q := range asked {
				if q.Principal != principal || q.PrincipalAccount != acct.Account || callers[i].Registry != acct {
					t.Fatalf("asked %s as %s of %s (caller %+v)", q.Action, q.Principal, q.PrincipalAccount, callers[i])
				}
				// A mount's upload names the repository it would read from.
				wantSource := ""
				if ep.query == "mount" && q.Action == "ecr:InitiateLayerUpload" {
					wantSource = "arn:aws:ecr:us-east-1:111111111111:repository/src"
				}
				if q.MountSource != wantSource {
					t.Fatalf("asked %s with mount source %q, want %q", q.Action, q.MountSource, wantSource)
				}
			}
		})
	}
	for name := range endpointCases {
		if !seen[name] {
			t.Errorf("case %s has no endpoint in the table", name)
		}
	}
}

// A caller the authorizer denies gets 403 DENIED and core's message on every
// endpoint but the base check, whether the repository exists or not, and
// nothing is read or changed: a denied push creates no repository, even with
// create-on-push.
func TestDeniedCallerLearnsNothingAndChangesNothing(t *testing.T) {
	az := &recordingAuthorizer{decide: denyAll}
	// Room for the fixture's session and one more: a session a denied
	// request started would take it.
	e := newEnvWith(t, envConfig{authorizer: az, createOnPush: true, maxUploads: 2})
	f := newAuthzFixture(e)
	idsBefore := *e.ids

	for i := range endpoints {
		ep := &endpoints[i]
		c, ok := endpointCases[ep.String()]
		if !ok || len(ep.actions) == 0 {
			continue // the enumeration test fails for the first; the base check asks nothing
		}
		for _, repo := range []string{"app", "nope"} {
			az.take()
			r := c.request(f, repo)
			w := e.do(r)
			what := r.method + " " + r.path
			if r.method == http.MethodHead {
				wantStatus(t, w, 403, what)
			} else {
				wantError(t, w, 403, "DENIED", what)
			}
			asked, _ := az.take()
			if len(asked) != 1 || asked[0].Action != ep.actions[0] {
				t.Fatalf("%s: asked %v, want only %s (stop at the first denial)", what, asksOf(asked), ep.actions[0])
			}
			if r.method == http.MethodHead {
				continue
			}
			res := core.RepositoryResource(acct, repo)
			if ep.kind == kindCatalog {
				res = core.AllRepositories(acct)
			}
			want := "User: arn:aws:iam::111111111111:root is not authorized to perform: " + ep.actions[0] +
				" on resource: " + res.ARN + " because the test denies everything"
			if got := errorMessage(t, w); got != want {
				t.Fatalf("%s: message\n got  %s\n want %s", what, got, want)
			}
		}
	}

	repos, _, err := e.reg.ListRepositories(bgctx, acct, core.Page{})
	if err != nil || len(repos) != 2 || repos[0].Name != "app" || repos[1].Name != "src" {
		t.Fatalf("repositories after denied requests: %v %v", repos, err)
	}
	if tags, _, err := e.reg.ListTags(bgctx, acct, "app", core.Page{}); err != nil || !reflect.DeepEqual(tags, []string{"v1"}) {
		t.Fatalf("tags after denied requests: %v %v", tags, err)
	}
	if _, err := e.reg.StatManifest(bgctx, acct, "app", "v1", nil); err != nil {
		t.Fatalf("app:v1 after denied requests: %v", err)
	}
	if _, err := e.reg.StatBlob(bgctx, acct, "app", f.layer); err != nil {
		t.Fatalf("app's blob after denied requests: %v", err)
	}
	for _, d := range []digest.Digest{f.srcOnly, digest.FromBytes(wholeBlob)} {
		if _, err := e.reg.StatBlob(bgctx, acct, "app", d); !core.IsKind(err, core.KindBlobNotFound) {
			t.Fatalf("blob %s in app after denied requests: %v", d, err)
		}
	}
	if st, err := e.reg.GetUpload(bgctx, acct, "app", f.upload); err != nil || st.Size != 0 {
		t.Fatalf("the upload after denied requests: %+v %v", st, err)
	}
	if *e.ids != idsBefore {
		t.Fatalf("denied requests started %d one-request uploads", *e.ids-idsBefore)
	}
	if _, err := e.reg.StartUpload(bgctx, acct, "app"); err != nil {
		t.Fatalf("denied requests started upload sessions: %v", err)
	}
}

// The base check authenticates and asks the authorizer nothing, on any
// registry; without credentials it is still 401.
func TestBaseCheckNeverAsksTheAuthorizer(t *testing.T) {
	az := &recordingAuthorizer{decide: denyAll}
	e := newEnvWith(t, envConfig{authorizer: az})
	for _, host := range []string{"", "222222222222.dkr.ecr.us-east-1.localhost:4566"} {
		w := e.do(req{method: "GET", path: "/v2/", host: host})
		wantStatus(t, w, 200, "base check on "+host)
		if w.Body.String() != "{}" {
			t.Fatalf("base body %q", w.Body.String())
		}
	}
	wantError(t, e.do(req{method: "GET", path: "/v2/", noCreds: true}), 401, "UNAUTHORIZED", "base check without credentials")
	if asked, _ := az.take(); len(asked) != 0 {
		t.Fatalf("the base check asked %v", asksOf(asked))
	}
}

// The caller comes from the token: its principal and that principal's
// account, the token's region, the client's address and whether it used TLS.
// The addressed registry is the Host's, else the token's.
func TestAuthorizerSeesTheCallerFromTheTokenAndTheConnection(t *testing.T) {
	az := &recordingAuthorizer{}
	e := newEnvWith(t, envConfig{authorizer: az})
	const alice = "arn:aws:iam::111111111111:user/team/alice"
	e.token, _ = e.tokens.Issue(core.TokenClaims{Registry: acct2, Principal: alice})

	for _, c := range []struct {
		what, host, remote string
		tls                bool
		sourceIP, arn      string
	}{
		{"the token's registry, over TLS from IPv6", "localhost:4566", "[2001:db8::7]:50000", true, "2001:db8::7",
			"arn:aws:ecr:eu-west-1:111111111111:repository/app"},
		{"the Host's registry, in the clear", "222222222222.dkr.ecr.us-east-1.localhost", "198.51.100.4:1234", false, "198.51.100.4",
			"arn:aws:ecr:us-east-1:222222222222:repository/app"},
	} {
		w := e.do(req{method: "GET", path: "/v2/app/tags/list", host: c.host, remoteAddr: c.remote, tls: c.tls})
		wantError(t, w, 404, "NAME_UNKNOWN", c.what)
		asked, callers := az.take()
		if len(asked) != 1 {
			t.Fatalf("%s: asked %v", c.what, asksOf(asked))
		}
		q := asked[0]
		if q.Principal != alice || q.PrincipalAccount != "111111111111" || q.SourceIP != c.sourceIP || q.SecureTransport != c.tls {
			t.Fatalf("%s: caller in the request %+v", c.what, q)
		}
		if callers[0].Registry != acct2 {
			t.Fatalf("%s: caller's registry %v, want the token's %v", c.what, callers[0].Registry, acct2)
		}
		if q.Resources[0].ARN != c.arn || q.Resources[0].Registry.Account != strings.Split(c.arn, ":")[4] {
			t.Fatalf("%s: resource %+v, want %s", c.what, q.Resources[0], c.arn)
		}
	}
}

// Without authentication, the caller is the root of the addressed registry's
// account, so the default authorizer lets it reach every registry.
func TestAnonymousCallerIsRootOfTheAddressedAccount(t *testing.T) {
	az := &recordingAuthorizer{}
	e := newEnvWith(t, envConfig{noAuth: true, authorizer: az})
	for host, want := range map[string]core.RegistryID{
		"localhost:4566": acct,
		"222222222222.dkr.ecr.us-east-1.localhost": other,
		"111111111111.dkr.ecr.eu-west-1.localhost": acct2,
	} {
		wantStatus(t, e.do(req{method: "GET", path: "/v2/_catalog", host: host, noCreds: true}), 200, "anonymous catalog on "+host)
		asked, callers := az.take()
		if len(asked) != 1 || asked[0].Principal != core.RootPrincipal(want.Account) || callers[0].Registry != want ||
			asked[0].Resources[0].ARN != core.AllRepositories(want).ARN {
			t.Fatalf("%s: asked %+v as %+v", host, asked, callers)
		}
	}

	// With the default authorizer, a mount in another account's registry
	// reads its source there as that account.
	anon := newEnv(t, true)
	anon.createRepo(other, "src")
	anon.createRepo(other, "dst")
	d := anon.putBlob(other, "src", []byte("a layer of the other account")).Digest
	if _, err := anon.reg.UpdateSettings(bgctx, other, func(s *core.RegistrySettings) error {
		s.Account = map[string]string{"BLOB_MOUNTING": "ENABLED"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w := anon.do(req{method: "POST", path: "/v2/dst/blobs/uploads/?mount=" + d.String() + "&from=src",
		host: "222222222222.dkr.ecr.us-east-1.localhost", noCreds: true})
	wantStatus(t, w, 201, "anonymous mount in another account's registry")
}

// Requests that alternate between repositories, registries and the catalog
// are each authorized on their own resource: the list kept from the last
// route is used only for that route.
func TestAlternatingRoutesAreEachAuthorizedOnTheirOwnResource(t *testing.T) {
	az := &recordingAuthorizer{}
	e := newEnvWith(t, envConfig{authorizer: az})
	az.take()
	eu := "111111111111.dkr.ecr.eu-west-1.localhost:4566"
	for _, c := range []struct {
		path, host, arn string
	}{
		{"/v2/app/tags/list", "", appARN},
		{"/v2/app/tags/list", "", appARN},
		{"/v2/src/tags/list", "", "arn:aws:ecr:us-east-1:111111111111:repository/src"},
		{"/v2/app/tags/list", eu, "arn:aws:ecr:eu-west-1:111111111111:repository/app"},
		{"/v2/app/tags/list", "", appARN},
		{"/v2/_catalog", "", "arn:aws:ecr:us-east-1:111111111111:repository/*"},
		{"/v2/", "", ""},
		{"/v2/app/tags/list", "", appARN},
	} {
		e.do(req{method: "GET", path: c.path, host: c.host})
		asked, _ := az.take()
		want := []ask{}
		if c.arn != "" {
			want = []ask{{"ecr:" + map[bool]string{true: "DescribeRepositories", false: "ListImages"}[c.path == "/v2/_catalog"], c.arn}}
		}
		if got := asksOf(asked); !reflect.DeepEqual(got, want) {
			t.Fatalf("GET %s (host %q): asked %v, want %v", c.path, c.host, got, want)
		}
	}
}
