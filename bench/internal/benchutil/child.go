package benchutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child is a server under test running as a child process, so that it
// shares no process (and no garbage collector) with the measuring client.
type Child struct {
	Name string
	URL  string // http://host:port
	Cmd  *exec.Cmd
	Done chan error // receives cmd.Wait's result (once; WaitHTTP puts it back)
	once sync.Once
}

// StartChild runs cmd, its standard error on ours, and waits (20 s at most)
// for the line "<prefix>http://host:port" on its standard output.
func StartChild(name, prefix string, cmd *exec.Cmd) (*Child, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := Watch(name, "", cmd)
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
	select {
	case c.URL = <-ready:
	case err := <-c.Done:
		return nil, fmt.Errorf("%s exited before it was ready: %v", name, err)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not become ready", name)
	}
	return c, nil
}

// Watch makes a Child of a started cmd that serves at url.
func Watch(name, url string, cmd *exec.Cmd) *Child {
	c := &Child{Name: name, URL: url, Cmd: cmd, Done: make(chan error, 1)}
	go func() { c.Done <- cmd.Wait() }()
	return c
}

// WaitHTTP polls url until it answers 200, the child exits, or limit passes.
func (c *Child) WaitHTTP(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		select {
		case werr := <-c.Done:
			c.Done <- werr
			return fmt.Errorf("%s exited before it answered: %v", c.Name, werr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer GET %s within %s: %v", c.Name, url, limit, err)
		}
	}
}

// Stop asks the child to exit (SIGTERM, then a kill after 30 s) and waits
// for it; later calls do nothing.
func (c *Child) Stop() {
	c.once.Do(func() {
		c.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.Done:
		case <-time.After(30 * time.Second):
			c.Cmd.Process.Kill()
			<-c.Done
		}
	})
}
