package ecr

import (
	"testing"

	"github.com/berth-dev/berth/core"
)

// --uri-style aws gives what AWS (and moto) return, so suites and Terraform
// states written against them match: no port, https proxyEndpoint.
// --hostname still wins, and then names berth itself.
func TestAWSStyleURIsAreAWSOwn(t *testing.T) {
	reg := core.RegistryID{Account: "123456789012", Region: "eu-west-1"}
	for _, c := range []struct {
		u           URIs
		host, proxy string
	}{
		{URIs{Style: "aws", Port: "4566"}, "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"},
		{URIs{Style: "aws", Hostname: "berth", Port: "4566"}, "berth:4566", "http://berth:4566"},
		{URIs{Style: "ecr", Port: "4566"}, "123456789012.dkr.ecr.eu-west-1.localhost:4566", "http://123456789012.dkr.ecr.eu-west-1.localhost:4566"},
		{URIs{Port: "4566"}, "localhost:4566", "http://localhost:4566"},
	} {
		if got := c.u.Host(reg); got != c.host {
			t.Errorf("%+v: Host %s, want %s", c.u, got, c.host)
		}
		if got := c.u.ProxyEndpoint(reg); got != c.proxy {
			t.Errorf("%+v: ProxyEndpoint %s, want %s", c.u, got, c.proxy)
		}
	}
}
