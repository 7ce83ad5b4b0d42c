package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/berth-dev/berth/core"
)

// DefaultBodyIdleTimeout is how long a request body may send nothing before
// the request is cut off, unless Config says otherwise.
const DefaultBodyIdleTimeout = 30 * time.Second

// bodyIdleDeadline gives every request body a read-idle deadline: each read
// must see a byte within idle of asking, or it fails and the connection
// closes. Without it a client that declares a large body and stops sending
// holds what the request holds — an upload session, and whatever waits for
// it — for as long as the socket stays open.
//
// The deadline is set on the connection (http.ResponseController) before
// a read, so a body that keeps coming may take as long as it needs, and
// never outside a read: a handler that is slow before or after reading is
// not cut off, and net/http's own deadlines take over when the handler
// returns. A failed read is the client's: it reaches the edges as
// core.KindBodyUnreadable.
func bodyIdleDeadline(idle time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			b := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle}
			r.Body = b
			defer b.done()
			next.ServeHTTP(w, r)
		})
	}
}

// idleBody is a request body under a read-idle deadline.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration

	mu sync.Mutex
	// moved is when the connection's deadline was last set, to moved +
	// idle + idle/idleSlack (zero: not yet). Moving it costs a timer
	// change in the runtime, so a read within idle/idleSlack of the last
	// move keeps it: every read still has at least idle before it, and a
	// stalled body is cut off within idle × (1 + 1/idleSlack).
	moved time.Time
	// over: the handler returned, or the body ended or failed; the
	// connection's deadline is net/http's business again (once the body is
	// read, net/http watches the connection with no deadline: setting one
	// then would cancel the request's context when it passed).
	over        bool
	interrupted bool
}

// idleSlack: a body's deadline is moved at most once per idle/idleSlack
// (idleBody.moved).
const idleSlack = 4

// errInterrupted is what reading an interrupted body gives.
var errInterrupted = errors.New("the request body was interrupted: what it was written into has ended")

func (b *idleBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	switch {
	case b.interrupted:
		b.mu.Unlock()
		return 0, core.BodyUnreadable(errInterrupted)
	case !b.over:
		// Not every ResponseWriter supports deadlines (httptest's does
		// not); there the body simply has none.
		if now := time.Now(); b.moved.IsZero() || now.Sub(b.moved) >= b.idle/idleSlack {
			b.rc.SetReadDeadline(now.Add(b.idle + b.idle/idleSlack))
			b.moved = now
		}
	}
	b.mu.Unlock()
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.done()
		if err != io.EOF {
			err = b.unreadable(err)
		}
	}
	return n, err
}

// unreadable classifies a failed read as the client's (core.BodyUnreadable),
// in words that say why when it was the deadline.
func (b *idleBody) unreadable(err error) error {
	b.mu.Lock()
	interrupted := b.interrupted
	b.mu.Unlock()
	switch {
	case interrupted:
		err = errInterrupted
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = idleTimeout{b.idle, err}
	}
	return core.BodyUnreadable(err)
}

// idleTimeout words a passed read-idle deadline for the client (not the
// connection's addresses); the network error stays underneath, for the log.
type idleTimeout struct {
	idle time.Duration
	err  error
}

func (e idleTimeout) Error() string { return fmt.Sprintf("nothing arrived for %v", e.idle) }
func (e idleTimeout) Unwrap() error { return e.err }

// Interrupt makes a Read waiting for the client, and every later one, fail
// at once (core.Interrupter): core calls it when the upload session the body
// is being written into ends. Once the handler has returned it does nothing,
// for the connection may be serving the next request.
func (b *idleBody) Interrupt() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over || b.interrupted {
		return
	}
	b.interrupted = true
	b.rc.SetReadDeadline(aLongTimeAgo)
}

// aLongTimeAgo is a deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// done ends the body's hold on the connection's deadline.
func (b *idleBody) done() {
	b.mu.Lock()
	b.over = true
	b.mu.Unlock()
}
