package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// A Shutdown that comes before Serve (a signal right after start, a test
// cleanup) also stops the Serve that follows: it returns at once with a nil
// error instead of answering requests over closed stores. Shutdown and Serve
// may run concurrently without a data race.
func TestServeAfterShutdownReturnsAtOnce(t *testing.T) {
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
