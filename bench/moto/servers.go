package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchutil"
)

// server is one ECR endpoint under test, running as a child process in its
// own process group (so that a wrapper script and what it starts go together).
type server struct {
	name string
	url  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	done chan struct{}
	out  *tailBuffer // what the child printed, for error messages
	once sync.Once
}

// logTail returns the last lines the child printed.
func (s *server) logTail() string {
	lines := strings.Split(strings.TrimSpace(s.out.String()), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}

// stop sends SIGTERM to the child's process group, then SIGKILL if it is
// still there after five seconds, and waits for it.
func (s *server) stop() {
	s.once.Do(func() {
		pid := s.cmd.Process.Pid
		syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pid, syscall.SIGKILL)
			<-s.done
		}
		// Anything the child left behind in its group goes too.
		syscall.Kill(-pid, syscall.SIGKILL)
	})
}

// start runs cmd in its own process group, collecting its output.
func start(name string, cmd *exec.Cmd, stdout io.Writer) (*server, error) {
	s := &server{name: name, cmd: cmd, done: make(chan struct{}), out: &tailBuffer{max: 4096}}
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = 5 * time.Second
	cmd.Stderr = s.out
	if stdout == nil {
		stdout = s.out
	}
	cmd.Stdout = stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { cmd.Wait(); close(s.done) }()
	return s, nil
}

// startBerth runs `berth serve --memory` on a free loopback port and waits
// for "berth listening on http://HOST:PORT" on its standard output.
func startBerth(ctx context.Context, bin string) (*server, error) {
	pr, pw := io.Pipe()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--memory", "--log-level", "warn")
	s, err := start("berth", cmd, pw)
	if err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "berth listening on "); ok {
				ready <- u
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() { <-s.done; pw.Close() }()
	select {
	case s.url = <-ready:
	case <-s.done:
		return nil, fmt.Errorf("berth exited before it was ready: %s", s.logTail())
	case <-time.After(20 * time.Second):
		s.stop()
		return nil, errors.New("berth did not become ready within 20s")
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	if err := waitHTTP(ctx, s, s.url+"/_berth/health", 10*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// startMoto runs `moto_server -H 127.0.0.1 -p <free port>` and waits until it
// answers HTTP.
func startMoto(ctx context.Context, command, dir string) (*server, error) {
	path, err := exec.LookPath(command)
	if err != nil {
		return nil, fmt.Errorf("moto_server not found (pip install 'moto[server]'): %w", err)
	}
	port, err := benchutil.FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Dir = dir
	s, err := start("moto", cmd, nil)
	if err != nil {
		return nil, err
	}
	s.url = "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitHTTP(ctx, s, s.url+"/", 60*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitHTTP polls url until the server answers anything over HTTP.
func waitHTTP(ctx context.Context, s *server, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before it answered: %s", s.name, s.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer on %s within %s: %v; output: %s", s.name, url, limit, err, s.logTail())
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
