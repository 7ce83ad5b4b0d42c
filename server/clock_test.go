package server

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

// Config.Clock reaches the registry, the tokens and the janitor: nothing the
// server builds keeps time on its own.
func TestConfigClockReachesEveryPath(t *testing.T) {
	start := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := core.NewManualClock(start)
	cfg := Defaults()
	cfg.Memory = true
	cfg.Log = slog.New(slog.DiscardHandler)
	cfg.Clock = clock
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Clock() != core.Clock(clock) || s.Registry().Clock() != core.Clock(clock) {
		t.Fatal("the server or its registry runs on another clock")
	}
	if _, exp := s.Tokens().Issue(core.TokenClaims{Registry: s.DefaultRegistry()}); !exp.Equal(start.Add(core.TokenTTL)) {
		t.Errorf("token expiry %v, want the clock's time + %s", exp, core.TokenTTL)
	}
	grant := s.Tokens().Sign(core.LayerGrant{Registry: s.DefaultRegistry(), Repository: "r", Digest: digest.FromString("x")}, time.Minute)
	clock.Advance(time.Minute + time.Second)
	if _, err := s.Tokens().VerifyGrant(grant); err == nil {
		t.Error("a layer URL outlived its TTL on the clock")
	}

	// The janitor arms its next round on the clock while serving, and
	// disarms it at Shutdown.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	deadline := time.Now().Add(10 * time.Second)
	for clock.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the janitor armed no timer on the clock")
		}
		time.Sleep(time.Millisecond)
	}
	ctx := core.WithCaller(context.Background(), core.Caller{Registry: s.DefaultRegistry(), Principal: core.RootPrincipal(s.DefaultRegistry().Account)})
	if _, err := s.Registry().CreateRepository(ctx, s.DefaultRegistry(), "janitor"); err != nil {
		t.Fatal(err)
	}
	up, err := s.Registry().StartUpload(ctx, s.DefaultRegistry(), "janitor")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(uploadMaxAge + uploadSweepEvery)
	if _, err := s.Registry().GetUpload(ctx, s.DefaultRegistry(), "janitor", up.ID); !core.IsKind(err, core.KindUploadNotFound) {
		t.Errorf("an upload idle for %s survived the janitor: %v", uploadMaxAge+uploadSweepEvery, err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := clock.Pending(); n != 0 {
		t.Errorf("%d timers still armed after Shutdown", n)
	}
}

// Domain time in this package comes from the injected clock. The wall clock
// is read only where real time is meant: a request's duration in the access
// log, Shutdown's grace for idle connections, and a request body's read
// deadline (the connection's, which the kernel keeps in real time).
func TestNoWallClockForDomainTime(t *testing.T) {
	allowed := map[string]bool{"accessLog time.Now": true, "accessLog time.Since": true, "Shutdown time.Sleep": true,
		"Read time.Now": true}
	wall := map[string]bool{"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
		"Tick": true, "NewTicker": true, "NewTimer": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "time" && wall[sel.Sel.Name] {
					if use := fn.Name.Name + " time." + sel.Sel.Name; !allowed[use] {
						t.Errorf("%s: %s reads the wall clock; use the server's clock (s.clock)", fset.Position(sel.Pos()), use)
					}
				}
				return true
			})
		}
	}
}
