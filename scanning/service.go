package scanning

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/sdk"
	"github.com/opencontainers/go-digest"
)

// Core is what scanning needs of core.Registry: repositories and the
// registry's settings, an image's manifest and blobs, and per-image data.
type Core interface {
	GetRepository(ctx context.Context, reg core.RegistryID, name string) (core.Repository, error)
	ResolveImage(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, tag string) (core.Image, error)
	ManifestBytes(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest) ([]byte, error)
	OpenBlob(ctx context.Context, reg core.RegistryID, repo string, d digest.Digest) (blob.Reader, error)
	Settings(ctx context.Context, reg core.RegistryID) (core.RegistrySettings, error)
	UpdateSettings(ctx context.Context, reg core.RegistryID, change func(*core.RegistrySettings) error) (core.RegistrySettings, error)
	ImageData(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, name string) ([]byte, bool, error)
	UpdateImageData(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, name string, change func(old []byte) ([]byte, error)) error
}

// Caller is a scanner plugin as scanning calls it: *plugins.Plugin. A Caller
// that cannot run at all (a plugin whose module failed to load) answers an
// error wrapping ErrScannerUnavailable, and scans go on without it.
type Caller interface {
	Call(ctx context.Context, input any, mounts ...plugins.Mount) (sdk.Response, error)
}

// Scanner is one scanner plugin: its name, the image paths it reads (its
// manifest's paths) and the plugin to call.
type Scanner struct {
	Name   string
	Paths  []string
	Plugin Caller
}

// AdvisoryDB is an indexed advisory database (scanning/osvdb): the directory
// mounted at /db and when its newest advisory was modified.
type AdvisoryDB struct {
	Dir       string
	UpdatedAt time.Time
}

// Config configures a Service.
type Config struct {
	// Scanners are every loaded scanner plugin; Selection picks among them
	// per repository (all of them by default).
	Scanners  []Scanner
	Selection Selection
	// DB is the advisory database; nil: none is configured, and scans say so.
	DB *AdvisoryDB
	// Quota enforces ECR's one basic scan per image per 24 hours
	// (--scan-quota); off by default, so that tests may rescan freely.
	Quota bool
	// Workers bounds how many scans run at once (default 2).
	Workers int
	// Quiet, when set, lets pushes go first: a scan waits until no push or
	// blob upload has been seen for Quiet, or until it has waited
	// maxDeferrals times Quiet, so that scans take no CPU from a burst of
	// pushes (berth's target: pushes with scan on push at 0.9 of their
	// pace without). Zero starts scans at once.
	Quiet time.Duration
	// TempDir is where images' files are extracted for a scan ("": the
	// system's temporary directory).
	TempDir string
	Clock   core.Clock
	Log     *slog.Logger
}

// Errors the ECR edge names by their own exceptions.
var (
	ErrScanNotFound  = errors.New("image scan not found")
	ErrQuotaExceeded = errors.New("the scan quota per image has been exceeded")
	ErrClosed        = errors.New("scanning has stopped: berth is shutting down")
	// ErrScannerUnavailable is a scanner that could not be loaded; it is
	// skipped, as if it were not there.
	ErrScannerUnavailable = errors.New("scanner unavailable")
)

// UnsupportedImageError is an image scanning cannot read at all: an index or
// an artifact that is not a container image.
type UnsupportedImageError struct{ MediaType string }

// Error words it as ECR does when StartImageScan is given an index
// (moby/buildkit#3499, alexjurkiewicz/ecr-scan-image#43).
func (e *UnsupportedImageError) Error() string {
	return fmt.Sprintf("An artifact with media type '%s' cannot be scanned. For more information, see the Amazon ECR documentation.", e.MediaType)
}

// Service runs scans and keeps their results. It is safe for concurrent use.
type Service struct {
	core  Core
	cfg   Config
	clock core.Clock
	log   *slog.Logger
	epoch string

	slots chan struct{} // one per scan running
	// lastActive is when the latest push or blob upload was seen (unix
	// nanoseconds on the clock), for Quiet.
	lastActive atomic.Int64

	ctx    context.Context // ended by Close: scans in flight stop
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	pending sync.WaitGroup // StartScan's background scans
}

// New returns a Service over c.
func New(c Core, cfg Config) *Service {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{core: c, cfg: cfg, clock: cfg.Clock, log: cfg.Log, epoch: newID(),
		slots: make(chan struct{}, cfg.Workers), ctx: ctx, cancel: cancel}
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Close stops scanning: scans in flight are cancelled (and recorded as
// interrupted), and Close returns once none is left. The plugins they call
// may be closed after it.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.pending.Wait()
}

// Wait returns once the scans StartScan started have finished, or when ctx
// ends. (Scans on push are the bus's: core.Bus.Wait.)
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.pending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// job is one scan to run.
type job struct {
	reg  core.RegistryID
	repo string
	img  core.Image
	id   string
	// scanType and continuous are the registry's when the scan started.
	scanType   string
	continuous bool
}

// StartScan starts a scan of img (StartImageScan) and returns its status,
// IN_PROGRESS, at once; the scan runs in the background. An index or an
// artifact that is not an image fails with *UnsupportedImageError, an
// archived image with core's KindImageArchived, and, with the quota on, a
// second scan within 24 hours with ErrQuotaExceeded; none of them changes
// anything.
func (s *Service) StartScan(ctx context.Context, reg core.RegistryID, repo string, img core.Image) (Result, error) {
	if img.Archived {
		return Result{}, core.Errorf(core.KindImageArchived, "The image with digest '%s' is archived and cannot be scanned. Restore it to the STANDARD storage class first.", img.Digest)
	}
	if mt, ok := unscannable(img); !ok {
		return Result{}, &UnsupportedImageError{MediaType: mt}
	}
	j, _, err := s.newJob(ctx, reg, repo, img)
	if err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Result{}, ErrClosed
	}
	s.pending.Add(1)
	s.mu.Unlock()
	if err := s.begin(ctx, j, false); err != nil {
		s.pending.Done()
		return Result{}, err
	}
	go func() {
		defer s.pending.Done()
		s.run(s.ctx, j)
	}()
	return Result{Status: StatusInProgress, ScanType: j.scanType}, nil
}

// newJob reads how the repository is scanned as the scan starts.
func (s *Service) newJob(ctx context.Context, reg core.RegistryID, repo string, img core.Image) (job, RepositoryConfig, error) {
	applied, err := s.RepositoryConfig(ctx, reg, repo)
	if err != nil {
		return job{}, applied, err
	}
	return job{reg: reg, repo: repo, img: img, id: newID(), scanType: applied.ScanType,
		continuous: applied.ScanType == ScanTypeEnhanced && applied.Frequency == FrequencyContinuous}, applied, nil
}

// unscannable reports the media type that makes img no container image, if
// it is one: an index, or a manifest whose config is not an image config
// (a Helm chart, a signature, an SBOM…).
func unscannable(img core.Image) (mediaType string, ok bool) {
	if img.IsIndex() {
		return img.MediaType, false
	}
	switch img.ConfigMediaType {
	case "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json":
		return "", true
	}
	if img.ArtifactType != "" {
		return img.ArtifactType, false
	}
	return img.ConfigMediaType, false
}

// begin records the scan as IN_PROGRESS, replacing the image's previous
// status (its findings stay until the new scan's replace them). With the
// quota on, a scan started in the last 24 hours refuses the new one;
// onPush skips an image scanned already (a push of it under another tag).
func (s *Service) begin(ctx context.Context, j job, onPush bool) error {
	now := s.clock.Now()
	return s.core.UpdateImageData(ctx, j.reg, j.repo, j.img.Digest, summaryData, func(old []byte) ([]byte, error) {
		prev, err := decode[summary](old)
		if err != nil {
			return nil, corrupt(err)
		}
		if prev != nil && onPush {
			return nil, errAlreadyScanned
		}
		if prev != nil && s.cfg.Quota && now.Sub(prev.StartedAt) < 24*time.Hour {
			return nil, ErrQuotaExceeded
		}
		next := summary{ID: j.id, Epoch: s.epoch, Status: StatusInProgress, ScanType: j.scanType, Continuous: j.continuous, StartedAt: now}
		if prev != nil {
			next.FindingsID = prev.FindingsID
		}
		return json.Marshal(next)
	})
}

var errAlreadyScanned = errors.New("image scanned already")

func corrupt(err error) error {
	return fmt.Errorf("scanning: a stored scan record cannot be read: %w", err)
}

// run scans and records the outcome, waiting for a free slot first.
func (s *Service) run(ctx context.Context, j job) {
	if ctx.Err() != nil || s.yield(ctx) != nil {
		s.finish(j, outcome{status: StatusFailed, description: describeInterrupted})
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		s.finish(j, outcome{status: StatusFailed, description: describeInterrupted})
		return
	}
	o := s.scan(ctx, j)
	if ctx.Err() != nil && o.status == StatusFailed {
		o = outcome{status: StatusFailed, description: describeInterrupted}
	}
	s.finish(j, o)
}

// maxDeferrals bounds how long a scan yields to pushes: maxDeferrals × Quiet.
const maxDeferrals = 50

// noteActive records activity at t, unless later activity is recorded already (the two
// subscribers that note it run apart).
func (s *Service) noteActive(t time.Time) {
	for {
		last := s.lastActive.Load()
		if t.UnixNano() <= last || s.lastActive.CompareAndSwap(last, t.UnixNano()) {
			return
		}
	}
}

// yield waits, with Quiet set, until pushes have paused for Quiet or the
// scan has waited long enough.
func (s *Service) yield(ctx context.Context) error {
	if s.cfg.Quiet <= 0 {
		return nil
	}
	deadline := s.clock.Now().Add(maxDeferrals * s.cfg.Quiet)
	for {
		now := s.clock.Now()
		idle := now.Sub(time.Unix(0, s.lastActive.Load()))
		if idle >= s.cfg.Quiet || !now.Before(deadline) {
			return nil
		}
		if err := core.Sleep(ctx, s.clock, min(s.cfg.Quiet-idle, deadline.Sub(now))); err != nil {
			return err
		}
	}
}

// outcome is what a scan found.
type outcome struct {
	status      string
	description string
	platform    Platform
	findings    []Finding
	scanners    []string
}

// finish records a scan's outcome, if it is still the image's latest scan
// and the image is still there.
func (s *Service) finish(j job, o outcome) {
	ctx := context.WithoutCancel(s.ctx) // an interrupted scan is still recorded as such
	now := s.clock.Now()
	if o.status == StatusComplete {
		if err := s.keepFirstObserved(ctx, j, o.findings, now); err != nil {
			s.log.Error("scanning: reading the previous findings", "registry", j.reg, "repository", j.repo, "digest", j.img.Digest, "err", err)
		}
		b, err := json.Marshal(findingsRecord{Platform: o.platform, Findings: o.findings})
		if err == nil {
			err = s.core.UpdateImageData(ctx, j.reg, j.repo, j.img.Digest, findingsData(j.id), func([]byte) ([]byte, error) { return b, nil })
		}
		if err != nil {
			s.logOutcomeError(j, err)
			return
		}
	}
	var replaced string // findings no summary points at any more
	err := s.core.UpdateImageData(ctx, j.reg, j.repo, j.img.Digest, summaryData, func(old []byte) ([]byte, error) {
		prev, err := decode[summary](old)
		if err != nil {
			return nil, corrupt(err)
		}
		if prev == nil || prev.ID != j.id {
			return nil, errSuperseded
		}
		next := *prev
		next.Status, next.Description, next.Scanners = o.status, o.description, o.scanners
		next.CompletedAt, next.Counts, next.SourceUpdatedAt = time.Time{}, nil, time.Time{}
		if o.status == StatusComplete {
			next.CompletedAt, next.Counts = now, countSeverities(o.findings)
			if s.cfg.DB != nil {
				next.SourceUpdatedAt = s.cfg.DB.UpdatedAt
			}
			replaced, next.FindingsID = prev.FindingsID, j.id
		}
		return json.Marshal(next)
	})
	if errors.Is(err, errSuperseded) && o.status == StatusComplete {
		replaced = j.id
	}
	if err != nil {
		s.logOutcomeError(j, err)
	}
	if replaced != "" {
		err := s.core.UpdateImageData(ctx, j.reg, j.repo, j.img.Digest, findingsData(replaced), func([]byte) ([]byte, error) { return nil, nil })
		if err != nil {
			s.logOutcomeError(j, err)
		}
	}
}

var errSuperseded = errors.New("a later scan of the image started")

func (s *Service) logOutcomeError(j job, err error) {
	switch {
	case errors.Is(err, errSuperseded), core.IsKind(err, core.KindManifestNotFound):
		// A rescan replaced this one, or the image was deleted: nothing to keep.
	default:
		s.log.Error("scanning: recording a scan", "registry", j.reg, "repository", j.repo, "digest", j.img.Digest, "err", err)
	}
}

// keepFirstObserved carries each finding's first observation over from the
// image's last completed scan.
func (s *Service) keepFirstObserved(ctx context.Context, j job, findings []Finding, now time.Time) error {
	first := map[string]time.Time{}
	sum, err := s.summary(ctx, j.reg, j.repo, j.img.Digest)
	if err == nil && sum.FindingsID != "" {
		var prev *findingsRecord
		if prev, err = s.readFindings(ctx, j.reg, j.repo, j.img.Digest, sum.FindingsID); prev != nil {
			for _, f := range prev.Findings {
				first[f.key()] = f.FirstObservedAt
			}
		}
	}
	for i := range findings {
		findings[i].FirstObservedAt = now
		if t, ok := first[findings[i].key()]; ok && !t.IsZero() {
			findings[i].FirstObservedAt = t
		}
	}
	return err
}

func (s *Service) readFindings(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest, id string) (*findingsRecord, error) {
	b, _, err := s.core.ImageData(ctx, reg, repo, dg, findingsData(id))
	if err != nil {
		return nil, err
	}
	fr, err := decode[findingsRecord](b)
	if err != nil {
		return nil, corrupt(err)
	}
	return fr, nil
}

func countSeverities(findings []Finding) map[string]int {
	counts := map[string]int{}
	for _, f := range findings {
		counts[f.Severity]++
	}
	return counts
}

// Result is an image's latest scan as DescribeImageScanFindings and
// DescribeImages report it.
type Result struct {
	Status      string
	Description string
	// ScanType is BASIC or ENHANCED: which shape the findings are shown in.
	ScanType   string
	Continuous bool
	// CompletedAt, SourceUpdatedAt and Counts are set once a scan completed.
	CompletedAt     time.Time
	SourceUpdatedAt time.Time
	Counts          map[string]int
	// Findings and Platform are read only when asked for (Findings).
	Findings []Finding
	Platform Platform
}

// Summary returns the status of the image's latest scan, without its
// findings, or ErrScanNotFound before its first.
func (s *Service) Summary(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest) (Result, error) {
	sum, err := s.summary(ctx, reg, repo, dg)
	if err != nil {
		return Result{}, err
	}
	return s.result(sum), nil
}

func (s *Service) summary(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest) (*summary, error) {
	b, found, err := s.core.ImageData(ctx, reg, repo, dg, summaryData)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrScanNotFound
	}
	sum, err := decode[summary](b)
	if err != nil {
		return nil, corrupt(err)
	}
	return sum, nil
}

func (s *Service) result(sum *summary) Result {
	r := Result{Status: sum.Status, Description: sum.Description, ScanType: sum.ScanType, Continuous: sum.Continuous,
		CompletedAt: sum.CompletedAt, SourceUpdatedAt: sum.SourceUpdatedAt, Counts: sum.Counts}
	if r.Status == StatusInProgress && sum.Epoch != s.epoch {
		// The process that ran it stopped (or crashed) before it finished.
		r.Status, r.Description = StatusFailed, describeInterrupted
	}
	if r.Status == StatusComplete && r.Continuous {
		// Continuous scanning reports its images ACTIVE, as Inspector does.
		r.Status, r.Description = StatusActive, describeContinuous
	}
	return r
}

// Findings returns the image's latest scan with its findings, most severe
// first, or ErrScanNotFound before its first scan.
func (s *Service) Findings(ctx context.Context, reg core.RegistryID, repo string, dg digest.Digest) (Result, error) {
	// A scan completing between the two reads removes the findings the
	// summary named; reading again then finds the new ones.
	for range 3 {
		sum, err := s.summary(ctx, reg, repo, dg)
		if err != nil {
			return Result{}, err
		}
		r := s.result(sum)
		if sum.CompletedAt.IsZero() {
			return r, nil
		}
		fr, err := s.readFindings(ctx, reg, repo, dg, sum.FindingsID)
		if err != nil {
			return Result{}, err
		}
		if fr != nil {
			r.Findings, r.Platform = fr.Findings, fr.Platform
			return r, nil
		}
	}
	return Result{}, fmt.Errorf("scanning: the findings of %s kept changing while they were read", dg)
}

// Scanners returns the scanners loaded, for the log and introspection.
func (s *Service) Scanners() []Scanner { return slices.Clone(s.cfg.Scanners) }
