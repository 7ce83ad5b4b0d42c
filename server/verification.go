package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/sdk"
	"github.com/berth-dev/berth/plugins/verifiers"
	"github.com/berth-dev/berth/verify"
)

// builtinVerifiers holds the built-in verifier compiled once per process and compilation
// cache directory ("" under --memory): servers of one process (tests) share it, and the
// compilation, seconds for a module of several megabytes, happens once.
var builtinVerifiers struct {
	sync.Mutex
	byCache map[string]*lazyVerifier
}

// lazyVerifier compiles the built-in verifier on first use, so that a berth without
// verification rules never pays for it.
type lazyVerifier struct {
	cacheDir string
	once     sync.Once
	plugin   *plugins.Plugin
	err      error
}

func builtinVerifier(cacheDir string) *lazyVerifier {
	builtinVerifiers.Lock()
	defer builtinVerifiers.Unlock()
	if builtinVerifiers.byCache == nil {
		builtinVerifiers.byCache = map[string]*lazyVerifier{}
	}
	lv := builtinVerifiers.byCache[cacheDir]
	if lv == nil {
		lv = &lazyVerifier{cacheDir: cacheDir}
		builtinVerifiers.byCache[cacheDir] = lv
	}
	return lv
}

func (l *lazyVerifier) load() (*plugins.Plugin, error) {
	l.once.Do(func() {
		ctx := context.Background()
		// A verification is a few signatures: a minute and 256 MiB are a scanner's bounds.
		h, err := plugins.NewHost(ctx, plugins.Config{CacheDir: l.cacheDir, Limits: plugins.Limits{CallTimeout: 10 * time.Second}})
		if err != nil {
			l.err = err
			return
		}
		if l.plugin, l.err = verifiers.Load(ctx, h); l.err == nil {
			// A decision waits for its call: one instance started ahead takes the sandbox's
			// start-up off that wait.
			l.plugin.Warm(1)
		}
	})
	return l.plugin, l.err
}

func (l *lazyVerifier) Call(ctx context.Context, input any, mounts ...plugins.Mount) (sdk.Response, error) {
	p, err := l.load()
	if err != nil {
		return sdk.Response{}, fmt.Errorf("loading the built-in verifier: %w", err)
	}
	return p.Call(ctx, input, mounts...)
}

// startVerification hooks the verification policy into the registry: the one Restore chooses
// between --verify-config and the policy a PUT stored (verify.Service.Restore says how). With
// rules, the verifier compiles in the background so that the first tag move does not wait for
// it.
func (s *Server) startVerification() error {
	builtin := builtinVerifier(s.verifierCacheDir())
	s.verification = verify.New(verify.Options{Registry: s.registry, Store: s.registry, Clock: s.clock, Log: s.log,
		Verifiers: map[string]verify.Plugin{verify.DefaultVerifier: builtin}})
	fail := func(err error) error {
		if s.verifierHost != nil {
			err = errors.Join(err, s.verifierHost.Close(context.Background()))
		}
		return err
	}
	var file *verify.Config
	if s.cfg.VerifyConfig != "" {
		c, err := verify.LoadConfig(s.cfg.VerifyConfig)
		if err != nil {
			return fmt.Errorf("--verify-config: %w", err)
		}
		if c.PluginsDir != "" {
			if err := s.loadVerifiers(c.PluginsDir); err != nil {
				return fmt.Errorf("--verify-config: %w", err)
			}
		}
		if err := s.verification.Validate(c); err != nil {
			return fail(fmt.Errorf("--verify-config: %w", err))
		}
		file = &c
	}
	if err := s.verification.Restore(context.Background(), file); err != nil {
		return fail(err)
	}
	if len(s.verification.Config().Rules) > 0 {
		go builtin.load()
	}
	s.verification.Attach(s.registry.Bus())
	return nil
}

// getVerification answers GET /_berth/verification: the policy in force.
func (s *Server) getVerification(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.verification.Config())
}

// putVerification answers PUT /_berth/verification: a policy (YAML or JSON, keys inline)
// replaces the one in force and is stored first, so that it outlives a restart (until the
// --verify-config file changes); an invalid one changes nothing.
func (s *Server) putVerification(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		adminError(w, http.StatusBadRequest, "reading the policy: "+err.Error())
		return
	}
	if len(body) > 1<<20 {
		adminError(w, http.StatusRequestEntityTooLarge, "a verification policy is at most 1 MiB")
		return
	}
	c, err := verify.ParseConfig(body, "")
	if err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.verification.Put(r.Context(), c); err != nil {
		status := http.StatusInternalServerError // the store failed: the policy is not in force
		if invalid := (*verify.InvalidPolicyError)(nil); errors.As(err, &invalid) {
			status = http.StatusBadRequest
		} else {
			s.log.Error("PUT /_berth/verification", "err", err)
		}
		adminError(w, status, err.Error())
		return
	}
	if len(c.Rules) > 0 {
		go builtinVerifier(s.verifierCacheDir()).load()
	}
	writeJSON(w, s.verification.Config())
}

func (s *Server) verifierCacheDir() string {
	if s.cfg.Memory {
		return ""
	}
	return filepath.Join(s.cfg.DataDir, "plugin-cache")
}

// decisionsWithVerifications is the authorizer's decisions and the verification policy's,
// in one list by time: both have time, principal, action, resource, effect and reason.
func decisionsWithVerifications(authz, verifications any) []json.RawMessage {
	type timed struct {
		t   time.Time
		raw json.RawMessage
	}
	var all []timed
	for _, list := range []any{authz, verifications} {
		b, _ := json.Marshal(list)
		var items []json.RawMessage
		_ = json.Unmarshal(b, &items)
		for _, it := range items {
			var head struct {
				Time time.Time `json:"time"`
			}
			_ = json.Unmarshal(it, &head)
			all = append(all, timed{head.Time, it})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].t.Before(all[j].t) })
	out := make([]json.RawMessage, 0, len(all))
	for _, a := range all {
		out = append(out, a.raw)
	}
	return out
}

// loadVerifiers loads the user's verifier plugins; one that fails to load is reported and
// skipped, as --plugins-dir does for scanners, and a policy naming it is then refused.
func (s *Server) loadVerifiers(dir string) error {
	ctx := context.Background()
	h, err := plugins.NewHost(ctx, plugins.Config{CacheDir: s.verifierCacheDir(), Logger: s.log,
		Limits: plugins.Limits{CallTimeout: 10 * time.Second}})
	if err != nil {
		return err
	}
	loaded, failed, err := h.LoadDir(ctx, dir)
	if err != nil {
		return errors.Join(err, h.Close(ctx))
	}
	for _, f := range failed {
		s.log.Error("verifier plugin not loaded", "file", f.File, "err", f.Err)
	}
	for _, p := range loaded {
		if m := p.Manifest(); m.Kind == plugins.KindVerifier {
			p.Warm(1)
			s.verification.AddVerifier(m.Name, p)
			s.log.Info("verifier plugin loaded", "plugin", m.Name, "version", m.Version)
		}
	}
	s.verifierHost = h
	return nil
}
