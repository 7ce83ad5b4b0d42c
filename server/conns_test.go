package server

import (
	"net"
	"net/http"
	"testing"
)

// closedConn is a net.Conn that notes being closed.
type closedConn struct {
	net.Conn
	closed bool
}

func (c *closedConn) Close() error { c.closed = true; return nil }

// A connection is fresh from StateNew until its first request; Shutdown
// closes the fresh ones only, whatever the order of other connections'
// changes of state.
func TestOnlyConnectionsWithoutARequestAreClosedAsUnused(t *testing.T) {
	s := &Server{}
	a, b, c := &closedConn{}, &closedConn{}, &closedConn{}
	s.trackConn(a, http.StateNew)
	s.trackConn(a, http.StateActive) // a's first request
	s.trackConn(a, http.StateIdle)
	if n := s.freshN.Load(); n != 0 || len(s.fresh) != 0 {
		t.Fatalf("after a's request: %d fresh (map %d), want 0", n, len(s.fresh))
	}
	s.trackConn(b, http.StateNew)
	s.trackConn(c, http.StateNew)
	s.trackConn(a, http.StateActive) // another request on a, while b and c are fresh
	s.trackConn(c, http.StateActive)
	s.trackConn(c, http.StateIdle)
	if n := s.freshN.Load(); n != 1 || !s.fresh[b] {
		t.Fatalf("%d fresh (%v), want b alone", n, s.fresh)
	}
	s.closeUnusedConns()
	if !b.closed || a.closed || c.closed {
		t.Fatalf("closed: a %v, b %v, c %v; want b alone", a.closed, b.closed, c.closed)
	}
	if n := s.freshN.Load(); n != 0 || len(s.fresh) != 0 {
		t.Fatalf("after closing: %d fresh (map %d), want 0", n, len(s.fresh))
	}
}
