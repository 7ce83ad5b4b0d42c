package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newTestServer(t *testing.T, edit func(*Config)) *Server {
	t.Helper()
	cfg := Defaults()
	cfg.Memory = true
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv
}

// adminRequest sends method path to srv's handler with the given Host and
// headers ("Name: value").
func adminRequest(srv *Server, method, path, host string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://"+host+path, nil)
	req.Host = host
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec
}

// The admin endpoints answer clients on this machine that address berth by
// a name a web page cannot take over: moto-style test suites (no Origin)
// keep working.
func TestAdminEndpointsAnswerLocalClients(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.Hostname = "registry.internal" })
	for _, host := range []string{
		"127.0.0.1:4566", "localhost:4566", "LOCALHOST:4566", "localhost", "[::1]:4566", "127.0.0.2:4566",
		"app.localhost:4566", "123456789012.dkr.ecr.eu-west-1.localhost:4566", "registry.internal:4566",
	} {
		for _, c := range []struct{ method, path string }{
			{"GET", "/_berth/ecr/repositories"},
			{"GET", "/_berth/ecr/blobs"},
			{"POST", "/_berth/reset"},
			{"POST", "/moto-api/reset"},
		} {
			if rec := adminRequest(srv, c.method, c.path, host); rec.Code != http.StatusOK {
				t.Errorf("%s %s with Host %s: %d %s", c.method, c.path, host, rec.Code, rec.Body)
			}
		}
	}
	// A request from berth's own origin, or one the browser says is not
	// cross-site, is not a web page reaching across.
	for _, hdr := range []string{"Origin: http://localhost:4566", "Sec-Fetch-Site: same-origin", "Sec-Fetch-Site: none"} {
		if rec := adminRequest(srv, "POST", "/_berth/reset", "localhost:4566", hdr); rec.Code != http.StatusOK {
			t.Errorf("reset with %s: %d %s", hdr, rec.Code, rec.Body)
		}
	}
}

// A web page the developer visits can send simple requests to berth (a form
// POST to /moto-api/reset), and can read /_berth/ecr/* through DNS
// rebinding (its own name resolving to 127.0.0.1): both are refused with a
// JSON error that says why.
func TestAdminEndpointsRefuseWebPagesAndForeignHosts(t *testing.T) {
	srv := newTestServer(t, nil)
	for _, c := range []struct {
		method, path, host string
		headers            []string
		why                string
	}{
		{"GET", "/_berth/ecr/repositories", "attacker.example:4566", nil, "attacker.example"},
		{"GET", "/_berth/ecr/images?repository=app", "attacker.example", nil, "attacker.example"},
		{"POST", "/_berth/reset", "localhost.attacker.example:4566", nil, "localhost.attacker.example"},
		{"POST", "/moto-api/reset", "192.168.1.20:4566", nil, "192.168.1.20"},
		{"POST", "/moto-api/reset", "localhost:4566", []string{"Origin: http://attacker.example"}, "http://attacker.example"},
		{"POST", "/_berth/reset", "localhost:4566", []string{"Origin: http://localhost:3000"}, "http://localhost:3000"},
		{"POST", "/_berth/reset", "localhost:4566", []string{"Origin: null"}, "null"},
		{"GET", "/_berth/ecr/blobs", "localhost:4566", []string{"Sec-Fetch-Site: cross-site"}, "cross-site"},
		{"POST", "/moto-api/reset", "localhost:4566", []string{"Sec-Fetch-Site: same-site"}, "same-site"},
	} {
		rec := adminRequest(srv, c.method, c.path, c.host, c.headers...)
		var body struct{ Error string }
		json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusForbidden || !strings.Contains(body.Error, c.why) {
			t.Errorf("%s %s, Host %s %v: %d %s; want 403 with a JSON error naming %q", c.method, c.path, c.host, c.headers, rec.Code, rec.Body, c.why)
		}
	}
	// Health and layer downloads are not admin endpoints: health says
	// nothing, and a download URL's signature is its own authorization.
	if rec := adminRequest(srv, "GET", "/_berth/health", "attacker.example:4566"); rec.Code != http.StatusOK {
		t.Errorf("health with a foreign Host: %d", rec.Code)
	}
	if rec := adminRequest(srv, "GET", "/_berth/layers/bad-token", "attacker.example:4566"); rec.Code == http.StatusForbidden && strings.Contains(rec.Body.String(), "attacker.example") {
		t.Errorf("a layer download was refused for its Host: %s", rec.Body)
	}
}

// Listening on every interface, berth is addressed by this machine's IP
// addresses: any IP literal is its listen address then (a DNS rebinding
// request always carries a name). Listening on one address, that address is
// one of its names.
func TestAdminEndpointsAcceptTheListenAddress(t *testing.T) {
	for _, c := range []struct {
		addr, host string
		want       int
	}{
		{"0.0.0.0:4566", "192.168.1.20:4566", http.StatusOK},
		{":4566", "10.0.0.7:4566", http.StatusOK},
		{"[::]:4566", "[fd00::7]:4566", http.StatusOK},
		{"0.0.0.0:4566", "attacker.example:4566", http.StatusForbidden},
		{"192.168.1.20:4566", "192.168.1.20:4566", http.StatusOK},
		{"192.168.1.20:4566", "192.168.1.21:4566", http.StatusForbidden},
		{"devbox.lan:4566", "devbox.lan:4566", http.StatusOK},
	} {
		srv := newTestServer(t, func(cfg *Config) { cfg.Addr = c.addr })
		if rec := adminRequest(srv, "GET", "/_berth/ecr/repositories", c.host); rec.Code != c.want {
			t.Errorf("--addr %s, Host %s: %d, want %d (%s)", c.addr, c.host, rec.Code, c.want, rec.Body)
		}
	}
}

// With the admin endpoints switched off they are not there at all; health
// and the rest of berth are.
func TestAdminEndpointsSwitchedOff(t *testing.T) {
	srv := newTestServer(t, func(c *Config) { c.NoAdmin = true })
	for _, c := range []struct{ method, path string }{
		{"GET", "/_berth/ecr/repositories"},
		{"GET", "/_berth/ecr/images?repository=app"},
		{"GET", "/_berth/ecr/blobs"},
		{"POST", "/_berth/reset"},
		{"POST", "/moto-api/reset"},
	} {
		rec := adminRequest(srv, c.method, c.path, "localhost:4566")
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "--admin=false") {
			t.Errorf("%s %s with --admin=false: %d %s", c.method, c.path, rec.Code, rec.Body)
		}
	}
	if rec := adminRequest(srv, "GET", "/_berth/health", "localhost:4566"); rec.Code != http.StatusOK {
		t.Errorf("health with --admin=false: %d", rec.Code)
	}
	if rec := adminRequest(srv, "GET", "/v2/", "localhost:4566"); rec.Code != http.StatusUnauthorized {
		t.Errorf("/v2/ with --admin=false: %d, want 401 (the registry is still there)", rec.Code)
	}
}
