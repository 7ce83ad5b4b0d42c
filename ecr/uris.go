package ecr

import (
	"net"
	"strings"

	"github.com/berth-dev/berth/core"
)

// URIs renders registry hosts for repositoryUri and proxyEndpoint.
type URIs struct {
	// Style "localhost" (default) gives localhost:<port>, which docker reaches on
	// any machine; "ecr" gives <account>.dkr.ecr.<region>.localhost:<port>;
	// "aws" gives AWS's own <account>.dkr.ecr.<region>.amazonaws.com, with no
	// port, for suites and Terraform states that expect what AWS and moto
	// return (it reaches berth only through a hosts entry and a proxy on 443).
	Style string
	// Hostname, if set, replaces the host part (e.g. a compose service name).
	Hostname string
	// Port is berth's listening port.
	Port string
}

// Host returns the registry host of reg as clients should address it.
func (u URIs) Host(reg core.RegistryID) string {
	if u.namesAWS() {
		return reg.Account + ".dkr.ecr." + reg.Region + ".amazonaws.com"
	}
	host := "localhost"
	if u.Style == "ecr" {
		host = reg.Account + ".dkr.ecr." + reg.Region + ".localhost"
	}
	if u.Hostname != "" {
		host = u.Hostname
	}
	if u.Port != "" && !strings.Contains(host, ":") {
		host = net.JoinHostPort(host, u.Port)
	}
	return host
}

// ProxyEndpoint returns GetAuthorizationToken's proxyEndpoint for reg:
// http://<Host>, as berth serves plain HTTP, except that the "aws" style gives
// https://<account>.dkr.ecr.<region>.amazonaws.com, which AWS and moto return
// and suites written against them assert.
func (u URIs) ProxyEndpoint(reg core.RegistryID) string {
	if u.namesAWS() {
		return "https://" + u.Host(reg)
	}
	return "http://" + u.Host(reg)
}

// namesAWS reports whether hosts are AWS's rather than berth's own.
func (u URIs) namesAWS() bool { return u.Style == "aws" && u.Hostname == "" }

// requestURIs is h's URIs on the port the request came in on: that is where
// berth answers, whatever port it was configured with.
func (c *call) requestURIs(h *Handler) URIs {
	u := h.uris
	if _, port, err := net.SplitHostPort(c.req.Host); err == nil {
		u.Port = port
	}
	return u
}

// registryHost is how clients should address reg's /v2.
func (c *call) registryHost(h *Handler, reg core.RegistryID) string {
	return c.requestURIs(h).Host(reg)
}

// selfHost is the host of URLs berth hands out to be fetched from itself
// (GetDownloadUrlForLayer): reg's registry host, unless that names AWS; then
// the host this request reached berth by, so that the URL works.
func (c *call) selfHost(h *Handler, reg core.RegistryID) string {
	if h.uris.namesAWS() && c.req.Host != "" {
		return c.req.Host
	}
	return c.registryHost(h, reg)
}
