package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// adminCall sends method path to b with the given Host name (the port is
// b's) and headers, and returns the status and the JSON error, if any.
func adminCall(t *testing.T, b *Berth, method, path, host string, hdr map[string]string) (int, string) {
	t.Helper()
	resp, body := raw(t, b, "").withHost(host).do(method, path, nil, hdr)
	var e struct{ Error string }
	json.Unmarshal(body, &e)
	return resp.StatusCode, e.Error
}

// A web page open in the developer's browser can neither wipe berth (a
// cross-site form POST to /moto-api/reset) nor read it through DNS
// rebinding; test suites on the machine, which send no Origin, still can.
func TestAdminEndpointsRefuseWebPages(t *testing.T) {
	b := Start(t)
	s := defaultSDK(t, b)
	s.createRepo("keep")
	for _, c := range []struct {
		method, path, host string
		hdr                map[string]string
	}{
		{"POST", "/moto-api/reset", "127.0.0.1", map[string]string{"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"}},
		{"POST", "/_berth/reset", "localhost", map[string]string{"Origin": "null"}},
		{"POST", "/_berth/reset", "rebound.attacker.example", nil},
		{"GET", "/_berth/ecr/repositories", "rebound.attacker.example", nil},
	} {
		code, msg := adminCall(t, b, c.method, c.path, c.host, c.hdr)
		if code != http.StatusForbidden || !strings.Contains(msg, "berth") {
			t.Errorf("%s %s (Host %s, %v): %d %q, want 403 with a reason", c.method, c.path, c.host, c.hdr, code, msg)
		}
	}
	var repos struct{ Repositories []struct{ Name string } }
	if code := getJSON(t, b.URL+"/_berth/ecr/repositories", &repos); code != 200 || len(repos.Repositories) != 1 {
		t.Fatalf("after the refused resets: %d %+v, want the repository kept", code, repos)
	}
	// A moto-style client on the machine: no Origin, any local name.
	for _, host := range []string{"localhost", "000000000000.dkr.ecr.us-east-1.localhost"} {
		if code, msg := adminCall(t, b, "POST", "/moto-api/reset", host, nil); code != http.StatusOK {
			t.Errorf("moto-style reset via %s: %d %q", host, code, msg)
		}
	}
}

// --hostname names berth: a compose service reached by that name may reset it.
func TestAdminEndpointsAnswerTheConfiguredHostname(t *testing.T) {
	b := Start(t, "--hostname", "berth")
	if code, msg := adminCall(t, b, "POST", "/moto-api/reset", "berth", nil); code != http.StatusOK {
		t.Errorf("reset via --hostname: %d %q", code, msg)
	}
	if code, _ := adminCall(t, b, "POST", "/moto-api/reset", "other", nil); code != http.StatusForbidden {
		t.Errorf("reset via another name: %d, want 403", code)
	}
}

// --admin=false (BERTH_ADMIN=false) takes the admin endpoints away; health,
// the ECR API and /v2 stay.
func TestAdminEndpointsSwitchedOff(t *testing.T) {
	for _, c := range []struct {
		flags []string
		env   string
	}{
		{[]string{"--admin=false"}, ""},
		{nil, "false"},
	} {
		if c.env != "" {
			t.Setenv("BERTH_ADMIN", c.env)
		}
		b := Start(t, c.flags...)
		for _, p := range []struct{ method, path string }{
			{"GET", "/_berth/ecr/repositories"},
			{"POST", "/_berth/reset"},
			{"POST", "/moto-api/reset"},
		} {
			if code, msg := adminCall(t, b, p.method, p.path, "localhost", nil); code != http.StatusNotFound || !strings.Contains(msg, "--admin=false") {
				t.Errorf("%v BERTH_ADMIN=%s: %s %s: %d %q, want 404", c.flags, c.env, p.method, p.path, code, msg)
			}
		}
		s := defaultSDK(t, b)
		s.createRepo("app")
		b.Stop()
	}
}
