package plugins

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestBoundedBufferStopsTheCallOnTheFirstWritePastTheBound(t *testing.T) {
	stopped := 0
	b := &boundedBuffer{max: 8, overflow: func() { stopped++ }}
	if _, err := b.Write([]byte("12345678")); err != nil || b.overflowed {
		t.Fatalf("a write up to the bound: %v, overflowed %v", err, b.overflowed)
	}
	if _, err := b.Write([]byte("9")); err == nil || !b.overflowed || stopped != 1 {
		t.Fatalf("a write past the bound: %v, overflowed %v, stopped %d times", err, b.overflowed, stopped)
	}
	if _, err := b.Write([]byte("0")); err == nil || stopped != 1 {
		t.Fatalf("a write after the overflow: %v, stopped %d times", err, stopped)
	}
	if b.buf.String() != "12345678" {
		t.Fatalf("kept %q", b.buf.String())
	}
}

func TestLogWriterForwardsLinesUpToItsBudgetThenSaysItTruncated(t *testing.T) {
	var out bytes.Buffer
	w := newLogWriter(slog.New(slog.NewTextHandler(&out, nil)).With("plugin", "p"), 10)
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\n\nthree is too long\nfour"))
	w.Flush()
	log := out.String()
	for _, want := range []string{"msg=one plugin=p", "msg=two plugin=p", `msg="plugin log truncated" plugin=p`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "three") || strings.Contains(log, "four") {
		t.Errorf("log has lines past the budget:\n%s", log)
	}
}

func TestLogWriterExcerptKeepsTheStartAndTheEnd(t *testing.T) {
	w := newLogWriter(slog.New(slog.DiscardHandler), 1<<20)
	w.Write([]byte("fatal error: out of memory\n"))
	w.Write([]byte(strings.Repeat("x", 3*excerptSize)))
	w.Write([]byte("last words"))
	got := w.Excerpt()
	if !strings.HasPrefix(got, "fatal error: out of memory") || !strings.HasSuffix(got, "last words") || len(got) > 2*excerptSize+10 {
		t.Fatalf("excerpt of %d bytes: %q…%q", len(got), got[:40], got[len(got)-20:])
	}
	short := newLogWriter(slog.New(slog.DiscardHandler), 1<<20)
	short.Write([]byte(strings.Repeat("a", excerptSize) + "bc"))
	if got, want := short.Excerpt(), strings.Repeat("a", excerptSize)+"bc"; got != want {
		t.Fatalf("excerpt of a stderr just over one excerpt: %d bytes, want %d", len(got), len(want))
	}
}
