package ecr

import (
	"net"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/core"
)

// callerFrom identifies the caller from the SigV4 credential scope:
//
//	Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/ecr/aws4_request, ...
//
// A 12-digit access key id is that account; any other key is the default
// account. The region comes from the scope. Signatures are not verified:
// berth is an emulator and accepts any secret key. The transport gives the
// policy conditions aws:SourceIp and aws:SecureTransport.
func (h *Handler) callerFrom(r *http.Request) core.Caller {
	account, region := h.defaultAccount, h.region
	auth := r.Header.Get("Authorization")
	if i := strings.Index(auth, "Credential="); i >= 0 {
		cred := auth[i+len("Credential="):]
		if j := strings.IndexAny(cred, ", "); j >= 0 {
			cred = cred[:j]
		}
		parts := strings.Split(cred, "/")
		if len(parts) >= 3 {
			if core.ValidAccountID(parts[0]) {
				account = parts[0]
			}
			if parts[2] != "" {
				region = parts[2]
			}
		}
	}
	return core.Caller{
		Registry:        core.RegistryID{Account: account, Region: region},
		Principal:       core.RootPrincipal(account),
		SourceIP:        remoteIP(r.RemoteAddr),
		SecureTransport: r.TLS != nil,
	}
}

// remoteIP is the host part of a RemoteAddr ("ip:port", "[ipv6]:port").
func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
