package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

const otherAccount = "111111111111"

func ecrHost(account, region string) string {
	return account + ".dkr.ecr." + region + ".localhost"
}

// TestAuthRequired checks that /v2 wants HTTP Basic AWS:<valid token>.
func TestAuthRequired(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	token := b.Token("")
	anon := raw(t, b, "")

	for _, path := range []string{"/v2/", "/v2/some/repo/tags/list", "/v2/some/repo/manifests/latest"} {
		resp, body := anon.do(http.MethodGet, path, nil, nil)
		expectOCIError(t, "anonymous GET "+path, resp, body, http.StatusUnauthorized, "UNAUTHORIZED")
		if wa := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Basic realm=") {
			t.Fatalf("anonymous GET %s: WWW-Authenticate %q, want Basic realm=...", path, wa)
		}
	}
	// An anonymous push is refused before anything is created.
	resp, body := anon.do(http.MethodPost, "/v2/some/repo/blobs/uploads/", nil, nil)
	expectOCIError(t, "anonymous upload", resp, body, http.StatusUnauthorized, "UNAUTHORIZED")
	resp, body = anon.withAuth("AWS", token).do(http.MethodGet, "/v2/_catalog", nil, nil)
	expect(t, "catalog", resp, body, http.StatusOK)
	var catalog struct{ Repositories []string }
	if err := json.Unmarshal(body, &catalog); err != nil || len(catalog.Repositories) != 0 {
		t.Fatalf("the anonymous upload created something: %s (%v)", body, err)
	}

	// Another berth's token has a valid shape but a foreign signature.
	foreign := Start(t).Token("")
	bad := map[string][2]string{
		"wrong password":      {"AWS", "not-a-token"},
		"tampered token":      {"AWS", token[:len(token)-2] + flip(token[len(token)-2:])},
		"another berth token": {"AWS", foreign},
		"wrong user":          {"admin", token},
		"empty password":      {"AWS", ""},
	}
	for what, cred := range bad {
		c := anon.withAuth(cred[0], cred[1])
		resp, body := c.do(http.MethodGet, "/v2/", nil, nil)
		expectOCIError(t, what, resp, body, http.StatusUnauthorized, "UNAUTHORIZED")
		if wa := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Basic realm=") {
			t.Fatalf("%s: WWW-Authenticate %q", what, wa)
		}
	}

	// The right credentials work, and ggcr handles the Basic challenge.
	resp, body = anon.withAuth("AWS", token).do(http.MethodGet, "/v2/", nil, nil)
	expect(t, "GET /v2/ with a token", resp, body, http.StatusOK)
	img, err := random.Image(500, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTransport(t, b)
	if err := remote.Write(ref(t, b, "some/repo:v1"), img, ggcr(tr, token)...); err != nil {
		t.Fatalf("push with a token: %v", err)
	}
	if _, err := remote.Image(ref(t, b, "some/repo:v1"), ggcr(tr, "")...); err == nil {
		t.Fatal("anonymous ggcr pull succeeded")
	} else if code, status := transportCode(err); code != transport.UnauthorizedErrorCode || status != http.StatusUnauthorized {
		t.Fatalf("anonymous ggcr pull: %v (code %q status %d), want UNAUTHORIZED 401", err, code, status)
	}
}

// flip changes every character of s into a different base64url character.
func flip(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == 'A' {
			out[i] = 'B'
		} else {
			out[i] = 'A'
		}
	}
	return string(out)
}

// TestAccountAddressing checks that the host selects the account's registry:
// each account sees only its own repositories, and the default authorizer
// denies it another's.
func TestAccountAddressing(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	defTok, otherTok := b.Token(""), b.Token(otherAccount)
	tr := newTransport(t, b)
	_, port, _ := strings.Cut(b.Addr, ":")
	otherHost := ecrHost(otherAccount, "us-east-1") + ":" + port

	// The default account pushes through the plain address.
	mine, err := random.Image(800, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "team/app:v1"), mine, ggcr(tr, defTok)...); err != nil {
		t.Fatal(err)
	}
	// The other account pushes, through its own host, an image to the same repository name.
	theirs, err := random.Image(800, 2)
	if err != nil {
		t.Fatal(err)
	}
	otherRef, err := name.ParseReference(otherHost+"/team/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(otherRef, theirs, ggcr(tr, otherTok)...); err != nil {
		t.Fatalf("push as %s to %s: %v", otherAccount, otherHost, err)
	}
	got, err := remote.Image(otherRef, ggcr(tr, otherTok)...)
	if err != nil {
		t.Fatalf("pull as %s: %v", otherAccount, err)
	}
	compareImages(t, theirs, got)
	// Each account sees its own image under the same name.
	got, err = remote.Image(ref(t, b, "team/app:v1"), ggcr(tr, defTok)...)
	if err != nil {
		t.Fatal(err)
	}
	compareImages(t, mine, got)
	// Without an account host, a token addresses its own account's registry.
	got, err = remote.Image(ref(t, b, "team/app:v1"), ggcr(tr, otherTok)...)
	if err != nil {
		t.Fatalf("pull as %s through the plain address: %v", otherAccount, err)
	}
	compareImages(t, theirs, got)

	// A repository only the default account has is unknown in the other account.
	if err := remote.Write(ref(t, b, "only/default:v1"), mine, ggcr(tr, defTok)...); err != nil {
		t.Fatal(err)
	}
	other := raw(t, b, otherTok).withHost(ecrHost(otherAccount, "us-east-1"))
	resp, body := other.do(http.MethodGet, "/v2/only/default/tags/list", nil, nil)
	msg := expectOCIError(t, "other account lists the default account's repository", resp, body, http.StatusNotFound, "NAME_UNKNOWN")
	if want := "The repository with name 'only/default' does not exist in the registry with id '" + otherAccount + "'"; msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
	mineDigest, _ := mine.Digest()
	resp, body = other.do(http.MethodGet, "/v2/only/default/manifests/"+mineDigest.String(), nil, nil)
	expectOCIError(t, "other account pulls the default account's manifest by digest", resp, body, http.StatusNotFound, "NAME_UNKNOWN")
	// ... and its blobs are not reachable from the other account's same-named repository.
	layers, _ := mine.Layers()
	ld, _ := layers[0].Digest()
	resp, body = other.do(http.MethodGet, "/v2/team/app/blobs/"+ld.String(), nil, nil)
	expectOCIError(t, "other account reads the default account's blob", resp, body, http.StatusNotFound, "BLOB_UNKNOWN")

	// The region is part of the registry too.
	west := raw(t, b, otherTok).withHost(ecrHost(otherAccount, "us-west-2"))
	resp, body = west.do(http.MethodGet, "/v2/team/app/tags/list", nil, nil)
	expectOCIError(t, "same account, other region", resp, body, http.StatusNotFound, "NAME_UNKNOWN")

	// Without a policy granting it, a token may not act in another account's
	// registry, either way round: the denial names the action and the
	// repository, whether or not the repository exists there. The base check
	// only authenticates.
	cases := []struct {
		what, token, host, caller, owner string
	}{
		{"default token on the other account's host", defTok, ecrHost(otherAccount, "us-east-1"), defaultAccount, otherAccount},
		{"other token on the default account's host", otherTok, ecrHost(defaultAccount, "us-east-1"), otherAccount, defaultAccount},
		{"other token on the default account's host (amazonaws.com)", otherTok, defaultAccount + ".dkr.ecr.us-east-1.amazonaws.com", otherAccount, defaultAccount},
	}
	for _, tc := range cases {
		c := raw(t, b, tc.token).withHost(tc.host)
		resp, body := c.do(http.MethodGet, "/v2/", nil, nil)
		expect(t, tc.what+": base check", resp, body, http.StatusOK)
		for _, req := range []struct{ method, path, action, repo string }{
			{http.MethodGet, "/v2/team/app/tags/list", "ecr:ListImages", "team/app"},
			{http.MethodGet, "/v2/team/app/manifests/v1", "ecr:BatchGetImage", "team/app"},
			{http.MethodHead, "/v2/team/app/manifests/v1", "", ""},
			{http.MethodPost, "/v2/team/app/blobs/uploads/", "ecr:InitiateLayerUpload", "team/app"},
			{http.MethodGet, "/v2/no/such/repo/tags/list", "ecr:ListImages", "no/such/repo"},
			{http.MethodGet, "/v2/_catalog", "ecr:DescribeRepositories", "*"},
		} {
			what := tc.what + ": " + req.method + " " + req.path
			resp, body := c.do(req.method, req.path, nil, nil)
			if req.method == http.MethodHead {
				expect(t, what, resp, body, http.StatusForbidden)
				continue
			}
			msg := expectOCIError(t, what, resp, body, http.StatusForbidden, "DENIED")
			want := "User: arn:aws:iam::" + tc.caller + ":root is not authorized to perform: " + req.action +
				" on resource: arn:aws:ecr:us-east-1:" + tc.owner + ":repository/" + req.repo +
				" because no resource-based policy allows the " + req.action + " action"
			if msg != want {
				t.Fatalf("%s: message\n got  %s\n want %s", what, msg, want)
			}
		}
	}
	// Without credentials, another account's host is 401, not 403.
	resp, body = raw(t, b, "").withHost(ecrHost(otherAccount, "us-east-1")).do(http.MethodGet, "/v2/", nil, nil)
	expectOCIError(t, "anonymous on an account host", resp, body, http.StatusUnauthorized, "UNAUTHORIZED")
	// The denied push created nothing: the default account still has one image in team/app.
	tags, err := remote.List(ref(t, b, "team/app:v1").Context(), ggcr(tr, defTok)...)
	if err != nil || len(tags) != 1 || tags[0] != "v1" {
		t.Fatalf("default account's tags: %v %v", tags, err)
	}
}

// TestNoAuth checks that --no-auth serves anonymously as the default account.
func TestNoAuth(t *testing.T) {
	t.Parallel()
	b := Start(t, "--no-auth", "--create-on-push", "--default-account", "222222222222")
	tr := newTransport(t, b)
	c := raw(t, b, "")
	resp, body := c.do(http.MethodGet, "/v2/", nil, nil)
	expect(t, "anonymous GET /v2/", resp, body, http.StatusOK)

	img, err := random.Image(1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "anon/app:v1"), img, ggcr(tr, "")...); err != nil {
		t.Fatalf("anonymous push: %v", err)
	}
	got, err := remote.Image(ref(t, b, "anon/app:v1"), ggcr(tr, "")...)
	if err != nil {
		t.Fatalf("anonymous pull: %v", err)
	}
	compareImages(t, img, got)
	// The anonymous registry is the default account's: its host finds the image.
	dg, _ := img.Digest()
	resp, body = c.withHost(ecrHost("222222222222", "us-east-1")).do(http.MethodHead, "/v2/anon/app/manifests/v1", nil, nil)
	expect(t, "HEAD through the default account's host", resp, body, http.StatusOK)
	if resp.Header.Get("Docker-Content-Digest") != dg.String() {
		t.Fatalf("default account's host serves %s, want %s", resp.Header.Get("Docker-Content-Digest"), dg)
	}
	resp, body = c.do(http.MethodGet, "/v2/missing/repo/tags/list", nil, nil)
	msg := expectOCIError(t, "missing repository", resp, body, http.StatusNotFound, "NAME_UNKNOWN")
	if !strings.Contains(msg, "'222222222222'") {
		t.Fatalf("message %q does not name the default account", msg)
	}
	// Every other registry is reachable too: anonymous requests act as the
	// root of the account they address.
	elsewhere := c.withHost(ecrHost(otherAccount, "eu-west-1"))
	resp, body = elsewhere.do(http.MethodGet, "/v2/anon/app/tags/list", nil, nil)
	msg = expectOCIError(t, "another account's registry", resp, body, http.StatusNotFound, "NAME_UNKNOWN")
	if !strings.Contains(msg, "'"+otherAccount+"'") {
		t.Fatalf("message %q does not name account %s", msg, otherAccount)
	}
	content := []byte("a layer pushed anonymously to another account")
	elsewhere.expectBlob("anon/app", elsewhere.pushBlob("anon/app", content), content)
}

// TestNameUnknownWithoutCreateOnPush checks that, without --create-on-push,
// a push to a repository that does not exist fails as ECR's does.
func TestNameUnknownWithoutCreateOnPush(t *testing.T) {
	t.Parallel()
	b := Start(t)
	token := b.Token("")
	c := raw(t, b, token)
	want := "The repository with name 'nope/app' does not exist in the registry with id '000000000000'"
	content := []byte("some layer")
	dg := sha256Digest(content)
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	for _, tc := range []struct {
		what, method, path string
		body               []byte
		hdr                map[string]string
	}{
		{"start upload", http.MethodPost, "/v2/nope/app/blobs/uploads/", nil, nil},
		{"monolithic upload", http.MethodPost, "/v2/nope/app/blobs/uploads/?digest=" + dg, content, nil},
		{"mount", http.MethodPost, "/v2/nope/app/blobs/uploads/?mount=" + dg + "&from=other/repo", nil, nil},
		{"manifest push", http.MethodPut, "/v2/nope/app/manifests/v1", manifest, map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}},
		{"tag list", http.MethodGet, "/v2/nope/app/tags/list", nil, nil},
		{"manifest pull", http.MethodGet, "/v2/nope/app/manifests/v1", nil, nil},
		{"blob pull", http.MethodGet, "/v2/nope/app/blobs/" + dg, nil, nil},
	} {
		resp, body := c.do(tc.method, tc.path, tc.body, tc.hdr)
		msg := expectOCIError(t, tc.what, resp, body, http.StatusNotFound, "NAME_UNKNOWN")
		if msg != want {
			t.Fatalf("%s: message %q, want %q", tc.what, msg, want)
		}
	}
	// go-containerregistry sees the same error.
	img, err := random.Image(500, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = remote.Write(ref(t, b, "nope/app:v1"), img, ggcr(newTransport(t, b), token)...)
	if code, status := transportCode(err); code != transport.NameUnknownErrorCode || status != http.StatusNotFound {
		t.Fatalf("ggcr push to a missing repository: %v (code %q status %d), want NAME_UNKNOWN 404", err, code, status)
	}
	// Nothing was created on the way.
	resp, body := c.do(http.MethodGet, "/v2/_catalog", nil, nil)
	expect(t, "catalog", resp, body, http.StatusOK)
	if strings.Contains(string(body), "nope/app") {
		t.Fatalf("the failed pushes created the repository: %s", body)
	}
}

// TestBlobIsolationAndMount checks that a blob pushed to one repository is
// not readable from another until it is mounted there.
func TestBlobIsolationAndMount(t *testing.T) {
	t.Parallel()
	b := Start(t, "--create-on-push")
	token := b.Token("")
	c := raw(t, b, token)
	content := patternBytes(42, 70_000)
	dg := c.pushBlob("iso/a", content)
	c.pushBlob("iso/b", []byte("something else, so that iso/b exists"))

	for _, m := range []string{http.MethodHead, http.MethodGet} {
		resp, body := c.do(m, "/v2/iso/b/blobs/"+dg, nil, nil)
		if m == http.MethodHead {
			expect(t, "HEAD a blob of iso/a in iso/b", resp, body, http.StatusNotFound)
		} else {
			expectOCIError(t, "GET a blob of iso/a in iso/b", resp, body, http.StatusNotFound, "BLOB_UNKNOWN")
		}
	}
	// A mount from a repository that lacks the blob falls back to an upload session.
	resp, body := c.do(http.MethodPost, "/v2/iso/b/blobs/uploads/?mount="+dg+"&from=iso/c", nil, nil)
	expect(t, "mount from a repository without the blob", resp, body, http.StatusAccepted)
	c.location(resp)
	// As in ECR, blob mounting is off until the account enables it: the mount falls back too.
	resp, body = c.do(http.MethodPost, "/v2/iso/b/blobs/uploads/?mount="+dg+"&from=iso/a", nil, nil)
	expect(t, "mount with BLOB_MOUNTING disabled", resp, body, http.StatusAccepted)
	c.location(resp)
	resp, body = c.do(http.MethodGet, "/v2/iso/b/blobs/"+dg, nil, nil)
	expectOCIError(t, "blob after a refused mount", resp, body, http.StatusNotFound, "BLOB_UNKNOWN")
	for _, account := range []string{"", otherAccount} {
		ecrCall(t, b, account, "PutAccountSetting", map[string]string{"name": "BLOB_MOUNTING", "value": "ENABLED"})
	}

	// Another account cannot mount it from its same-named repository.
	other := raw(t, b, b.Token(otherAccount))
	resp, body = other.do(http.MethodPost, "/v2/iso/b/blobs/uploads/?mount="+dg+"&from=iso/a", nil, nil)
	if resp.StatusCode == http.StatusCreated {
		t.Fatalf("account %s mounted the default account's blob: %s", otherAccount, body)
	}
	resp, body = other.do(http.MethodGet, "/v2/iso/b/blobs/"+dg, nil, nil)
	expectOCIError(t, "other account's blob after its mount attempt", resp, body, http.StatusNotFound, "BLOB_UNKNOWN")

	// The real mount.
	resp, body = c.do(http.MethodPost, "/v2/iso/b/blobs/uploads/?mount="+dg+"&from=iso/a", nil, nil)
	expect(t, "mount from iso/a", resp, body, http.StatusCreated)
	if got := resp.Header.Get("Docker-Content-Digest"); got != dg {
		t.Fatalf("mount: Docker-Content-Digest %q, want %s", got, dg)
	}
	if got := c.location(resp); !strings.HasSuffix(got, "/v2/iso/b/blobs/"+dg) {
		t.Fatalf("mount: Location %q", got)
	}
	c.expectBlob("iso/b", dg, content)

	// Deleting it from iso/a leaves iso/b's link and the bytes.
	resp, body = c.do(http.MethodDelete, "/v2/iso/a/blobs/"+dg, nil, nil)
	expect(t, "delete from iso/a", resp, body, http.StatusAccepted)
	resp, body = c.do(http.MethodGet, "/v2/iso/a/blobs/"+dg, nil, nil)
	expectOCIError(t, "deleted blob in iso/a", resp, body, http.StatusNotFound, "BLOB_UNKNOWN")
	c.expectBlob("iso/b", dg, content)
}
