package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/scanners"
	"github.com/berth-dev/berth/plugins/sdk"
	"github.com/berth-dev/berth/scanning"
	"github.com/berth-dev/berth/scanning/osvdb"
)

// DefaultScanWorkers is --scan-workers' default: scans at once.
const DefaultScanWorkers = 2

// scanQuiet is how long pushes and uploads must pause before a scan starts
// (for at most 50 times as long): a burst of pushes keeps the CPU.
const scanQuiet = 200 * time.Millisecond

// startScanning builds the scanning service and subscribes scan on push.
// No plugin is compiled before berth answers: the built-in scanners compile
// when a scan first needs them (once per process and compilation cache, as
// the built-in verifier does, so that a test process's servers share them);
// --plugins-dir's manifests are read and checked now (a plugin whose
// manifest or module is missing or wrong is reported and skipped), and its
// modules compile in the background on a host of this server's (one that
// fails is reported, and scans skip it). A plugin there named like a
// built-in replaces it.
func (s *Server) startScanning(ctx context.Context) error {
	cfg := s.cfg
	cacheDir := ""
	if !cfg.Memory {
		// Compiled plugins are kept, so that the next start loads them in
		// milliseconds; --memory keeps nothing on disk, and compiles once per
		// process instead.
		cacheDir = filepath.Join(cfg.DataDir, "plugin-cache")
	}
	var all []scanning.Scanner
	for _, b := range scanners.Builtins() {
		lp, err := builtinScanner(cacheDir, b)
		if err != nil {
			return fmt.Errorf("built-in scanner: %w", err) // a broken build, not a user's mistake
		}
		all = append(all, scanning.Scanner{Name: lp.manifest.Name, Paths: lp.manifest.Paths, Plugin: lp})
	}
	if cfg.PluginsDir != "" {
		found, failed, err := readPluginDir(cfg.PluginsDir)
		if err != nil {
			return fmt.Errorf("--plugins-dir: %w", err)
		}
		for _, f := range failed {
			s.log.Error("plugin not loaded", "file", f.File, "err", f.Err)
		}
		if len(found) > 0 {
			if s.plugins, err = plugins.NewHost(ctx, plugins.Config{CacheDir: cacheDir, Logger: s.log}); err != nil {
				return err
			}
		}
		for _, p := range found {
			if p.manifest.Kind != plugins.KindScanner {
				continue // verifiers are not scanning's
			}
			host := s.plugins
			lp := &lazyPlugin{manifest: p.manifest, host: func() (*plugins.Host, error) { return host, nil },
				module: func() ([]byte, error) { return os.ReadFile(p.wasm) }}
			s.warm(lp, p.wasm)
			sc := scanning.Scanner{Name: p.manifest.Name, Paths: p.manifest.Paths, Plugin: lp}
			if i := indexOf(all, sc.Name); i >= 0 {
				s.log.Info("plugin replaces the built-in scanner of its name", "plugin", sc.Name)
				all[i] = sc
				continue
			}
			all = append(all, sc)
		}
	}
	var names []string
	for _, sc := range all {
		names = append(names, sc.Name)
	}
	sel := scanning.Selection{}
	var err error
	if cfg.ScanConfig != "" {
		if sel, err = scanning.LoadSelection(cfg.ScanConfig, names); err != nil {
			return fmt.Errorf("--scan-config: %w", err)
		}
	}
	var db *scanning.AdvisoryDB
	if cfg.ScanDB != "" {
		cache := filepath.Join(cfg.DataDir, "scan-db")
		if cfg.Memory {
			if cache, err = os.MkdirTemp("", "berth-scan-db-"); err != nil {
				return err
			}
			s.scanTemp = cache
		}
		idx, err := osvdb.Index(ctx, cfg.ScanDB, cache, s.log)
		if err != nil {
			return fmt.Errorf("--scan-db: %w", err)
		}
		db = &scanning.AdvisoryDB{Dir: idx.Dir, UpdatedAt: idx.UpdatedAt}
		s.log.Info("advisory database", "advisories", idx.Advisories, "ecosystems", idx.Ecosystems, "updated", idx.UpdatedAt)
	}
	workers := cfg.ScanWorkers
	if workers <= 0 {
		workers = DefaultScanWorkers
	}
	quiet := scanQuiet
	if cfg.Clock != nil {
		// A test's clock moves when the test moves it: a scan waiting for
		// pushes to pause would wait for that.
		quiet = 0
	}
	s.scanning = scanning.New(s.registry, scanning.Config{Scanners: all, Selection: sel, DB: db, Quota: cfg.ScanQuota,
		Workers: workers, Quiet: quiet, Clock: s.clock, Log: s.log})
	s.scanning.Subscribe(s.registry.Bus())
	return nil
}

// stopScanning stops the scans in flight and the compilations under way,
// then closes the plugins.
func (s *Server) stopScanning() error {
	var err error
	if s.scanning != nil {
		s.scanning.Close()
	}
	s.warming.Wait()
	if s.plugins != nil {
		err = s.plugins.Close(context.Background())
	}
	if s.scanTemp != "" {
		err = errors.Join(err, os.RemoveAll(s.scanTemp))
	}
	return err
}

func indexOf(scs []scanning.Scanner, name string) int {
	for i, sc := range scs {
		if sc.Name == name {
			return i
		}
	}
	return -1
}

// builtinScanners holds the built-in scanners, each compiled once per
// process and compilation cache directory ("" under --memory) on a host that
// lives as long as the process.
var builtinScanners struct {
	sync.Mutex
	hosts   map[string]*sharedHost
	plugins map[string]*lazyPlugin // cache dir, NUL, name
}

type sharedHost struct {
	once sync.Once
	host *plugins.Host
	err  error
}

func (h *sharedHost) get(cacheDir string) (*plugins.Host, error) {
	h.once.Do(func() { h.host, h.err = plugins.NewHost(context.Background(), plugins.Config{CacheDir: cacheDir}) })
	return h.host, h.err
}

func builtinScanner(cacheDir string, b scanners.Builtin) (*lazyPlugin, error) {
	m, err := parseManifest(b.Manifest)
	if err != nil {
		return nil, err
	}
	bs := &builtinScanners
	bs.Lock()
	defer bs.Unlock()
	if bs.hosts == nil {
		bs.hosts, bs.plugins = map[string]*sharedHost{}, map[string]*lazyPlugin{}
	}
	key := cacheDir + "\x00" + m.Name
	if lp := bs.plugins[key]; lp != nil {
		return lp, nil
	}
	h := bs.hosts[cacheDir]
	if h == nil {
		h = &sharedHost{}
		bs.hosts[cacheDir] = h
	}
	lp := &lazyPlugin{manifest: m, host: func() (*plugins.Host, error) { return h.get(cacheDir) },
		module: func() ([]byte, error) { return b.Wasm, nil }}
	bs.plugins[key] = lp
	return lp, nil
}

// warm compiles a plugin in the background now, so that a module that does
// not compile is reported at start and the first scan does not wait.
func (s *Server) warm(lp *lazyPlugin, file string) {
	s.warming.Add(1)
	go func() {
		defer s.warming.Done()
		start := s.clock.Now()
		if err := lp.load(); err != nil {
			s.log.Error("plugin not loaded; scans go on without it", "file", file, "err", err)
			return
		}
		s.log.Info("plugin loaded", "plugin", lp.manifest.Name, "kind", lp.manifest.Kind, "version", lp.manifest.Version, "took", s.clock.Now().Sub(start).Round(time.Millisecond))
	}()
}

// lazyPlugin is a plugin compiled on its first call, or by warm.
type lazyPlugin struct {
	manifest plugins.Manifest
	host     func() (*plugins.Host, error)
	module   func() ([]byte, error)

	once   sync.Once
	plugin *plugins.Plugin
	err    error
}

func (l *lazyPlugin) load() error {
	l.once.Do(func() {
		host, err := l.host()
		var wasm []byte
		if err == nil {
			wasm, err = l.module()
		}
		if err == nil {
			l.plugin, err = host.Load(context.Background(), l.manifest, wasm)
		}
		l.err = err
	})
	return l.err
}

// Call loads the plugin if it is not yet, and calls it. A plugin that does
// not load is unavailable to scans, which skip it.
func (l *lazyPlugin) Call(ctx context.Context, input any, mounts ...plugins.Mount) (sdk.Response, error) {
	if err := l.load(); err != nil {
		return sdk.Response{}, fmt.Errorf("plugin %s could not be loaded (%v): %w", l.manifest.Name, err, scanning.ErrScannerUnavailable)
	}
	return l.plugin.Call(ctx, input, mounts...)
}

func parseManifest(b []byte) (plugins.Manifest, error) {
	var m plugins.Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt field would otherwise load as empty
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("parsing manifest: %w", err)
	}
	return m, m.Validate()
}

// dirPlugin is a plugin of --plugins-dir whose manifest is good.
type dirPlugin struct {
	manifest plugins.Manifest
	wasm     string
}

// readPluginDir reads the manifests of a plugins directory by the rules of
// plugins.Host.LoadDir (NAME.wasm beside NAME.json, the manifest naming
// NAME, no unknown fields, valid), without compiling anything.
func readPluginDir(dir string) ([]dirPlugin, []plugins.LoadError, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading plugins directory: %w", err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			have[e.Name()] = true
		}
	}
	var found []dirPlugin
	var failed []plugins.LoadError
	for file := range have {
		name, isWasm := strings.CutSuffix(file, ".wasm")
		if stem, isJSON := strings.CutSuffix(file, ".json"); isJSON && !have[stem+".wasm"] {
			failed = append(failed, plugins.LoadError{File: filepath.Join(dir, file), Err: fmt.Errorf("manifest without a module: no %s.wasm", stem)})
		}
		if !isWasm {
			continue
		}
		wasm, manifestFile := filepath.Join(dir, file), filepath.Join(dir, name+".json")
		b, err := os.ReadFile(manifestFile)
		if err != nil {
			failed = append(failed, plugins.LoadError{File: wasm, Err: fmt.Errorf("reading its manifest: %w", err)})
			continue
		}
		m, err := parseManifest(b)
		if err == nil && m.Name != name {
			err = fmt.Errorf("manifest names the plugin %q, its file %q", m.Name, name)
		}
		if err != nil {
			failed = append(failed, plugins.LoadError{File: manifestFile, Err: err})
			continue
		}
		found = append(found, dirPlugin{manifest: m, wasm: wasm})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].manifest.Name < found[j].manifest.Name })
	sort.Slice(failed, func(i, j int) bool { return failed[i].File < failed[j].File })
	return found, failed, nil
}
