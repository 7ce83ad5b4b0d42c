package osvdb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// DB is an index of an advisory directory.
type DB struct {
	Dir        string    // the index: meta.json and <PathEscape(ecosystem)>/<PathEscape(name)>.json
	UpdatedAt  time.Time // the newest "modified" of the advisories
	Advisories int       // advisories indexed
	Ecosystems []string  // sorted
	Malformed  int       // files skipped because they are not OSV records
}

// MaxRecordBytes is the largest advisory file read; a bigger one is
// counted as malformed. OSV's largest records are a few hundred KiB.
const MaxRecordBytes = 32 << 20

// format is the index layout's version; a change rebuilds every index.
const format = 1

// meta is meta.json.
type meta struct {
	UpdatedAt   time.Time `json:"updatedAt"`
	Advisories  int       `json:"advisories"`
	Ecosystems  []string  `json:"ecosystems"`
	Malformed   int       `json:"malformed"`
	Source      string    `json:"source"`
	Fingerprint string    `json:"fingerprint"`
	Format      int       `json:"format"`
}

// record is the part of an OSV record the index reads.
type record struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

const (
	indexPrefix = "osv-"
	buildPrefix = ".osv-build-"
	// staleBuild is how old a leftover build directory (of a process that
	// died while building) must be before it is removed.
	staleBuild = time.Hour
	// warnMalformed is how many malformed files are logged one by one
	// before only their count is.
	warnMalformed = 10
)

// Index builds (or reuses, when the source's files, sizes and mtimes are
// unchanged) an index of src under cacheDir and returns it. The index is a
// directory (DB.Dir) laid out as:
//
//	meta.json                       {"updatedAt": RFC3339 (newest "modified" of all advisories),
//	                                 "advisories": N, "ecosystems": [...]}
//	<PathEscape(ecosystem)>/<PathEscape(package name)>.json   a JSON array of the full OSV records
//	                                 affecting that (ecosystem, name), each record verbatim
//
// An ecosystem is the OSV affected[].package.ecosystem string verbatim
// (e.g. "Debian:12", "Alpine:v3.20", "Ubuntu:22.04:LTS"). Malformed files
// are skipped and counted, reported via slog. Files and directories whose
// names start with "." are not read (Fetcher unpacks into such a directory
// before renaming it into place).
func Index(ctx context.Context, src, cacheDir string, log *slog.Logger) (DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	src, err := filepath.Abs(src)
	if err != nil {
		return DB{}, fmt.Errorf("osvdb: %w", err)
	}
	files, fp, err := sourceFiles(src)
	if err != nil {
		return DB{}, fmt.Errorf("osvdb: reading %s: %w", src, err)
	}
	if cacheDir, err = filepath.Abs(cacheDir); err != nil {
		return DB{}, fmt.Errorf("osvdb: %w", err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return DB{}, fmt.Errorf("osvdb: %w", err)
	}
	dir := filepath.Join(cacheDir, indexPrefix+fp[:24])
	if db, ok := reuse(dir, fp); ok {
		log.Debug("osvdb: source unchanged, index reused", "src", src, "index", dir, "advisories", db.Advisories)
		return db, nil
	}

	start := time.Now()
	tmp, err := os.MkdirTemp(cacheDir, buildPrefix)
	if err != nil {
		return DB{}, fmt.Errorf("osvdb: %w", err)
	}
	defer os.RemoveAll(tmp) // gone by then when renamed
	m, err := build(ctx, src, files, tmp, log)
	if err != nil {
		return DB{}, fmt.Errorf("osvdb: indexing %s: %w", src, err)
	}
	m.Source, m.Fingerprint, m.Format = src, fp, format
	if err := writeJSON(filepath.Join(tmp, "meta.json"), m); err != nil {
		return DB{}, fmt.Errorf("osvdb: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another Index of the same source finished first: its index is
		// the same.
		if db, ok := reuse(dir, fp); ok {
			return db, nil
		}
		// What is there is not a complete index (its meta.json was
		// removed, say): replace it.
		os.RemoveAll(dir)
		if err := os.Rename(tmp, dir); err != nil {
			return DB{}, fmt.Errorf("osvdb: %w", err)
		}
	}
	prune(cacheDir, dir)
	log.Info("osvdb: advisory index built", "src", src, "index", dir, "advisories", m.Advisories,
		"ecosystems", m.Ecosystems, "malformed", m.Malformed, "updatedAt", m.UpdatedAt, "took", time.Since(start).Round(time.Millisecond))
	return dbOf(dir, m), nil
}

func dbOf(dir string, m meta) DB {
	return DB{Dir: dir, UpdatedAt: m.UpdatedAt, Advisories: m.Advisories, Ecosystems: m.Ecosystems, Malformed: m.Malformed}
}

// reuse returns the index at dir if it is complete and of this source.
func reuse(dir, fp string) (DB, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return DB{}, false
	}
	var m meta
	if json.Unmarshal(b, &m) != nil || m.Fingerprint != fp || m.Format != format {
		return DB{}, false
	}
	return dbOf(dir, m), true
}

// sourceFiles lists src's advisory files (in lexical order) and
// fingerprints them: their names, sizes and modification times, the
// layout's version and src itself.
func sourceFiles(src string) ([]string, string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "osvdb format %d\n%s\n", format, src)
	var files []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != src && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		info, err := os.Stat(p) // follows a symlink to a file
		if err != nil || !info.Mode().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", rel, info.Size(), info.ModTime().UnixNano())
		files = append(files, p)
		return nil
	})
	return files, hex.EncodeToString(h.Sum(nil)), err
}

// build indexes files into dir.
func build(ctx context.Context, src string, files []string, dir string, log *slog.Logger) (meta, error) {
	var m meta
	out := newPackageFiles(dir)
	ecosystems := map[string]bool{}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return meta{}, err
		}
		raw, rec, err := readRecord(f)
		if err != nil {
			m.Malformed++
			if m.Malformed <= warnMalformed {
				rel, _ := filepath.Rel(src, f)
				log.Warn("osvdb: skipping a file that is not an OSV record", "file", rel, "error", err)
			}
			continue
		}
		m.Advisories++
		if rec.Modified.After(m.UpdatedAt) {
			m.UpdatedAt = rec.Modified
		}
		seen := map[[2]string]bool{}
		for _, a := range rec.Affected {
			key := [2]string{a.Package.Ecosystem, a.Package.Name}
			if seen[key] {
				continue
			}
			seen[key] = true
			ok, err := out.add(key[0], key[1], raw)
			if err != nil {
				return meta{}, err
			}
			if !ok {
				log.Warn("osvdb: skipping a package name that cannot be a file name", "id", rec.ID, "ecosystem", key[0], "name", key[1])
				continue
			}
			ecosystems[key[0]] = true
		}
	}
	if m.Malformed > warnMalformed {
		log.Warn("osvdb: more files that are not OSV records skipped", "malformed", m.Malformed)
	}
	if err := out.flush(true); err != nil {
		return meta{}, err
	}
	m.Ecosystems = append([]string{}, slices.Sorted(maps.Keys(ecosystems))...)
	return m, nil
}

// readRecord reads one advisory file: its bytes, trimmed, and the fields
// the index needs. A file is an OSV record if it is a JSON object with an
// id and an RFC 3339 modified time (both required by the OSV schema).
func readRecord(file string) ([]byte, record, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, record{}, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxRecordBytes+1))
	if err != nil {
		return nil, record{}, err
	}
	if len(raw) > MaxRecordBytes {
		return nil, record{}, fmt.Errorf("larger than %d bytes", MaxRecordBytes)
	}
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, record{}, err
	}
	if rec.ID == "" {
		return nil, record{}, errors.New(`no "id"`)
	}
	if rec.Modified.IsZero() {
		return nil, record{}, errors.New(`no "modified"`)
	}
	return bytes.TrimSpace(raw), rec, nil
}

// packageFiles appends records to the per-package JSON arrays. Records
// wait in memory, up to flushBytes in all, and are then appended to their
// files, so indexing holds neither all the records nor many open files,
// and opens each package's file once per flush instead of once per record
// (file system calls are most of an index's cost).
type packageFiles struct {
	dir     string
	pending map[string]*bytes.Buffer
	held    int             // bytes pending
	started map[string]bool // files with their "[" written or pending
	dirs    map[string]bool
}

// flushBytes bounds the records held before they are written (a variable
// so tests can flush after every record).
var flushBytes = 32 << 20

func newPackageFiles(dir string) *packageFiles {
	return &packageFiles{dir: dir, pending: map[string]*bytes.Buffer{}, started: map[string]bool{}, dirs: map[string]bool{}}
}

// fileName is where the records of (ecosystem, name) go, or "" when either
// cannot name a file: empty, "." or "..", the meta file, or too long.
func fileName(ecosystem, name string) string {
	e, n := url.PathEscape(ecosystem), url.PathEscape(name)+".json"
	if e == "" || e == "." || e == ".." || e == "meta.json" || name == "" || len(e) > 255 || len(n) > 255 {
		return ""
	}
	return filepath.Join(e, n)
}

func (p *packageFiles) add(ecosystem, name string, raw []byte) (bool, error) {
	rel := fileName(ecosystem, name)
	if rel == "" {
		return false, nil
	}
	buf := p.pending[rel]
	if buf == nil {
		buf = &bytes.Buffer{}
		p.pending[rel] = buf
	}
	if p.started[rel] {
		buf.WriteString(",\n")
	} else {
		buf.WriteString("[\n")
		p.started[rel] = true
	}
	buf.Write(raw)
	p.held += len(raw) + 2
	if p.held > flushBytes {
		return true, p.flush(false)
	}
	return true, nil
}

// flush appends the pending records to their files; the final flush
// closes every array.
func (p *packageFiles) flush(final bool) error {
	write := func(rel string, buf *bytes.Buffer) error {
		if d := filepath.Dir(rel); !p.dirs[d] {
			if err := os.Mkdir(filepath.Join(p.dir, d), 0o755); err != nil {
				return err
			}
			p.dirs[d] = true
		}
		f, err := os.OpenFile(filepath.Join(p.dir, rel), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		if final {
			buf.WriteString("\n]\n")
		}
		_, err = f.Write(buf.Bytes())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if final {
		for rel := range p.started {
			if p.pending[rel] == nil {
				p.pending[rel] = &bytes.Buffer{}
			}
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(p.pending)) {
		if err := write(rel, p.pending[rel]); err != nil {
			return err
		}
	}
	clear(p.pending)
	p.held = 0
	return nil
}

func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}

// prune removes indexes other than current and the newest one before it
// (a scan that started before the rebuild may still be reading that one),
// and build directories a crashed process left behind.
func prune(cacheDir, current string) {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return
	}
	type old struct {
		path string
		mod  time.Time
	}
	var olds []old
	for _, e := range entries {
		p := filepath.Join(cacheDir, e.Name())
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		switch {
		case strings.HasPrefix(e.Name(), buildPrefix) && time.Since(info.ModTime()) > staleBuild:
			os.RemoveAll(p)
		case strings.HasPrefix(e.Name(), indexPrefix) && p != current:
			olds = append(olds, old{p, info.ModTime()})
		}
	}
	sort.Slice(olds, func(i, j int) bool { return olds[i].mod.After(olds[j].mod) })
	for i, o := range olds {
		if i > 0 {
			os.RemoveAll(o.path)
		}
	}
}
