package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// TestShutdownBeforeServe: Serve created its http.Server itself, so a
// Shutdown that came first (a signal right after start, a test cleanup) found
// none, closed the stores, and the Serve that followed went on answering
// requests over closed stores forever. Reading s.http in Shutdown while Serve
// wrote it was also a data race.
func TestShutdownBeforeServe(t *testing.T) {
	cfg := Defaults()
	cfg.Memory = true
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Shutdown: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve after Shutdown is still serving")
	}
}
