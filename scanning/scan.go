package scanning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/scanning/rootfs"
)

// Where a scanner finds the image's files and the advisory database.
const (
	rootfsMount = "/rootfs"
	dbMount     = "/db"
)

// maxConfigSize bounds the image config read for its platform; ECR's own
// bound on a manifest is 4 MiB and configs are far smaller.
const maxConfigSize = 4 << 20

// scan reads the image and calls its scanners. Every failure is the scan's
// outcome, never an error: it is what DescribeImageScanFindings reports.
func (s *Service) scan(ctx context.Context, j job) outcome {
	fail := func(format string, args ...any) outcome {
		return outcome{status: StatusFailed, description: "The scan failed: " + fmt.Sprintf(format, args...)}
	}
	scanners := s.scannersFor(j.reg, j.repo)
	if len(scanners) == 0 {
		return fail("no scanner plugin is loaded")
	}
	body, err := s.core.ManifestBytes(ctx, j.reg, j.repo, j.img.Digest)
	if err != nil {
		return fail("reading the manifest: %v", err)
	}
	m, err := core.ParseManifest(body, j.img.MediaType)
	if err != nil {
		return fail("reading the manifest: %v", err)
	}
	platform, err := s.platform(ctx, j, m)
	if err != nil {
		return fail("reading the image config: %v", err)
	}
	dir, err := os.MkdirTemp(s.cfg.TempDir, "berth-scan-")
	if err != nil {
		return fail("creating a directory for the image's files: %v", err)
	}
	defer os.RemoveAll(dir)

	var layers []rootfs.Layer
	for _, l := range m.Layers {
		if strings.Contains(l.MediaType, ".nondistributable.") || strings.Contains(l.MediaType, ".rootfs.foreign.") {
			continue // never pushed to a registry, so not here to read
		}
		l := l
		layers = append(layers, rootfs.Layer{MediaType: l.MediaType, Open: func() (io.ReadCloser, error) {
			return s.core.OpenBlob(ctx, j.reg, j.repo, l.Digest)
		}})
	}
	var patterns []string
	for _, sc := range scanners {
		for _, p := range sc.Paths {
			if !slices.Contains(patterns, p) {
				patterns = append(patterns, p)
			}
		}
	}
	if _, err := rootfs.Extract(ctx, layers, patterns, dir); err != nil {
		if errors.Is(err, rootfs.ErrUnsupportedLayer) {
			return outcome{status: StatusUnsupported, description: unsupportedPrefix + "the image's layers cannot be read: " + err.Error()}
		}
		return fail("reading the image's layers: %v", err)
	}

	in := scanInput{Image: imageInput{RegistryID: j.reg.Account, Repository: j.repo, Digest: j.img.Digest.String(),
		MediaType: j.img.MediaType, Platform: platform}, Rootfs: rootfsMount}
	mounts := []plugins.Mount{{HostDir: dir, GuestPath: rootfsMount}}
	if s.cfg.DB != nil {
		in.DB = dbMount
		mounts = append(mounts, plugins.Mount{HostDir: s.cfg.DB.Dir, GuestPath: dbMount})
	}
	var results []scannerResult
	var unavailable []string
	for _, sc := range scanners {
		resp, err := sc.Plugin.Call(ctx, in, mounts...)
		if errors.Is(err, ErrScannerUnavailable) {
			unavailable = append(unavailable, err.Error())
			continue
		}
		if err != nil {
			return fail("%v", err)
		}
		r, err := parseOutput(sc.Name, resp.Output)
		if err != nil {
			return fail("%v", err)
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		return fail("no scanner plugin is loaded (%s)", strings.Join(unavailable, "; "))
	}
	o := merge(results)
	o.platform = platform
	return o
}

// scannersFor returns the scanners the --scan-config selects for the
// repository, or every scanner loaded.
func (s *Service) scannersFor(reg core.RegistryID, repo string) []Scanner {
	names, ok := s.cfg.Selection.For(reg, repo)
	if !ok {
		return s.cfg.Scanners
	}
	var out []Scanner
	for _, sc := range s.cfg.Scanners {
		if slices.Contains(names, sc.Name) {
			out = append(out, sc)
		}
	}
	return out
}

// platform reads the image's OS and architecture from its config.
func (s *Service) platform(ctx context.Context, j job, m core.Manifest) (Platform, error) {
	if m.Config == nil {
		return Platform{}, errors.New("the manifest names no config")
	}
	r, err := s.core.OpenBlob(ctx, j.reg, j.repo, m.Config.Digest)
	if err != nil {
		return Platform{}, err
	}
	defer r.Close()
	var p Platform
	if err := json.NewDecoder(io.LimitReader(r, maxConfigSize)).Decode(&p); err != nil {
		return Platform{}, fmt.Errorf("config %s is not an image config: %v", m.Config.Digest, err)
	}
	return p, nil
}
