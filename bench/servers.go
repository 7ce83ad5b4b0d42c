package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

// serveGGCRArg is the hidden sub-command with which the bench re-executes
// itself to run go-containerregistry's in-memory registry in its own process,
// so that neither registry shares a process (and a garbage collector) with
// the measuring client.
const serveGGCRArg = "__serve-ggcr"

// serveGGCR runs registry.New() on a free loopback port until SIGTERM.
func serveGGCR() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// Request logging off, as berth runs with --log-level warn.
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	fmt.Printf("ggcr listening on http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// server is one registry under test, running as a child process.
type server = benchutil.Child

// startBerth runs berth in its default disk-backed mode on a fresh data dir,
// or with --memory when dataDir is "".
func startBerth(name, bin, dataDir string) (*server, error) {
	args := []string{"serve", "--addr", "127.0.0.1:0"}
	if dataDir == "" {
		args = append(args, "--memory")
	} else {
		args = append(args, "--data-dir", dataDir)
	}
	args = append(args, "--no-auth", "--create-on-push", "--log-level", "warn")
	return benchutil.StartChild(name, "berth listening on ", exec.Command(bin, args...))
}

// startGGCR runs go-containerregistry's registry in a child process.
func startGGCR() (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return benchutil.StartChild("ggcr", "ggcr listening on ", exec.Command(self, serveGGCRArg))
}
