package ecr

import (
	"net"
	"strings"

	"github.com/berth-dev/berth/core"
)

// URIs renders registry hosts for repositoryUri and proxyEndpoint.
type URIs struct {
	// Style "localhost" (default) gives localhost:<port>, which docker reaches on
	// any machine; "ecr" gives <account>.dkr.ecr.<region>.localhost:<port>.
	Style string
	// Hostname, if set, replaces the host part (e.g. a compose service name).
	Hostname string
	// Port is berth's listening port.
	Port string
}

// Host returns the registry host of reg as clients should address it.
func (u URIs) Host(reg core.RegistryID) string {
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
