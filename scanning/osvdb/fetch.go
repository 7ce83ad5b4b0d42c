package osvdb

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

// DefaultSource is OSV's public export bucket: <source>/<ecosystem>/all.zip,
// one per main ecosystem (Debian, Alpine, Ubuntu, npm…)
// (https://google.github.io/osv.dev/data/#data-dumps).
const DefaultSource = "https://osv-vulnerabilities.storage.googleapis.com"

// Fetcher downloads OSV's per-ecosystem exports into an advisory directory
// that Index reads.
type Fetcher struct {
	Client   *http.Client // nil: one that waits at most 60 s for response headers
	Source   string       // "": DefaultSource
	MaxZip   int64        // bytes of one all.zip; 0: 4 GiB (npm's is about 210 MB)
	MaxFile  int64        // bytes of one unpacked advisory; 0: MaxRecordBytes
	MaxTotal int64        // bytes unpacked from one all.zip; 0: 32 GiB
	MaxFiles int          // advisories in one all.zip; 0: 4,000,000
}

// Fetched is one ecosystem's download.
type Fetched struct {
	Ecosystem string
	Dir       string // <dir>/<ecosystem>
	URL       string
	Files     int   // advisories unpacked (kept)
	Skipped   int   // advisories of the zip left out: none of their packages is in Ecosystem
	Bytes     int64 // size of the kept ones
	ZipBytes  int64 // the download's size
}

// ErrLimit is a download or an unpacked archive past one of Fetcher's
// limits.
var ErrLimit = errors.New("over the fetch limit")

func (f Fetcher) defaults() Fetcher {
	if f.Client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 60 * time.Second
		f.Client = &http.Client{Transport: t}
	}
	if f.Source == "" {
		f.Source = DefaultSource
	}
	if f.MaxZip == 0 {
		f.MaxZip = 4 << 30
	}
	if f.MaxFile == 0 {
		f.MaxFile = MaxRecordBytes
	}
	if f.MaxTotal == 0 {
		f.MaxTotal = 32 << 30
	}
	if f.MaxFiles == 0 {
		f.MaxFiles = 4_000_000
	}
	return f
}

// CheckEcosystem refuses an ecosystem name that cannot be a directory of
// its own under the advisory directory.
func CheckEcosystem(ecosystem string) error {
	switch {
	case ecosystem == "":
		return errors.New("an ecosystem name is empty")
	case ecosystem == "." || ecosystem == ".." || strings.HasPrefix(ecosystem, "."):
		return fmt.Errorf("ecosystem %q must not start with a dot", ecosystem)
	case strings.ContainsAny(ecosystem, `/\`):
		return fmt.Errorf("ecosystem %q must not contain a slash", ecosystem)
	case len(ecosystem) > 200:
		return fmt.Errorf("ecosystem %q is longer than 200 bytes", ecosystem)
	case strings.IndexFunc(ecosystem, unicode.IsControl) >= 0:
		return fmt.Errorf("ecosystem %q contains a control character", ecosystem)
	}
	return nil
}

// Fetch downloads the export holding ecosystem and unpacks its JSON files
// into dir/<ecosystem>/, replacing what was there only once all of them
// are on disk: the zip is downloaded and unpacked inside a hidden temporary
// directory of dir (which Index does not read), then renamed. A zip entry
// whose name would leave the ecosystem's directory fails the fetch and
// changes nothing.
//
// OSV.dev no longer exports an ecosystem with a release suffix on its own
// ("OSV.dev has stopped exporting entries for ecosystems with prefixes
// (e.g. All `Alpine:.*`). Please refer only to the main ecosystem",
// google/osv.dev PR #2734, docs/data.md), so for Debian:12 the download is
// <source>/Debian/all.zip and only the records with a package in Debian:12
// are kept; the others (other releases, withdrawn or undecodable records)
// are counted in Fetched.Skipped. An ecosystem without ':' keeps every
// record of <source>/<ecosystem>/all.zip.
func (f Fetcher) Fetch(ctx context.Context, dir, ecosystem string) (Fetched, error) {
	f = f.defaults()
	if err := CheckEcosystem(ecosystem); err != nil {
		return Fetched{}, err
	}
	base, err := url.Parse(f.Source)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return Fetched{}, fmt.Errorf("source %q is not an http(s) URL", f.Source)
	}
	export, _, sub := strings.Cut(ecosystem, ":")
	keep := func([]byte) bool { return true }
	if sub {
		keep = func(raw []byte) bool { return hasEcosystem(raw, ecosystem) }
	}
	got := Fetched{Ecosystem: ecosystem, Dir: filepath.Join(dir, ecosystem),
		URL: strings.TrimRight(f.Source, "/") + "/" + url.PathEscape(export) + "/all.zip"}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Fetched{}, err
	}
	tmp, err := os.MkdirTemp(dir, ".fetch-")
	if err != nil {
		return Fetched{}, err
	}
	defer os.RemoveAll(tmp)

	zipFile := filepath.Join(tmp, "all.zip")
	if got.ZipBytes, err = f.download(ctx, got.URL, zipFile, ecosystem); err != nil {
		return Fetched{}, err
	}
	unpacked := filepath.Join(tmp, "unpacked")
	if got.Files, got.Skipped, got.Bytes, err = f.unpack(ctx, zipFile, unpacked, sub, keep); err != nil {
		return Fetched{}, fmt.Errorf("%s: %s: %w", ecosystem, got.URL, err)
	}
	// Two renames: the old directory is moved aside (into tmp, removed
	// with it), then the new one into place; a reader sees the old files
	// or the new ones, or for an instant none.
	if _, err := os.Stat(got.Dir); err == nil {
		if err := os.Rename(got.Dir, filepath.Join(tmp, "previous")); err != nil {
			return Fetched{}, err
		}
	}
	if err := os.Rename(unpacked, got.Dir); err != nil {
		os.Rename(filepath.Join(tmp, "previous"), got.Dir)
		return Fetched{}, err
	}
	return got, nil
}

func (f Fetcher) download(ctx context.Context, u, file, ecosystem string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", ecosystem, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return 0, fmt.Errorf("%s: GET %s: %s: the source has no such ecosystem (OSV's names are case-sensitive, e.g. Debian:12, Alpine:v3.20, Ubuntu:22.04:LTS; a release's records come from the export of the name before the first ':')", ecosystem, u, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("%s: GET %s: %s", ecosystem, u, resp.Status)
	case resp.ContentLength > f.MaxZip:
		return 0, fmt.Errorf("%s: GET %s: %d bytes, more than %d: %w", ecosystem, u, resp.ContentLength, f.MaxZip, ErrLimit)
	}
	out, err := os.Create(file)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(resp.Body, f.MaxZip+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("%s: GET %s: %w", ecosystem, u, err)
	}
	if n > f.MaxZip {
		return 0, fmt.Errorf("%s: GET %s: more than %d bytes: %w", ecosystem, u, f.MaxZip, ErrLimit)
	}
	return n, nil
}

// unpack writes the zip's JSON files under dir, refusing names that would
// leave it and sizes past the limits. With filter, each file is read whole
// (at most MaxFile bytes) and written only if keep says so; without, files
// are copied as they are decompressed.
func (f Fetcher) unpack(ctx context.Context, zipFile, dir string, filter bool, keep func([]byte) bool) (files, skipped int, kept int64, err error) {
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("not a zip archive: %w", err)
	}
	defer zr.Close()
	if err := os.Mkdir(dir, 0o755); err != nil {
		return 0, 0, 0, err
	}
	var total int64 // every decompressed byte, kept or not
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		name := zf.Name
		// Zip slip: an entry must name a path inside dir.
		if !filepath.IsLocal(name) || strings.Contains(name, `\`) {
			return 0, 0, 0, fmt.Errorf("zip entry %q would be written outside the ecosystem's directory", name)
		}
		if !zf.Mode().IsRegular() || !strings.HasSuffix(name, ".json") {
			continue // directories, symlinks, anything but advisories
		}
		if files+skipped >= f.MaxFiles {
			return 0, 0, 0, fmt.Errorf("more than %d advisories: %w", f.MaxFiles, ErrLimit)
		}
		if zf.UncompressedSize64 > uint64(f.MaxFile) {
			return 0, 0, 0, fmt.Errorf("zip entry %q is %d bytes, more than %d: %w", name, zf.UncompressedSize64, f.MaxFile, ErrLimit)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		var n int64
		if filter {
			raw, err := readEntry(zf, f.MaxFile)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("zip entry %q: %w", name, err)
			}
			n = int64(len(raw))
			if keep(raw) {
				err = writeEntry(dst, raw)
				files++
				kept += n
			} else {
				skipped++
			}
			if err != nil {
				return 0, 0, 0, fmt.Errorf("zip entry %q: %w", name, err)
			}
		} else {
			if n, err = extractEntry(zf, dst, f.MaxFile); err != nil {
				return 0, 0, 0, fmt.Errorf("zip entry %q: %w", name, err)
			}
			files++
			kept += n
		}
		if total += n; total > f.MaxTotal {
			return 0, 0, 0, fmt.Errorf("more than %d bytes unpacked: %w", f.MaxTotal, ErrLimit)
		}
	}
	return files, skipped, kept, nil
}

// hasEcosystem says whether an OSV record lists a package of ecosystem;
// one that does not decode lists none.
func hasEcosystem(raw []byte, ecosystem string) bool {
	var rec struct {
		Affected []struct {
			Package struct {
				Ecosystem string `json:"ecosystem"`
			} `json:"package"`
		} `json:"affected"`
	}
	if json.Unmarshal(raw, &rec) != nil {
		return false
	}
	for _, a := range rec.Affected {
		if a.Package.Ecosystem == ecosystem {
			return true
		}
	}
	return false
}

func readEntry(zf *zip.File, max int64) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err == nil && int64(len(raw)) > max {
		err = fmt.Errorf("more than %d bytes: %w", max, ErrLimit)
	}
	return raw, err
}

func writeEntry(dst string, raw []byte) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, raw, 0o644)
}

func extractEntry(zf *zip.File, dst string, max int64) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	rc, err := zf.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	// archive/zip already fails an entry longer than its header says; the
	// limit holds even so.
	n, err := io.Copy(out, io.LimitReader(rc, max+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > max {
		err = fmt.Errorf("more than %d bytes: %w", max, ErrLimit)
	}
	return n, err
}
