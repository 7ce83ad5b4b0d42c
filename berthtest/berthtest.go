// Package berthtest starts berth inside a Go test: in-memory state, a free
// port, no Docker. It hands back everything a test needs to talk to it.
//
//	srv := berthtest.New(t)
//	client := ecr.NewFromConfig(srv.AWSConfig) // aws-sdk-go-v2, as srv.Account
//	// go-containerregistry, to a repository created first (or WithCreateOnPush)
//	ref, err := name.ParseReference(srv.Host+"/team/app:v1", name.Insecure)
//	auth := remote.WithAuth(&authn.Basic{Username: "AWS", Password: srv.Token()})
//
// The server stops when the test ends. Start and Close do the same outside a
// test, e.g. for one berth shared by a package's tests from TestMain. The
// package example is a whole round trip: create a repository, push, pull.
//
// Time is the real clock unless the test brings its own: with a
// core.ManualClock, advancing it ages images, expires tokens and upload
// sessions and fires berth's periodic work, without sleeping.
//
//	clock := core.NewManualClock(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
//	srv := berthtest.New(t, berthtest.WithClock(clock))
//	clock.Advance(12*time.Hour + time.Second) // tokens issued before are now rejected
//
// Work done by berth's event subscribers follows a request; WaitForEvents
// waits until it has caught up.
package berthtest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

// Server is a running in-process berth.
type Server struct {
	// Endpoint is the base URL of every API, e.g. http://127.0.0.1:41234.
	Endpoint string
	// Host is the registry host for /v2 clients, e.g. 127.0.0.1:41234.
	Host string
	// Account and Region are the default registry's.
	Account, Region string
	// AWSConfig is ready for aws-sdk-go-v2 clients: endpoint, region and
	// static credentials of the default account.
	AWSConfig aws.Config

	srv *server.Server
}

// Option changes the server's configuration.
type Option func(*server.Config)

// WithCreateOnPush creates repositories on first push.
func WithCreateOnPush() Option { return func(c *server.Config) { c.CreateOnPush = true } }

// WithNoAuth serves /v2 without credentials.
func WithNoAuth() Option { return func(c *server.Config) { c.NoAuth = true } }

// WithRegion sets the default region.
func WithRegion(region string) Option { return func(c *server.Config) { c.Region = region } }

// WithClock runs the server on c instead of the real clock: every time
// berth records (imagePushedAt, lastRecordedPullTime, createdAt…), every
// expiry it checks (tokens, layer URLs, idle upload sessions) and every
// periodic job (the hourly upload janitor) follows c. With a
// core.ManualClock, New (and Start) returns once the janitor's first round
// has run and its next one is armed, so advancing the clock right away
// fires it.
func WithClock(c core.Clock) Option { return func(cfg *server.Config) { cfg.Clock = c } }

// WithIAMConfig loads identities from an --iam-config file (accounts,
// organisations, users and roles with access keys, tags and identity
// policies). A caller acts as a configured user or role through
// AWSConfigFor(its access key id); policies decide with or without it.
func WithIAMConfig(file string) Option { return func(c *server.Config) { c.IAMConfig = file } }

// New starts berth on a free loopback port with in-memory state, and stops
// it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatalf("berthtest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start starts berth on a free loopback port with in-memory state, for use
// outside a test (TestMain, an example); Close stops it.
func Start(opts ...Option) (*Server, error) {
	cfg := server.Defaults()
	cfg.Memory = true
	cfg.Log = slog.New(slog.DiscardHandler)
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Shutdown(context.Background())
		return nil, err
	}
	go srv.Serve(ln)
	s := &Server{Endpoint: "http://" + ln.Addr().String(), Host: ln.Addr().String(),
		Account: cfg.DefaultAccount, Region: cfg.Region, srv: srv}
	s.AWSConfig = s.AWSConfigFor(cfg.DefaultAccount)
	return s, nil
}

// Close stops the server: requests in flight get 10 seconds to finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// AWSConfigFor returns an aws.Config whose access key id is account: a
// 12-digit id is that account's root, and an access key of WithIAMConfig's
// file is its user or role.
func (s *Server) AWSConfigFor(account string) aws.Config {
	return aws.Config{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(account, "berthtest-secret", ""),
		HTTPClient:   &http.Client{Transport: SDKTransport(http.DefaultTransport.(*http.Transport).Clone())},
	}
}

// bodyWithoutWriteTo sidesteps a client-side race that a server as quick as
// berth exposes (aws/aws-sdk-go-v2#1825, #2737): smithy-go closes its request
// body reader once the response has arrived, and net/http's writer, probing
// that body for trailing bytes through WriteTo, takes the io.EOF it then
// returns for a write error and closes the connection while the response is
// still being read ("use of closed network connection"). Hiding WriteTo sends
// the probe through Read, where io.EOF is the normal end.
type bodyWithoutWriteTo struct{ rt http.RoundTripper }

// SDKTransport wraps rt for aws-sdk-go-v2 clients talking to berth (or any
// fast local endpoint), avoiding the closed-connection race described above.
// AWSConfig already uses it; use it when building your own client.
func SDKTransport(rt http.RoundTripper) http.RoundTripper { return bodyWithoutWriteTo{rt} }

func (b bodyWithoutWriteTo) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return b.rt.RoundTrip(r)
}

// Token returns a /v2 password (HTTP Basic user "AWS") for the default account.
func (s *Server) Token() string { return s.TokenFor(s.Account) }

// TokenFor returns a /v2 password for an account.
func (s *Server) TokenFor(account string) string {
	tok, _ := s.srv.Tokens().Issue(core.TokenClaims{Registry: core.RegistryID{Account: account, Region: s.Region}})
	return tok
}

// Registry exposes the domain service, e.g. to subscribe to events.
func (s *Server) Registry() *core.Registry { return s.srv.Registry() }

// Clock is the server's clock: the one given to WithClock, or
// core.SystemClock.
func (s *Server) Clock() core.Clock { return s.srv.Clock() }

// WaitForEvents returns once berth's event subscribers (and any the test
// subscribed to Registry().Bus()) have handled every event published so far,
// including the events their handlers published in turn; or with ctx's
// error when ctx ends first. Call it after a request whose consequences a
// subscriber carries out, instead of sleeping. A subscriber whose handler
// failed waits for its retry on the server's clock: with a ManualClock,
// advance it to let the retry happen.
func (s *Server) WaitForEvents(ctx context.Context) error { return s.Registry().Bus().Wait(ctx) }
