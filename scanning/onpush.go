package scanning

import (
	"context"
	"errors"

	"github.com/berth-dev/berth/core"
)

// Subscribe wires scan on push into bus: a subscriber with as many workers
// as scans may run at once, on a queue long enough that a push waits for it
// only after tens of thousands of pushes in a burst. It scans each pushed
// image its repository's configuration says to scan on push (Applied), once:
// pushing the same image again (another tag) does not scan it again. An
// index or an artifact that is not an image is recorded UNSUPPORTED_IMAGE.
// With Config.Quiet, a second subscriber notes pushes and uploads as they
// happen, so that scans wait for a burst of them to pause.
func (s *Service) Subscribe(bus *core.Bus) {
	if s.cfg.Quiet > 0 {
		// Pushes and uploads as they happen, for Quiet: on a queue of their
		// own, since the scans' may be far behind.
		bus.Subscribe(core.Subscriber{
			Name:  "scanning-activity",
			Kinds: []core.EventKind{core.EventPush, core.EventUploadComplete},
			// Noting is one atomic store: done as the event is published,
			// never queued (a worker woken per blob upload cost more).
			Wants: func(_ context.Context, e core.Event) bool {
				s.noteActive(e.Time)
				return false
			},
			Handle: func(ctx context.Context, e core.Event) error {
				s.noteActive(e.Time)
				return nil
			},
		})
	}
	bus.Subscribe(core.Subscriber{
		Name:      "scanning",
		Kinds:     []core.EventKind{core.EventPush},
		Workers:   s.cfg.Workers,
		QueueSize: 1 << 16,
		Wants:     s.wantsPush,
		Handle:    s.onPush,
	})
}

// wantsPush says whether a push may need a scan: its repository scans on
// push (or the read failed: onPush decides).
func (s *Service) wantsPush(ctx context.Context, e core.Event) bool {
	if e.Repo != nil { // the repository as the push read it: only the registry's settings are left to read
		settings, err := s.core.Settings(ctx, e.Registry)
		return err != nil || Applied(settings.Scanning, *e.Repo).ScanOnPush
	}
	applied, err := s.RepositoryConfig(ctx, e.Registry, e.Repository)
	return err != nil && ignoreGone(err) != nil || applied.ScanOnPush
}

func (s *Service) onPush(ctx context.Context, e core.Event) error {
	if s.cfg.Quiet > 0 {
		// The push is activity too: noted here as well, since the activity subscriber's queue
		// may not have reached it yet, and the scan would not wait for the burst it is in.
		s.noteActive(e.Time)
	}
	// The configuration first: most pushes are not scanned, and reading the
	// image lists its tags, which costs in proportion to how many it has.
	if applied, err := s.RepositoryConfig(ctx, e.Registry, e.Repository); err != nil || !applied.ScanOnPush {
		return ignoreGone(err)
	}
	img, err := s.core.ResolveImage(ctx, e.Registry, e.Repository, e.Digest, "")
	if err != nil {
		return ignoreGone(err)
	}
	j, applied, err := s.newJob(ctx, e.Registry, e.Repository, img)
	if err != nil || !applied.ScanOnPush {
		return ignoreGone(err)
	}
	switch err := s.begin(ctx, j, true); {
	case errors.Is(err, errAlreadyScanned):
		return nil
	case err != nil:
		return ignoreGone(err)
	}
	if mt, ok := unscannable(img); !ok {
		s.finish(j, outcome{status: StatusUnsupported, description: (&UnsupportedImageError{MediaType: mt}).Error()})
		return nil
	}
	// The bus's context ends when it closes; the service's when it stops.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	s.run(ctx, j)
	return nil
}

// ignoreGone drops the error of an image or repository deleted since its push.
func ignoreGone(err error) error {
	if core.IsKind(err, core.KindManifestNotFound) || core.IsKind(err, core.KindRepositoryNotFound) {
		return nil
	}
	return err
}
