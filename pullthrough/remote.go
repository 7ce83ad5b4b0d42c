package pullthrough

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
)

// Remote upstreams are reached over the distribution API through
// go-containerregistry's transport, which answers the registry's
// authentication challenge (basic, or a bearer token for the repository's
// pull scope) with the rule's credential.

// acceptManifests are the manifest types asked of an upstream: what berth
// stores (an index or list first, so that a multi-architecture image is
// cached whole).
var acceptManifests = strings.Join([]string{
	core.MediaTypeOCIIndex, core.MediaTypeDockerManifestList, core.MediaTypeOCIManifest, core.MediaTypeDockerManifest,
}, ", ")

// authFailed is ECR's answer when an upstream refuses the rule's credential.
const authFailed = "The authentication to the upstream registry failed. Verify that the credentials provided in the pull through cache rule are correct, and try again."

func (r *remotes) init(base http.RoundTripper) {
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 10 * time.Second
		t.ResponseHeaderTimeout = time.Minute
		t.MaxIdleConnsPerHost = 16
		base = t
	}
	r.base = base
}

// maxTransports bounds the cache of transports; past it, it starts over.
const maxTransports = 256

// authenticator is the credential a rule sends its upstream, and a key that
// changes when the secret does.
func (s *Service) authenticator(rule Rule) (authn.Authenticator, string, error) {
	if rule.CredentialARN == "" {
		return authn.Anonymous, "", nil
	}
	cred, err := s.creds.Lookup(rule.CredentialARN)
	if err != nil {
		return nil, "", unavailable("%s", err.Error())
	}
	sum := sha256.Sum256([]byte(cred.Username + "\x00" + cred.token()))
	return &authn.Basic{Username: cred.Username, Password: cred.token()}, hex.EncodeToString(sum[:8]), nil
}

// transport returns an authenticated transport to the upstream for
// repository repo ("" for the registry itself), reusing one while its
// credential stays the same.
func (s *Service) transport(ctx context.Context, rule Rule, up Upstream, repo string) (http.RoundTripper, string, error) {
	auth, credKey, err := s.authenticator(rule)
	if err != nil {
		return nil, "", err
	}
	key := fmt.Sprintf("%s|%t|%s|%s|%s", up.Host, up.Insecure, rule.CredentialARN, credKey, repo)
	s.remotes.mu.Lock()
	tr := s.remotes.byID[key]
	s.remotes.mu.Unlock()
	if tr != nil {
		return tr, key, nil
	}
	var opts []name.Option
	if up.Insecure {
		opts = append(opts, name.Insecure)
	}
	registry, err := name.NewRegistry(up.Host, opts...)
	if err != nil {
		return nil, "", unavailable("The upstream registry '%s' is not a registry host: %v", up.Host, err)
	}
	var scopes []string
	if repo != "" {
		scopes = []string{registry.Repo(repo).Scope(transport.PullScope)}
	}
	tr, err = transport.NewWithContext(ctx, registry, auth, s.remotes.base, scopes)
	if err != nil {
		return nil, "", upstreamError(up, err)
	}
	s.remotes.mu.Lock()
	if s.remotes.byID == nil || len(s.remotes.byID) >= maxTransports {
		s.remotes.byID = map[string]http.RoundTripper{}
	}
	s.remotes.byID[key] = tr
	s.remotes.mu.Unlock()
	return tr, key, nil
}

// forget drops a transport whose credential stopped working.
func (s *Service) forget(key string) {
	s.remotes.mu.Lock()
	delete(s.remotes.byID, key)
	s.remotes.mu.Unlock()
}

// upstreamError words a failure to reach or authenticate to an upstream.
func upstreamError(up Upstream, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return unavailable("%s (%s)", authFailed, te.Error())
	}
	if core.KindOf(err) != "" {
		return err
	}
	return unavailable("The upstream registry '%s' could not be reached: %v", up.Host, err)
}

// get sends one request for a repository's path to the upstream.
func (s *Service) get(ctx context.Context, method string, loc located, path, accept string) (*http.Response, error) {
	tr, key, err := s.transport(ctx, loc.rule, loc.up, loc.upstream)
	if err != nil {
		return nil, err
	}
	scheme := "https"
	if loc.up.Insecure {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+loc.up.Host+"/v2/"+loc.upstream+path, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, upstreamError(loc.up, err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		s.forget(key)
	}
	return resp, nil
}

// statusError words an upstream's answer other than 200 for what was asked.
func statusError(resp *http.Response, what string, notFound error) error {
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return notFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return unavailable("%s (the upstream answered %s for %s)", authFailed, resp.Status, what)
	case http.StatusTooManyRequests:
		return unavailable("The upstream registry is limiting requests (429 Too Many Requests) for %s; try again later", what)
	}
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return unavailable("The upstream registry answered %s for %s: %s", resp.Status, what, strings.TrimSpace(string(detail)))
}

// fetchRemoteManifest imports a manifest from a remote upstream. A tag the
// cache already holds is first checked with a HEAD: unchanged, nothing is
// fetched.
func (s *Service) fetchRemoteManifest(ctx context.Context, reg core.RegistryID, repo, ref string, loc located) (core.Image, error) {
	what := "manifest '" + loc.upstream + ":" + ref + "'"
	miss := core.Errorf(core.KindManifestNotFound, "The upstream registry has no %s", what)
	if !core.IsDigestReference(ref) {
		if held, err := s.core.ResolveImage(ctx, reg, repo, "", ref); err == nil {
			resp, err := s.get(ctx, http.MethodHead, loc, "/manifests/"+ref, acceptManifests)
			if err != nil {
				return core.Image{}, err
			}
			if resp.StatusCode != http.StatusOK {
				return core.Image{}, statusError(resp, what, miss)
			}
			resp.Body.Close()
			if resp.Header.Get("Docker-Content-Digest") == held.Digest.String() {
				return held, nil
			}
		}
	}
	resp, err := s.get(ctx, http.MethodGet, loc, "/manifests/"+ref, acceptManifests)
	if err != nil {
		return core.Image{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return core.Image{}, statusError(resp, what, miss)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, core.MaxManifestSize+1))
	switch {
	case err != nil:
		return core.Image{}, unavailable("Reading %s from the upstream registry failed: %v", what, err)
	case len(body) > core.MaxManifestSize:
		return core.Image{}, unavailable("The upstream registry's %s is larger than %d bytes", what, core.MaxManifestSize)
	}
	// An upstream that lies about a digest is refused: by digest, the bytes
	// must hash to it (ImportManifest checks too); by tag, to the digest the
	// upstream claims, when it claims one.
	if claimed, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil && !core.IsDigestReference(ref) {
		if claimed.Algorithm().Available() && claimed.Algorithm().FromBytes(body) != claimed {
			return core.Image{}, unavailable("The upstream registry sent a %s that does not match its digest %s", what, claimed)
		}
	}
	if want, err := digest.Parse(ref); err == nil && want.Algorithm().Available() && want.Algorithm().FromBytes(body) != want {
		return core.Image{}, unavailable("The upstream registry sent a %s that does not match its digest", what)
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	img, err := s.core.ImportManifest(ctx, reg, repo, core.PutManifestInput{Reference: ref, ContentType: mediaType, Body: body})
	switch core.KindOf(err) {
	case core.KindManifestInvalid, core.KindManifestTooLarge, core.KindDigestInvalid, core.KindTagInvalid:
		return core.Image{}, unavailable("The upstream registry sent a %s berth cannot store: %v", what, err)
	}
	return img, err
}

// openRemoteBlob starts a blob's download from a remote upstream; core
// reads the body.
func (s *Service) openRemoteBlob(ctx context.Context, d digest.Digest, loc located) (core.UpstreamBlob, error) {
	what := "blob '" + loc.upstream + "@" + string(d) + "'"
	resp, err := s.get(ctx, http.MethodGet, loc, "/blobs/"+string(d), "")
	if err != nil {
		return core.UpstreamBlob{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return core.UpstreamBlob{}, statusError(resp, what, core.Errorf(core.KindBlobNotFound, "The upstream registry has no %s", what))
	}
	return core.UpstreamBlob{Body: resp.Body, Size: resp.ContentLength}, nil
}

// validateRemote authenticates to the upstream as the rule would, and asks
// for its API root.
func (s *Service) validateRemote(ctx context.Context, rule Rule, up Upstream) error {
	loc := located{rule: rule, up: up}
	tr, key, err := s.transport(ctx, rule, up, "")
	if err != nil {
		return err
	}
	defer s.forget(key) // a check, not a transport to keep
	scheme := "https"
	if up.Insecure {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+up.Host+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return upstreamError(loc.up, err)
	}
	if resp.StatusCode != http.StatusOK {
		return statusError(resp, "its API root (/v2/)", unavailable("The upstream registry '%s' has no registry API at /v2/", up.Host))
	}
	resp.Body.Close()
	return nil
}
