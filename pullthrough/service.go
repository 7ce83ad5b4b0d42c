package pullthrough

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/opencontainers/go-digest"
)

// Core is what the pull-through cache needs of core.Registry: the
// per-registry data its rules live in, the trusted writes it imports with,
// reads of the registries berth holds (for ecr upstreams) and the
// authorizer, and per-image data for when a tag was last checked upstream.
type Core interface {
	RegistryData(ctx context.Context, reg core.RegistryID, name string) ([]byte, bool, error)
	UpdateRegistryData(ctx context.Context, reg core.RegistryID, name string, change func(old []byte) ([]byte, error)) error
	ImportManifest(ctx context.Context, reg core.RegistryID, repo string, in core.PutManifestInput) (core.Image, error)
	CopyImage(ctx context.Context, in core.CopyImageInput) (core.Image, error)
	ResolveImage(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, tag string) (core.Image, error)
	OpenBlob(ctx context.Context, reg core.RegistryID, repo string, d digest.Digest) (blob.Reader, error)
	Authorize(ctx context.Context, req core.AuthRequest) error
	HasRepository(ctx context.Context, reg core.RegistryID, name string) error
	ImageData(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, name string) ([]byte, bool, error)
	UpdateImageData(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, name string, change func(old []byte) ([]byte, error)) error
}

// Errors the ECR edge names by their own exceptions (the rest are core's
// kinds: invalid parameters, a full registry).
var (
	ErrRuleExists          = errors.New("pull through cache rule already exists")
	ErrRuleNotFound        = errors.New("pull through cache rule not found")
	ErrUnsupportedUpstream = errors.New("unsupported upstream registry")
	ErrSecretNotFound      = errors.New("secret not found")
)

// RuleError is ErrRuleExists or ErrRuleNotFound, about the rule with Prefix.
type RuleError struct {
	Err    error
	Prefix string
}

func (e *RuleError) Error() string { return e.Err.Error() + ": " + e.Prefix }
func (e *RuleError) Unwrap() error { return e.Err }

// DefaultRefresh is how often a cached tag is checked upstream at most:
// "at least once every 24 hours" (ECR user guide, Sync an upstream registry).
const DefaultRefresh = 24 * time.Hour

// Options configure a Service.
type Options struct {
	// Credentials is the --ptc-credentials file ("" none).
	Credentials string
	// Refresh is how long a tag pulled through is served before it is
	// checked upstream again (--ptc-refresh); 0 checks on every pull.
	Refresh time.Duration
	Clock   core.Clock
	Log     *slog.Logger
	// Transport carries requests to remote upstreams; nil is a transport
	// with connection and response-header timeouts.
	Transport http.RoundTripper
}

// Service keeps each registry's pull-through cache rules and implements
// core.Upstream with them.
type Service struct {
	core    Core
	creds   *Credentials
	refresh time.Duration
	clock   core.Clock
	log     *slog.Logger
	remotes remotes
	decoded decodedRules
}

// New reads the credentials file and returns a Service; Bind gives it the
// registry it serves (which is built with the Service as its Upstream).
func New(o Options) (*Service, error) {
	creds, err := LoadCredentials(o.Credentials)
	if err != nil {
		return nil, err
	}
	if o.Refresh < 0 {
		return nil, errors.New("the refresh interval cannot be negative")
	}
	s := &Service{creds: creds, refresh: o.Refresh, clock: o.Clock, log: o.Log}
	if s.clock == nil {
		s.clock = core.SystemClock
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.remotes.init(o.Transport)
	return s, nil
}

// Bind attaches the registry the Service reads and imports into.
func (s *Service) Bind(c Core) { s.core = c }

var _ core.Upstream = (*Service)(nil)

// dataRules names a registry's rules in its per-registry data.
const dataRules = "pull-through-cache-rules"

// rules returns a registry's rules. The slice may be shared with other
// callers: it is read, never changed (updateRules decodes its own).
func (s *Service) rules(ctx context.Context, reg core.RegistryID) ([]Rule, error) {
	b, found, err := s.core.RegistryData(ctx, reg, dataRules)
	if err != nil || !found {
		return nil, err
	}
	if rules, ok := s.decoded.get(reg, b); ok {
		return rules, nil
	}
	var rules []Rule
	if err := json.Unmarshal(b, &rules); err != nil {
		return nil, fmt.Errorf("the pull through cache rules of %s cannot be read: %w", reg, err)
	}
	s.decoded.put(reg, b, rules)
	return rules, nil
}

// decodedRules remembers each registry's rules as last decoded, with the
// bytes they were decoded from: every pull by tag of a cache repository and
// every miss asks for them, and decoding the JSON each time would cost more
// than the rest of the read. The bytes are compared on every use, so a
// change to the rules is seen as soon as core's RegistryData returns it.
type decodedRules struct {
	mu sync.Mutex
	m  map[core.RegistryID]rulesFrom
}

type rulesFrom struct {
	raw   []byte
	rules []Rule
}

func (d *decodedRules) get(reg core.RegistryID, raw []byte) ([]Rule, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.m[reg]
	if !ok || !bytes.Equal(e.raw, raw) {
		return nil, false
	}
	return e.rules, true
}

func (d *decodedRules) put(reg core.RegistryID, raw []byte, rules []Rule) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[core.RegistryID]rulesFrom{}
	}
	d.m[reg] = rulesFrom{bytes.Clone(raw), rules}
}

// updateRules changes a registry's rules in one transaction; an error from
// change stores nothing.
func (s *Service) updateRules(ctx context.Context, reg core.RegistryID, change func(rules []Rule) ([]Rule, error)) error {
	return s.core.UpdateRegistryData(ctx, reg, dataRules, func(old []byte) ([]byte, error) {
		var rules []Rule
		if old != nil {
			if err := json.Unmarshal(old, &rules); err != nil {
				return nil, fmt.Errorf("the pull through cache rules of %s cannot be read: %w", reg, err)
			}
		}
		rules, err := change(rules)
		if err != nil || len(rules) == 0 {
			return nil, err
		}
		return json.Marshal(rules)
	})
}

func indexOf(rules []Rule, prefix string) int {
	return slices.IndexFunc(rules, func(r Rule) bool { return normalPrefix(r.Prefix) == normalPrefix(prefix) })
}

// Create validates and stores a new rule.
func (s *Service) Create(ctx context.Context, reg core.RegistryID, in Input) (Rule, error) {
	up, err := checkInput(reg, in)
	if err != nil {
		return Rule{}, err
	}
	if in.CredentialARN != "" {
		if _, err := s.creds.Lookup(in.CredentialARN); err != nil {
			return Rule{}, err
		}
	}
	now := s.clock.Now()
	rule := Rule{Prefix: in.Prefix, UpstreamRegistry: up.Kind, UpstreamURL: in.UpstreamURL,
		CredentialARN: in.CredentialARN, CustomRoleARN: in.CustomRoleARN, CreatedAt: now, UpdatedAt: now}
	if p := normalPrefix(in.UpstreamPrefix); p != Root {
		rule.UpstreamPrefix = in.UpstreamPrefix
	}
	err = s.updateRules(ctx, reg, func(rules []Rule) ([]Rule, error) {
		switch {
		case indexOf(rules, rule.Prefix) >= 0:
			return nil, &RuleError{ErrRuleExists, rule.Prefix}
		case len(rules) >= MaxRules:
			return nil, core.Errorf(core.KindLimitExceeded, "The registry with id '%s' already has %d pull through cache rules, the most it may have", reg.Account, MaxRules)
		}
		rules = append(rules, rule)
		slices.SortFunc(rules, func(a, b Rule) int { return strings.Compare(a.Prefix, b.Prefix) })
		return rules, nil
	})
	return rule, err
}

// Describe returns a registry's rules in prefix order: those named (each
// must exist), or all of them.
func (s *Service) Describe(ctx context.Context, reg core.RegistryID, prefixes []string) ([]Rule, error) {
	rules, err := s.rules(ctx, reg)
	if err != nil || len(prefixes) == 0 {
		return slices.Clone(rules), err // the caller's to change
	}
	var out []Rule
	for _, p := range prefixes {
		i := indexOf(rules, p)
		if i < 0 {
			return nil, &RuleError{ErrRuleNotFound, p}
		}
		if !slices.ContainsFunc(out, func(r Rule) bool { return r.Prefix == rules[i].Prefix }) {
			out = append(out, rules[i])
		}
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.Prefix, b.Prefix) })
	return out, nil
}

// Update changes a rule's credential and custom role; an empty one is left
// as it was.
func (s *Service) Update(ctx context.Context, reg core.RegistryID, prefix, credentialARN, customRoleARN string) (Rule, error) {
	if credentialARN != "" {
		if _, err := s.creds.Lookup(credentialARN); err != nil {
			return Rule{}, err
		}
	}
	var rule Rule
	err := s.updateRules(ctx, reg, func(rules []Rule) ([]Rule, error) {
		i := indexOf(rules, prefix)
		if i < 0 {
			return nil, &RuleError{ErrRuleNotFound, prefix}
		}
		r := rules[i]
		in := Input{Prefix: r.Prefix, UpstreamRegistry: r.UpstreamRegistry, UpstreamURL: r.UpstreamURL, UpstreamPrefix: r.UpstreamPrefix,
			CredentialARN: r.CredentialARN, CustomRoleARN: r.CustomRoleARN}
		if credentialARN != "" {
			in.CredentialARN = credentialARN
		}
		if customRoleARN != "" {
			in.CustomRoleARN = customRoleARN
		}
		if _, err := checkInput(reg, in); err != nil {
			return nil, err
		}
		r.CredentialARN, r.CustomRoleARN, r.UpdatedAt = in.CredentialARN, in.CustomRoleARN, s.clock.Now()
		rules[i], rule = r, r
		return rules, nil
	})
	return rule, err
}

// Delete removes a rule and returns it. Repositories it created, and what
// they cached, stay.
func (s *Service) Delete(ctx context.Context, reg core.RegistryID, prefix string) (Rule, error) {
	var rule Rule
	err := s.updateRules(ctx, reg, func(rules []Rule) ([]Rule, error) {
		i := indexOf(rules, prefix)
		if i < 0 {
			return nil, &RuleError{ErrRuleNotFound, prefix}
		}
		rule = rules[i]
		return slices.Delete(rules, i, i+1), nil
	})
	return rule, err
}

// Validate contacts a rule's upstream as the rule would, and reports
// whether that works; failure says why not.
func (s *Service) Validate(ctx context.Context, reg core.RegistryID, prefix string) (rule Rule, failure string, err error) {
	rules, err := s.rules(ctx, reg)
	if err != nil {
		return rule, "", err
	}
	i := indexOf(rules, prefix)
	if i < 0 {
		return rule, "", &RuleError{ErrRuleNotFound, prefix}
	}
	rule = rules[i]
	up, err := ParseUpstream(rule.UpstreamURL)
	if err == nil && up.Kind == ECR {
		err = s.validateECR(ctx, reg, rule, up)
	} else if err == nil {
		err = s.validateRemote(ctx, rule, up)
	}
	if err != nil {
		return rule, err.Error(), nil
	}
	return rule, "", nil
}

// located is a cache repository's rule and where it pulls from.
type located struct {
	rule     Rule
	up       Upstream
	upstream string // the upstream repository
}

// locate finds the rule for repo, if any.
func (s *Service) locate(ctx context.Context, reg core.RegistryID, repo string) (located, bool, error) {
	if s.core == nil {
		return located{}, false, nil
	}
	rules, err := s.rules(ctx, reg)
	if err != nil {
		return located{}, false, err
	}
	rule, rest, ok := match(rules, repo)
	if !ok {
		return located{}, false, nil
	}
	up, err := ParseUpstream(rule.UpstreamURL)
	if err != nil {
		return located{}, false, err
	}
	return located{rule: rule, up: up, upstream: upstreamName(rule, rest)}, true, nil
}

// Covers: a repository is covered when one of its registry's rules matches
// it (core.UpstreamCoverage). Rules that cannot be read answer true, so that
// FetchManifest or FetchBlob reports why.
func (s *Service) Covers(ctx context.Context, reg core.RegistryID, repo string) bool {
	if s.core == nil {
		return false
	}
	rules, err := s.rules(ctx, reg)
	if err != nil {
		return true
	}
	_, _, ok := match(rules, repo)
	return ok
}

var _ core.UpstreamCoverage = (*Service)(nil)

// noRule is the miss of a repository no rule covers.
func noRule(repo, ref string) error {
	return core.Errorf(core.KindManifestNotFound, "no pull through cache rule covers '%s:%s'", repo, ref)
}

// FetchManifest imports a manifest of a cache repository from its upstream.
func (s *Service) FetchManifest(ctx context.Context, reg core.RegistryID, repo, ref string) error {
	loc, ok, err := s.locate(ctx, reg, repo)
	if err != nil {
		return err
	}
	if !ok {
		return noRule(repo, ref)
	}
	if err := s.admit(ctx, reg, repo); err != nil {
		return err
	}
	var img core.Image
	if loc.up.Kind == ECR {
		img, err = s.copyFromECR(ctx, reg, repo, ref, loc)
	} else {
		img, err = s.fetchRemoteManifest(ctx, reg, repo, ref, loc)
	}
	if err != nil || core.IsDigestReference(ref) {
		return err
	}
	s.checked(ctx, reg, repo, img.Digest, ref)
	return nil
}

// FetchBlob opens a blob of a cache repository at its upstream.
func (s *Service) FetchBlob(ctx context.Context, reg core.RegistryID, repo string, d digest.Digest) (core.UpstreamBlob, error) {
	loc, ok, err := s.locate(ctx, reg, repo)
	if err != nil {
		return core.UpstreamBlob{}, err
	}
	if !ok {
		return core.UpstreamBlob{}, core.Errorf(core.KindBlobNotFound, "no pull through cache rule covers '%s'", repo)
	}
	if err := s.admit(ctx, reg, repo); err != nil {
		return core.UpstreamBlob{}, err
	}
	if loc.up.Kind == ECR {
		return s.openFromECR(ctx, reg, d, loc)
	}
	return s.openRemoteBlob(ctx, d, loc)
}

// admit checks that the caller whose pull missed may have the cache import
// for it: "ecr:BatchImportUpstreamImage – Grants permission to retrieve the
// external image and import it to your private registry", and
// "ecr:CreateRepository ... required if the repository storing the cached
// images doesn't already exist" (ECR user guide, IAM permissions required to
// sync an upstream registry). The registry's own reads (no caller) import
// without asking.
func (s *Service) admit(ctx context.Context, reg core.RegistryID, repo string) error {
	if core.CallerFrom(ctx).Principal == "" {
		return nil
	}
	res := []core.Resource{core.RepositoryResource(reg, repo)}
	if err := s.core.Authorize(ctx, core.AuthRequest{Action: "ecr:BatchImportUpstreamImage", Resources: res}); err != nil {
		return err
	}
	if err := s.core.HasRepository(ctx, reg, repo); core.IsKind(err, core.KindRepositoryNotFound) {
		return s.core.Authorize(ctx, core.AuthRequest{Action: "ecr:CreateRepository", Resources: res})
	}
	return nil
}

// checkTimes is what the Service keeps about an image it pulled through:
// when each of its tags was last checked upstream.
type checkTimes struct {
	Tags map[string]time.Time `json:"tags"`
}

const dataName = "pull-through"

// checked notes that tag, pointing at dg, was checked upstream now.
func (s *Service) checked(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, tag string) {
	err := s.core.UpdateImageData(ctx, reg, repo, dg, dataName, func(old []byte) ([]byte, error) {
		var ct checkTimes
		if old != nil {
			json.Unmarshal(old, &ct) // unreadable: start over
		}
		if ct.Tags == nil {
			ct.Tags = map[string]time.Time{}
		}
		ct.Tags[tag] = s.clock.Now()
		return json.Marshal(ct)
	})
	if err != nil {
		s.log.Warn("recording when a tag was checked upstream", "registry", reg, "repository", repo, "tag", tag, "err", err)
	}
}

// RefreshDue: a tag of a cache repository is checked upstream again once
// the refresh interval has passed since it last was.
func (s *Service) RefreshDue(ctx context.Context, reg core.RegistryID, repo, tag string, held digest.Digest) bool {
	if _, ok, err := s.locate(ctx, reg, repo); err != nil || !ok {
		return false
	}
	if s.refresh == 0 {
		return true
	}
	b, found, err := s.core.ImageData(ctx, reg, repo, held, dataName)
	if err != nil || !found {
		return err == nil
	}
	var ct checkTimes
	if json.Unmarshal(b, &ct) != nil {
		return true
	}
	last, ok := ct.Tags[tag]
	return !ok || !s.clock.Now().Before(last.Add(s.refresh))
}

// unavailable is an upstream failure, with the upstream's reason.
func unavailable(format string, args ...any) error {
	return core.Errorf(core.KindUpstreamUnavailable, format, args...)
}

// remotes caches the transports to remote upstreams (their tokens with
// them), by upstream, credential and repository.
type remotes struct {
	base http.RoundTripper
	mu   sync.Mutex
	byID map[string]http.RoundTripper
}
