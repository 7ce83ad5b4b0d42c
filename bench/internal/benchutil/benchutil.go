// Package benchutil holds what berth's benchmark programs share: finding the
// module, building the binary under test, summarizing figures, reading the
// machine's load average, and finding a free port for a peer server.
package benchutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// FindRoot walks up from the working directory to the berth module root.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/berth-dev/berth\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the benchmark from inside the berth repository")
		}
		dir = parent
	}
}

// BuildBerth builds ./cmd/berth of the module at root into dir.
func BuildBerth(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "berth")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/berth")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/berth: %w", err)
	}
	return bin, nil
}

// Median of v (0 for none).
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Num formats a figure with about three significant digits.
func Num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// MinMax returns the smallest and the largest of v (0, 0 for none).
func MinMax(v []float64) (lo, hi float64) {
	if len(v) == 0 {
		return 0, 0
	}
	return slices.Min(v), slices.Max(v)
}

// Load is the machine's load average over 1, 5 and 15 minutes.
type Load struct {
	Avg [3]float64
	OK  bool // false where /proc/loadavg could not be read
}

// LoadThreshold is the 1-minute load average above which a run is reported
// as noisy: on a 2-core machine, anything more means another process was
// taking a good share of a core.
const LoadThreshold = 0.5

// ReadLoad reads /proc/loadavg (Linux).
func ReadLoad() Load {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return Load{}
	}
	return ParseLoad(string(b))
}

// ParseLoad parses the text of /proc/loadavg.
func ParseLoad(s string) Load {
	f := strings.Fields(s)
	if len(f) < 3 {
		return Load{}
	}
	var l Load
	for i := range 3 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Load{}
		}
		l.Avg[i] = v
	}
	l.OK = true
	return l
}

func (l Load) String() string {
	if !l.OK {
		return "unknown"
	}
	return fmt.Sprintf("%.2f, %.2f, %.2f", l.Avg[0], l.Avg[1], l.Avg[2])
}

// Busy reports whether the 1-minute load average is above LoadThreshold.
func (l Load) Busy() bool { return l.OK && l.Avg[0] > LoadThreshold }

// Warning is a loud one-paragraph warning when the load average at the start
// of a run is above LoadThreshold, and "" otherwise.
func (l Load) Warning() string {
	if !l.Busy() {
		return ""
	}
	return fmt.Sprintf("WARNING: the load average was %.2f at the start of this run (above %.1f): other work was "+
		"running on this machine, so these figures are noisy and the ratios may be off in either direction. "+
		"Compare runs made on an idle machine.", l.Avg[0], LoadThreshold)
}

// ReplaceBlock replaces the text from begin to end (both included) in the
// file at path with block, which should carry the markers itself; the rest
// of the file is kept. The file must have the block already.
func ReplaceBlock(path, begin, end, block string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(old)
	i := strings.Index(s, begin)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s block to replace", path, begin, end)
	}
	return os.WriteFile(path, []byte(s[:i]+block+strings.TrimPrefix(s[j+len(end):], "\n")), 0o644)
}

// FreePort asks the kernel for a free loopback port, for peers that take a
// port number rather than a listener (distribution, moto_server): another
// process may take it before the peer binds it, a small window.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
