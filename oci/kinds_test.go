package oci

import (
	"testing"

	"github.com/berth-dev/berth/core"
)

// Every domain error kind has a distribution-spec code and a 4xx status — a
// kind without one would reach clients as a 500 — except a failing upstream
// (pull-through), which is a gateway's 502.
func TestEveryKindIsMapped(t *testing.T) {
	for _, k := range core.Kinds {
		c, ok := codeFor[k]
		if !ok {
			t.Errorf("kind %s has no OCI error code", k)
			continue
		}
		if (c.status < 400 || c.status >= 500) && !(k == core.KindUpstreamUnavailable && c.status == 502) {
			t.Errorf("kind %s maps to status %d", k, c.status)
		}
	}
}
