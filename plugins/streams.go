package plugins

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
)

// boundedBuffer is a plugin's stdout: it keeps up to max bytes, and on the first write past the
// bound it records the overflow and calls overflow (which cancels the call) so that a plugin
// printing forever is stopped at once rather than at its deadline.
type boundedBuffer struct {
	max        int
	overflow   func()
	buf        bytes.Buffer
	overflowed bool
}

var errStdoutFull = errors.New("plugin stdout bound reached")

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.overflowed {
		return 0, errStdoutFull
	}
	if b.buf.Len()+len(p) > b.max {
		b.overflowed = true
		b.overflow()
		return 0, errStdoutFull
	}
	return b.buf.Write(p)
}

// excerptSize is how much of the start and of the end of a plugin's stderr an error quotes: a Go
// panic or fatal error says what happened at the start, and other programs tend to at the end.
const excerptSize = 512

// logWriter is a plugin's stderr: each complete line becomes one slog record carrying the
// plugin's name, up to max bytes per call; its first and last excerptSize bytes are kept for
// error messages.
type logWriter struct {
	logger    *slog.Logger
	max       int
	mu        sync.Mutex // wazero writes from the calling goroutine; the lock is for Excerpt.
	line      []byte
	forwarded int
	dropped   bool
	head      []byte
	tail      []byte
	total     int
}

func newLogWriter(logger *slog.Logger, max int) *logWriter {
	return &logWriter{logger: logger, max: max}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.total += len(p)
	if room := excerptSize - len(w.head); room > 0 {
		w.head = append(w.head, p[:min(room, len(p))]...)
	}
	w.tail = append(w.tail, p...)
	if len(w.tail) > excerptSize {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-excerptSize:]...)
	}
	for _, c := range p {
		if c == '\n' {
			w.emit()
			continue
		}
		// A line without a newline is cut at the bound rather than buffered without limit.
		if len(w.line) >= w.max {
			w.emit()
		}
		w.line = append(w.line, c)
	}
	return len(p), nil
}

// emit forwards the pending line, or drops it once the call's log budget is spent.
func (w *logWriter) emit() {
	line := w.line
	w.line = w.line[:0]
	if len(line) == 0 || w.dropped {
		return
	}
	// Once a line is dropped, later ones are too, so the log never has a gap mid-stream.
	if w.forwarded+len(line) > w.max {
		if !w.dropped {
			w.dropped = true
			w.logger.Warn("plugin log truncated", "limit_bytes", w.max)
		}
		return
	}
	w.forwarded += len(line)
	w.logger.Info(string(line))
}

// Flush forwards a last line that has no newline.
func (w *logWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.line) > 0 {
		w.emit()
	}
}

// Excerpt returns the plugin's stderr if it is short, else its start and its end.
func (w *logWriter) Excerpt() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.total <= excerptSize:
		return string(w.head)
	case w.total <= 2*excerptSize:
		return string(w.head) + string(w.tail[len(w.tail)-(w.total-excerptSize):])
	}
	return string(w.head) + " … " + string(w.tail)
}
