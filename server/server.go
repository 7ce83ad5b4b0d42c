// Package server assembles berth: configuration → stores → core.Registry →
// subscribers → one HTTP handler for /v2, the ECR API and /_berth. cmd/berth
// and in-process test helpers both build on it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/berth-dev/berth/ecr"
	"github.com/berth-dev/berth/identity"
	"github.com/berth-dev/berth/lifecycle"
	"github.com/berth-dev/berth/oci"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/pullthrough"
	"github.com/berth-dev/berth/replication"
	"github.com/berth-dev/berth/scanning"
	"github.com/berth-dev/berth/signing"
	"github.com/berth-dev/berth/templates"
	"github.com/berth-dev/berth/verify"
	"github.com/go-chi/chi/v5"
)

// Config is berth's runtime configuration (flags and BERTH_* variables).
type Config struct {
	Addr           string
	DataDir        string
	Memory         bool // keep everything in memory; DataDir is unused
	Region         string
	DefaultAccount string
	NoAuth         bool
	CreateOnPush   bool
	NoAdmin        bool // --admin=false: /_berth/ecr/*, /_berth/decisions, /_berth/verification, /_berth/policies, /_berth/lifecycle/run, /_berth/reset and /moto-api/* answer 404
	// URIStyle is "localhost" (repositoryUri localhost:<port>/<name>), "ecr"
	// (<account>.dkr.ecr.<region>.localhost:<port>/<name>) or "aws"
	// (<account>.dkr.ecr.<region>.amazonaws.com/<name>, proxyEndpoint
	// https://<account>.dkr.ecr.<region>.amazonaws.com, as AWS and moto give
	// them); Hostname overrides the host.
	URIStyle string
	Hostname string
	Log      *slog.Logger
	// Clock drives every time-dependent path (ages, expiries, retries,
	// periodic sweeps); nil is the real clock. Tests inject a ManualClock.
	Clock core.Clock
	// MaxUploads bounds the open upload sessions of each registry (account
	// × region); 0 is core.DefaultMaxUploads.
	MaxUploads int
	// BodyIdleTimeout is how long a request body may send nothing before the
	// request fails and its connection closes; 0 is DefaultBodyIdleTimeout.
	BodyIdleTimeout time.Duration
	// IAMConfig is the --iam-config file: accounts, users and roles with
	// their access keys, tags and identity policies. "" declares none: every
	// account's root, selected by a 12-digit access key id, is all there is.
	IAMConfig string
	// LifecycleInterval is how often every repository's lifecycle policy is
	// enforced, besides after each push and policy change (--lifecycle-interval,
	// default 5m); 0 turns the periodic sweep off.
	LifecycleInterval time.Duration
	// PTCCredentials is the --ptc-credentials file: the upstream
	// credentials pull-through cache rules name by credentialArn ("" none).
	PTCCredentials string
	// PTCRefresh is how long a tag pulled through is served before a pull
	// checks it upstream again (--ptc-refresh, default 24h); 0 checks on
	// every pull.
	PTCRefresh time.Duration
	// VerifyConfig is the --verify-config file: signature verification rules
	// (package verify); "" starts with none, PUT /_berth/verification sets them,
	// kept in the store until the file's policy changes (verify.Service.Restore).
	VerifyConfig string
	// Image scanning: PluginsDir holds scanner plugins besides the built-in
	// ones (--plugins-dir); ScanDB is a directory of OSV advisories
	// (--scan-db); ScanConfig picks scanners per repository (--scan-config);
	// ScanQuota enforces one scan per image per 24 hours (--scan-quota);
	// ScanWorkers bounds the scans at once (--scan-workers, 0: DefaultScanWorkers).
	PluginsDir  string
	ScanDB      string
	ScanConfig  string
	ScanQuota   bool
	ScanWorkers int
}

// Defaults returns the documented defaults.
func Defaults() Config {
	return Config{Addr: "127.0.0.1:4566", DataDir: ".berth", Region: "us-east-1", DefaultAccount: "000000000000",
		MaxUploads: core.DefaultMaxUploads, BodyIdleTimeout: DefaultBodyIdleTimeout, LifecycleInterval: DefaultLifecycleInterval,
		PTCRefresh: pullthrough.DefaultRefresh}
}

// Server is a configured berth instance.
type Server struct {
	cfg      Config
	registry *core.Registry
	tokens   *core.Tokens
	// accessKeys selects the principal of each configured access key; nil
	// without --iam-config.
	accessKeys ecr.AccessKeyLookup
	authz      *policy.Authorizer
	identities *identity.Directory // nil without --iam-config
	handler    http.Handler
	http       *http.Server
	clock      core.Clock
	log        *slog.Logger
	// stopJanitor ends the upload and blob janitor, which runs from New
	// until Shutdown on the server's clock.
	stopJanitor func()
	// lifecycle enforces lifecycle policies from New until stopLifecycle.
	lifecycle     *lifecycle.Service
	stopLifecycle func()
	// templates are the creation templates; replication copies pushes to
	// the destinations of each registry's replication configuration.
	templates   *templates.Service
	replication *replication.Service
	// signing signs pushes as each registry's signing configuration asks,
	// with keys kept in the data dir's signing/ (in memory with --memory).
	signing *signing.Service
	// pullThrough is the registry's Upstream and keeps its rules.
	pullThrough *pullthrough.Service
	// verification is the signature verification policy and its hook;
	// verifierHost runs the user's verifier plugins, if any.
	verification *verify.Service
	verifierHost *plugins.Host

	// scanning runs scans with the plugins of its host until stopScanning;
	// warming counts plugins compiling in the background; scanTemp is the
	// advisory index's directory under --memory.
	scanning *scanning.Service
	plugins  *plugins.Host
	warming  sync.WaitGroup
	scanTemp string

	connMu sync.Mutex
	fresh  map[net.Conn]bool // connections in http.StateNew
	// freshN is len(fresh), read without connMu: with none fresh, as
	// between a keep-alive client's requests, a connection's change of
	// state takes no lock.
	freshN atomic.Int64
}

// New opens the stores and builds the handler; it does not listen yet.
func New(cfg Config) (*Server, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	// Read first: a config berth cannot use stops it before anything is opened.
	var identities *identity.Directory
	if cfg.IAMConfig != "" {
		var err error
		if identities, err = identity.Load(cfg.IAMConfig); err != nil {
			return nil, fmt.Errorf("--iam-config: %w", err)
		}
	}
	clock := cfg.Clock
	if clock == nil {
		clock = core.SystemClock
	}
	pullThrough, err := pullthrough.New(pullthrough.Options{Credentials: cfg.PTCCredentials, Refresh: cfg.PTCRefresh, Clock: clock, Log: log})
	if err != nil {
		return nil, fmt.Errorf("pull-through cache: %w", err)
	}
	var (
		meta   kv.Store
		blobs  blob.Store
		secret []byte
		inline int64 // on disk, small blobs are written by the commit that links them
	)
	if cfg.Memory {
		meta, blobs, secret = kv.NewMem(), blob.NewMem(), core.RandomSecret()
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		var err error
		if secret, err = core.LoadOrCreateSecret(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("token secret: %w", err)
		}
		if blobs, err = blob.NewFS(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
		if meta, err = openMeta(filepath.Join(cfg.DataDir, "meta.db")); err != nil {
			return nil, err
		}
		inline = core.DefaultInlineBlobs
	}
	// Policies decide with or without --iam-config: without it every
	// account's root is all there is, and a repository policy still grants
	// another account's root a cross-account pull.
	var principals policy.Principals = policy.RootsOnly{}
	if identities != nil {
		principals = identities
	}
	authz := policy.NewAuthorizer(principals, policy.AuthorizerOptions{Log: log, Now: clock.Now})
	// The creation templates are the registry's TemplateSource (with
	// --create-on-push as an implicit ROOT template) and are kept in it.
	tmpl := templates.New(templates.Options{CreateOnPush: cfg.CreateOnPush})
	reg, err := core.Open(core.Options{KV: meta, Blobs: blobs, Clock: clock, Templates: tmpl, MaxUploads: cfg.MaxUploads,
		Authorizer: authz, Upstream: pullThrough, Log: log, InlineBlobs: inline, Ephemeral: cfg.Memory})
	if err != nil {
		meta.Close()
		return nil, err
	}
	tmpl.Attach(reg)
	pullThrough.Bind(reg)
	s := &Server{cfg: cfg, registry: reg, tokens: core.NewTokens(secret, clock), authz: authz, clock: clock, log: log, pullThrough: pullThrough}
	if identities != nil {
		// A nil *Directory in the interface would not be a nil interface.
		s.accessKeys = identities
		s.identities = identities
	}
	s.lifecycle, s.stopLifecycle = lifecycle.Start(reg, cfg.LifecycleInterval, log)
	s.templates, s.replication = tmpl, replication.Start(reg, log)
	signingDir := ""
	if !cfg.Memory {
		signingDir = filepath.Join(cfg.DataDir, "signing")
	}
	s.signing = signing.Start(reg, signing.NewKeys(signingDir, clock), log)
	if err := s.startVerification(); err != nil {
		s.stopLifecycle()
		return nil, errors.Join(err, reg.Close())
	}
	if err := s.startScanning(context.Background()); err != nil {
		s.stopLifecycle()
		if s.verifierHost != nil {
			err = errors.Join(err, s.verifierHost.Close(context.Background()))
		}
		return nil, errors.Join(err, s.stopScanning(), reg.Close())
	}
	s.handler = s.routes()
	s.stopJanitor = core.Every(clock, uploadSweepEvery, s.sweep)
	// Built here, not in Serve, so that a Shutdown before (or while) Serve
	// starts stops it rather than missing it.
	s.http = &http.Server{Handler: s.handler, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug), ConnState: s.trackConn}
	return s, nil
}

// Registry is the domain service, for subscribers and test helpers.
func (s *Server) Registry() *core.Registry { return s.registry }

// Clock is the clock every time-dependent path runs on: Config.Clock, or
// core.SystemClock.
func (s *Server) Clock() core.Clock { return s.clock }

// Tokens issues registry passwords.
func (s *Server) Tokens() *core.Tokens { return s.tokens }

// DefaultRegistry is the default account in the configured region.
func (s *Server) DefaultRegistry() core.RegistryID {
	return core.RegistryID{Account: s.cfg.DefaultAccount, Region: s.cfg.Region}
}

// Handler serves every surface on one port.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	idle := s.cfg.BodyIdleTimeout
	if idle <= 0 {
		idle = DefaultBodyIdleTimeout
	}
	middleware := []func(http.Handler) http.Handler{accessLog(s.log), bodyIdleDeadline(idle)}
	r.Use(middleware...)
	r.Get("/_berth/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	})
	v2 := oci.New(oci.Config{Registry: s.registry, Tokens: s.tokens, NoAuth: s.cfg.NoAuth, DefaultRegistry: s.DefaultRegistry(), Log: s.log})
	r.Handle("/v2", v2)
	r.Handle("/v2/*", v2)
	api := ecr.New(ecr.Config{Registry: s.registry, Tokens: s.tokens, DefaultAccount: s.cfg.DefaultAccount, Region: s.cfg.Region,
		URIs: ecr.URIs{Style: s.cfg.URIStyle, Hostname: s.cfg.Hostname}, AccessKeys: s.accessKeys, Log: s.log,
		Lifecycle: s.lifecycle, Templates: s.templates, Replication: s.replication, Signing: s.signing, PullThrough: s.pullThrough,
		Scanning: s.scanning})
	r.Post("/", api.ServeHTTP)
	// Signing certificates are public: no admin restriction, no credentials.
	certs := signing.CertificateHandler(s.signing.Keys())
	r.Get(signing.CAPath, certs.ServeHTTP)
	r.Get(signing.ProfilesPath+"*", certs.ServeHTTP)
	r.Get("/_berth/layers/{token}", func(w http.ResponseWriter, r *http.Request) {
		api.ServeLayer(w, r, chi.URLParam(r, "token"))
	})
	r.Group(func(r chi.Router) {
		r.Use(s.adminOnly) // introspection and reset: for this machine's test suites, not for web pages
		r.Get("/_berth/ecr/repositories", s.listRepositories)
		r.Get("/_berth/ecr/images", s.listImages)
		r.Get("/_berth/ecr/blobs", s.listBlobs)
		r.Get("/_berth/decisions", s.listDecisions)
		r.Get("/_berth/verification", s.getVerification)
		r.Put("/_berth/verification", s.putVerification)
		r.Get("/_berth/policies", s.policyInventory)
		r.Post("/_berth/reset", s.reset)
		r.Post("/_berth/lifecycle/run", s.runLifecycle)
		r.Post("/moto-api/reset", s.reset) // suites written for moto's server mode switch unchanged
	})
	return v2First(r, chi.Chain(middleware...).Handler(v2))
}

// v2First sends /v2 requests, by far the most frequent, straight to v2 (the
// /v2 handler under the same middleware as the router's), and the rest to
// the router: the router's matching, its routing context and the copy of
// the request it makes are work a registry request does not need. A path
// is routed as chi routes it (by its raw form when it has one), so the
// router's /v2 routes, kept for its route listing, answer the same requests.
func v2First(router, v2 http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		if path == "/v2" || strings.HasPrefix(path, "/v2/") {
			v2.ServeHTTP(w, r)
			return
		}
		router.ServeHTTP(w, r)
	})
}

// DefaultLifecycleInterval is --lifecycle-interval's default.
const DefaultLifecycleInterval = 5 * time.Minute

// Uploads nobody has written to for this long are discarded, and blobs no
// repository links are deleted, at start and hourly.
const (
	uploadMaxAge     = 24 * time.Hour
	uploadSweepEvery = time.Hour
)

// sweep is the janitor's round: abandoned uploads, then unreferenced blobs.
func (s *Server) sweep() {
	if n, err := s.registry.ExpireUploads(context.Background(), uploadMaxAge); err != nil {
		s.log.Warn("expiring abandoned uploads", "err", err)
	} else if n > 0 {
		s.log.Info("expired abandoned uploads", "count", n)
	}
	if n, err := s.registry.SweepBlobs(context.Background()); err != nil {
		s.log.Warn("sweeping unreferenced blobs", "err", err)
	} else if n > 0 {
		s.log.Info("deleted unreferenced blobs", "count", n)
	}
}

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// trackConn remembers connections that have not sent a request yet. It
// runs twice per request (active, idle); a connection's own StateNew call
// happens before its later ones, so while it is fresh freshN counts it.
func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	if state != http.StateNew && s.freshN.Load() == 0 {
		return
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.fresh == nil {
		s.fresh = map[net.Conn]bool{}
	}
	if state == http.StateNew {
		s.fresh[c] = true
	} else {
		delete(s.fresh, c)
	}
	s.freshN.Store(int64(len(s.fresh)))
}

func (s *Server) closeUnusedConns() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.fresh {
		c.Close()
		delete(s.fresh, c)
	}
	s.freshN.Store(0)
}

// Shutdown stops accepting connections, waits (until ctx ends) for requests in
// flight, then closes the stores cleanly.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	if s.http != nil {
		done := make(chan error, 1)
		go func() { done <- s.http.Shutdown(ctx) }()
		// net/http waits up to 5 s for connections that never sent a request
		// (clients keep spare ones open); none of them holds work, so close them.
		time.Sleep(10 * time.Millisecond)
		s.closeUnusedConns()
		err = <-done
	}
	s.stopJanitor() // a round in progress finishes before the stores close
	s.stopLifecycle()
	if s.verifierHost != nil {
		err = errors.Join(err, s.verifierHost.Close(context.Background()))
	}
	scanErr := s.stopScanning() // scans stop before the plugins they run close, and both before the stores
	return errors.Join(err, scanErr, s.registry.Close())
}
