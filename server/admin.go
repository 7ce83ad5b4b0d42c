package server

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The admin endpoints (/_berth/ecr/*, /_berth/reset, /moto-api/*) read and
// wipe everything without credentials, which suits a test suite on the same
// machine. A web page the developer happens to visit can reach them too:
// a form POST to /moto-api/reset is a CORS "simple request" the browser sends
// without asking, and a page whose own name it makes resolve to 127.0.0.1
// (DNS rebinding) reads /_berth/ecr/* as same-origin. Browsers mark both: the
// first with an Origin (and Sec-Fetch-Site) that is not berth's, the second
// with a Host that is not a name of berth's. Clients that are not browsers
// send neither mark and are let through, as before.

// adminOnly guards the admin endpoints: 404 when they are switched off, 403
// for requests a web page made.
func (s *Server) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.NoAdmin {
			adminError(w, http.StatusNotFound, "the admin endpoints are switched off (berth serve --admin=false)")
			return
		}
		if why := s.refuseAdmin(r); why != "" {
			adminError(w, http.StatusForbidden, why)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func adminError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// refuseAdmin says why r may not use the admin endpoints, or "" if it may.
func (s *Server) refuseAdmin(r *http.Request) string {
	if !s.isOwnHost(r.Host) {
		return fmt.Sprintf("berth answers /_berth and /moto-api only for requests addressed to a loopback name "+
			"(localhost, 127.0.0.1, [::1], *.localhost), its listen address or --hostname, and this one was "+
			"addressed to %q, as a web page reaching berth through DNS rebinding would be; "+
			"if that is berth's name, start it with --hostname", r.Host)
	}
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r.Host) {
		return fmt.Sprintf("berth refuses /_berth and /moto-api requests from web pages of another origin "+
			"(Origin: %s), so that a page open in a browser can neither read nor wipe the registry", origin)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return fmt.Sprintf("berth refuses /_berth and /moto-api requests a browser sent for another site "+
			"(Sec-Fetch-Site: %s), so that a page open in a browser can neither read nor wipe the registry", site)
	}
	return ""
}

// isOwnHost reports whether host (a Host header) names berth in a way a web
// page cannot take over: a loopback name or address, berth's listen address,
// or the configured --hostname. The port does not matter: a page reaching
// berth by a name of its own has that name, whatever the port.
func (s *Server) isOwnHost(host string) bool {
	name := hostName(host)
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		// *.localhost never leaves the machine (RFC 6761), which covers
		// <account>.dkr.ecr.<region>.localhost.
		return true
	}
	ip, err := netip.ParseAddr(name)
	isIP := err == nil
	if isIP && ip.Unmap().IsLoopback() {
		return true
	}
	if s.cfg.Hostname != "" && name == hostName(s.cfg.Hostname) {
		return true
	}
	listen := hostName(s.cfg.Addr)
	if l, err := netip.ParseAddr(listen); listen == "" || err == nil && l.IsUnspecified() {
		// Listening on every interface, each of this machine's addresses is
		// the listen address. A request naming an address rather than a name
		// cannot come through DNS rebinding, and one that a page elsewhere
		// sent carries its Origin.
		return isIP
	}
	return name == listen
}

// hostName is the lower-case host of a host[:port], without brackets or a
// trailing dot.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// sameOrigin reports whether origin is berth's own (the request's host, over
// http, or https behind a proxy that terminates TLS).
func sameOrigin(origin, host string) bool {
	o := strings.ToLower(origin)
	h := strings.ToLower(host)
	return o == "http://"+h || o == "https://"+h
}
