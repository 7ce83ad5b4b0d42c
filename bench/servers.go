package main

import (
	"bufio"
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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
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
type server struct {
	name string
	url  string // http://host:port
	cmd  *exec.Cmd
	done chan error
	once sync.Once
}

// startServer runs cmd and waits for the line "<prefix>http://host:port" on
// its standard output.
func startServer(name, prefix string, cmd *exec.Cmd) (*server, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				ready <- u
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case s.url = <-ready:
	case err := <-s.done:
		return nil, fmt.Errorf("%s exited before it was ready: %v", name, err)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not become ready", name)
	}
	return s, nil
}

// stop asks the child to exit and waits for it; later calls do nothing.
func (s *server) stop() {
	s.once.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	})
}

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
	return startServer(name, "berth listening on ", exec.Command(bin, args...))
}

// startGGCR runs go-containerregistry's registry in a child process.
func startGGCR() (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startServer("ggcr", "ggcr listening on ", exec.Command(self, serveGGCRArg))
}
