// Package scan is the OS-package scanner: it identifies the distribution of an extracted
// image root, reads its package database, looks each source package up in an OSV advisory
// index and reports the findings in ECR's basic-scan shape (plugins/ABI.md, "Scanner kind").
//
// It works on fs.FS values so that it runs the same natively in tests and inside the plugin,
// where the host mounts the image at /rootfs and the index at /db.
package scan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/berth-dev/berth/plugins/scanners/ospkg/internal/apk"
	"github.com/berth-dev/berth/plugins/scanners/ospkg/internal/dpkg"
	"github.com/berth-dev/berth/plugins/scanners/ospkg/internal/osrelease"
	"github.com/berth-dev/berth/plugins/scanners/ospkg/internal/osv"
)

// Paths are the image paths the scanner reads; its manifest (ospkg.json) declares exactly
// these, so the host extracts nothing else.
var Paths = []string{
	"etc/os-release",
	"usr/lib/os-release",
	"var/lib/dpkg/status",
	"var/lib/dpkg/status.d/*",
	"lib/apk/db/installed",
}

const (
	dpkgStatus    = "var/lib/dpkg/status"
	dpkgStatusDir = "var/lib/dpkg/status.d"
	apkInstalled  = "lib/apk/db/installed"
)

// Scan statuses, as ECR names them.
const (
	StatusComplete    = "COMPLETE"
	StatusUnsupported = "UNSUPPORTED_IMAGE"
)

// Descriptions of a scan's status.
const (
	// DescriptionComplete is ECR's description of a completed scan (the AWS CLI reference's
	// describe-images example shows it in imageScanStatus).
	DescriptionComplete = "The scan was completed successfully."
	// DescriptionUnsupported is ECR's description of an image whose distribution or package
	// database it does not know (as AWS reports it, e.g. aws-observability/aws-otel-collector
	// issue 2193, aws/containers-roadmap issues 970 and 2644).
	DescriptionUnsupported = "UnsupportedImageError: The operating system and/or package manager are not supported."
)

// Input is the request input of the scanner kind.
type Input struct {
	// Image identifies the scanned image; the scanner only passes it through to its log.
	Image json.RawMessage `json:"image,omitempty"`
	// Rootfs is where the host mounted the image's extracted paths.
	Rootfs string `json:"rootfs"`
	// DB is where the host mounted the advisory index; empty when none is configured.
	DB string `json:"db"`
}

// Output is the response output of the scanner kind.
type Output struct {
	Status      string    `json:"status"`
	Description string    `json:"description"`
	OS          *OS       `json:"os,omitempty"`
	Packages    int       `json:"packages"`
	Findings    []Finding `json:"findings"`
}

// OS is the recognised distribution.
type OS struct {
	ID        string `json:"id"`
	VersionID string `json:"versionId"`
	Ecosystem string `json:"ecosystem"`
}

// Finding is one advisory affecting one installed (source) package, in ECR's shape.
type Finding struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	URI         string      `json:"uri,omitempty"`
	Severity    string      `json:"severity"`
	Attributes  []Attribute `json:"attributes"`
}

// Attribute is a key and value of a finding.
type Attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Meta is the advisory index's meta.json.
type Meta struct {
	UpdatedAt  string   `json:"updatedAt"`
	Advisories int      `json:"advisories"`
	Ecosystems []string `json:"ecosystems"`
}

// Scanner scans one image at a time.
type Scanner struct {
	// Log receives warnings (an advisory that does not parse, a vector that does not either);
	// the plugin's stderr, which the host forwards to its log.
	Log io.Writer

	scores map[string]*score // parsed vectors, nil for a vector that does not parse
}

// unsupported is the answer for an image this scanner cannot read.
func unsupported(os *OS) Output {
	return Output{Status: StatusUnsupported, Description: DescriptionUnsupported, OS: os, Findings: []Finding{}}
}

// Scan scans the image root against the advisory index db, nil when no database is
// configured. An error means the scan could not be done (an unreadable file, a database that
// is not an index); an image this scanner does not support is an Output, not an error.
func (s *Scanner) Scan(rootfs, db fs.FS) (Output, error) {
	release, err := osrelease.Read(rootfs)
	if errors.Is(err, fs.ErrNotExist) {
		return unsupported(nil), nil
	}
	if err != nil {
		s.logf("os-release is unreadable, so the distribution is unknown: %v", err)
		return unsupported(nil), nil
	}
	distro, ok := release.Distro()
	if !ok {
		s.logf("distribution %q version %q is not one this scanner knows", release.ID, release.VersionID)
		return unsupported(nil), nil
	}
	osInfo := &OS{ID: distro.ID, VersionID: distro.VersionID, Ecosystem: distro.Ecosystem}

	pkgs, found, err := readPackages(rootfs, distro.PackageManager)
	if err != nil {
		return Output{}, err
	}
	if !found {
		s.logf("%s image without its %s database", distro.Ecosystem, distro.PackageManager)
		return unsupported(osInfo), nil
	}
	out := Output{Status: StatusComplete, OS: osInfo, Packages: len(pkgs), Findings: []Finding{}}
	if db == nil {
		out.Description = fmt.Sprintf("No advisory database is configured; %d packages were read but not checked.", len(pkgs))
		return out, nil
	}
	meta, err := readMeta(db)
	if err != nil {
		return Output{}, err
	}
	if len(meta.Ecosystems) > 0 && !slices.Contains(meta.Ecosystems, distro.Ecosystem) {
		out.Description = fmt.Sprintf("The advisory database has no advisories for %s; %d packages were read but not checked.", distro.Ecosystem, len(pkgs))
		return out, nil
	}
	cmp := dpkg.Compare
	if distro.PackageManager == osrelease.Apk {
		cmp = apk.Compare
	}
	findings, err := s.match(db, distro.Ecosystem, pkgs, cmp)
	if err != nil {
		return Output{}, err
	}
	out.Description = DescriptionComplete
	out.Findings = findings
	return out, nil
}

func (s *Scanner) logf(format string, args ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, "ospkg: "+format+"\n", args...)
	}
}

// source is an installed source package at one version: what advisories are filed against.
type source struct {
	Name, Version string
}

// readPackages reads the package manager's database: the installed packages as their source
// packages (one entry per binary package, for the count), and whether a database exists.
func readPackages(rootfs fs.FS, pm osrelease.PackageManager) ([]source, bool, error) {
	switch pm {
	case osrelease.Dpkg:
		return readDpkg(rootfs)
	case osrelease.Apk:
		f, err := rootfs.Open(apkInstalled)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		defer f.Close()
		pkgs, err := apk.ParseInstalled(f)
		if err != nil {
			return nil, true, fmt.Errorf("reading %s: %w", apkInstalled, err)
		}
		out := make([]source, len(pkgs))
		for i, p := range pkgs {
			out[i] = source{Name: p.Origin, Version: p.Version}
		}
		return out, true, nil
	}
	return nil, false, nil
}

// readDpkg reads var/lib/dpkg/status and, as distroless images keep one file per package,
// every file of var/lib/dpkg/status.d but their .md5sums lists.
func readDpkg(rootfs fs.FS) ([]source, bool, error) {
	type file struct {
		name           string
		statusOptional bool
	}
	var files []file
	if _, err := fs.Stat(rootfs, dpkgStatus); err == nil {
		files = append(files, file{dpkgStatus, false})
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	entries, err := fs.ReadDir(rootfs, dpkgStatusDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".md5sums") {
			continue
		}
		files = append(files, file{path.Join(dpkgStatusDir, e.Name()), true})
	}
	if len(files) == 0 {
		return nil, false, nil
	}
	var out []source
	seen := map[dpkg.Package]bool{}
	for _, f := range files {
		r, err := rootfs.Open(f.name)
		if err != nil {
			return nil, true, err
		}
		pkgs, err := dpkg.ParseStatus(r, f.statusOptional)
		r.Close()
		if err != nil {
			return nil, true, fmt.Errorf("reading %s: %w", f.name, err)
		}
		for _, p := range pkgs {
			// An image may carry both layouts listing the same package.
			if seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, source{Name: p.Source, Version: p.SourceVersion})
		}
	}
	return out, true, nil
}

func readMeta(db fs.FS) (Meta, error) {
	data, err := fs.ReadFile(db, "meta.json")
	if err != nil {
		return Meta{}, fmt.Errorf("the advisory database is not an index (no meta.json): %w", err)
	}
	var meta Meta
	if err := json.Unmarshal(data, &meta); err != nil {
		return Meta{}, fmt.Errorf("the advisory database's meta.json: %w", err)
	}
	return meta, nil
}

// AdvisoryPath is where the index keeps the records about one package of one ecosystem.
func AdvisoryPath(ecosystem, name string) string {
	return url.PathEscape(ecosystem) + "/" + url.PathEscape(name) + ".json"
}

// advisoryFile reads the index's file of records filed against one source package; nil
// when there is none.
func (s *Scanner) advisoryFile(db fs.FS, ecosystem, name string) ([]byte, string, error) {
	p := AdvisoryPath(ecosystem, name)
	if !fs.ValidPath(p) {
		s.logf("package name %q makes no valid index path; not checked", name)
		return nil, p, nil
	}
	data, err := fs.ReadFile(db, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, p, nil
	}
	return data, p, err
}

// match finds the advisories affecting each installed source package.
func (s *Scanner) match(db fs.FS, ecosystem string, pkgs []source, cmp osv.Compare) ([]Finding, error) {
	versions := map[string][]string{} // source name -> its installed versions
	for _, p := range pkgs {
		if !slices.Contains(versions[p.Name], p.Version) {
			versions[p.Name] = append(versions[p.Name], p.Version)
		}
	}
	names := make([]string, 0, len(versions))
	for name := range versions {
		names = append(names, name)
	}
	slices.Sort(names)

	var cands []candidate
	// One finding per advisory name and installed package (name and version): a DSA and the
	// DEBIAN-CVE record of its CVE are one finding. Keyed by advisory name for one package
	// and version at a time, the map hashes one string per lookup where a key of all three
	// would hash three, each a few calls in the sandbox.
	best := map[string]int{} // index in cands
	for _, name := range names {
		data, p, err := s.advisoryFile(db, ecosystem, name)
		if err != nil {
			return nil, err
		}
		if data == nil {
			continue
		}
		// A record that does not parse is skipped with a warning, so that one odd advisory
		// does not hide the others.
		matches, err := osv.Matches(data, ecosystem, name, versions[name], cmp, func(i int, err error) {
			s.logf("skipping record %d of %s: %v", i, p, err)
		})
		if err != nil {
			return nil, fmt.Errorf("advisory index file %s is not a JSON array of records: %w", p, err)
		}
		if len(matches) == 0 {
			continue
		}
		vs := versions[name]
		for _, v := range vs {
			clear(best)
			for i := range matches {
				m := &matches[i]
				if len(vs) > 1 && m.Version != v {
					continue
				}
				c := s.candidate(&m.Record, &m.Affected, name, m.Version)
				if j, ok := best[c.finding.Name]; !ok {
					best[c.finding.Name] = len(cands)
					cands = append(cands, c)
				} else if c.better(cands[j]) {
					cands[j] = c
				}
			}
		}
	}
	order := make([]*candidate, len(cands))
	for i := range cands {
		order[i] = &cands[i]
	}
	slices.SortFunc(order, func(a, b *candidate) int {
		if c := b.rank - a.rank; c != 0 {
			return c
		}
		if c := strings.Compare(a.finding.Name, b.finding.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.pkg, b.pkg); c != 0 {
			return c
		}
		return strings.Compare(a.version, b.version)
	})
	findings := make([]Finding, len(order))
	for i, c := range order {
		findings[i] = c.finding
	}
	return findings, nil
}
