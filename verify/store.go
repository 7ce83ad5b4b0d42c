package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/core"
)

// Store is where a policy set by Put is kept across restarts: core's registry data
// (*core.Registry), in the registry's metadata store, so that it lives as long as the
// registry's other settings (on disk with a data dir, in memory with --memory) and goes
// with core.Reset.
type Store interface {
	RegistryData(ctx context.Context, reg core.RegistryID, name string) ([]byte, bool, error)
	UpdateRegistryData(ctx context.Context, reg core.RegistryID, name string, change func(old []byte) ([]byte, error)) error
}

// The policy is berth's, not one registry's: it is kept as the data of the zero RegistryID,
// which no account and no region names.
var (
	berthWide = core.RegistryID{}
	dataName  = "verification-policy"
)

// stored is the record Put writes.
type stored struct {
	// Policy is the Config as put: keys inline, no files, no pluginsDir.
	Policy json.RawMessage `json:"policy"`
	// FileDigest identifies the --verify-config policy in force when this one was put
	// ("" none): while berth starts with that same file policy, this one stays in force.
	FileDigest string    `json:"fileDigest,omitempty"`
	Time       time.Time `json:"time"`
}

// InvalidPolicyError is a policy Put refused: nothing changed.
type InvalidPolicyError struct{ Err error }

func (e *InvalidPolicyError) Error() string { return e.Err.Error() }
func (e *InvalidPolicyError) Unwrap() error { return e.Err }

// configDigest identifies a file's policy as read: its rules with the keys its key files
// held, its verifier and plugins directory. A key file that changes changes it too.
func configDigest(c Config) string {
	if c.Rules == nil {
		c.Rules = []Rule{}
	}
	b, _ := json.Marshal(c) // a Config always marshals
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Validate says whether c could be put in force, changing nothing.
func (s *Service) Validate(c Config) error {
	_, err := s.prepare(c)
	return err
}

// prepare compiles c and checks that its verifier is loaded.
func (s *Service) prepare(c Config) (*policy, error) {
	p, err := compile(c)
	if err != nil {
		return nil, err
	}
	if len(p.rules) > 0 && s.verifier(p.verifier) == nil {
		return nil, fmt.Errorf("verifier plugin %q is not loaded", p.verifier)
	}
	if c.Rules == nil {
		c.Rules = []Rule{}
	}
	p.config = c
	return p, nil
}

// Put validates c, stores it (Options.Store) and then puts it in force, so that a policy
// accepted is one a restart keeps: an invalid c is an *InvalidPolicyError, a store that
// fails an error of its own, and either changes nothing.
func (s *Service) Put(ctx context.Context, c Config) error {
	if c.PluginsDir != "" {
		// A directory on berth's machine is --verify-config's to name (ParseConfig refuses
		// it without one); a stored policy is restored without it.
		return &InvalidPolicyError{fmt.Errorf("pluginsDir names a directory on berth's machine; only --verify-config may")}
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	p, err := s.prepare(c)
	if err != nil {
		return &InvalidPolicyError{err}
	}
	if s.store != nil {
		policyJSON, err := json.Marshal(p.config)
		if err != nil {
			return err
		}
		rec, err := json.Marshal(stored{Policy: policyJSON, FileDigest: s.fileDigest, Time: s.clock.Now().UTC()})
		if err != nil {
			return err
		}
		if err := s.store.UpdateRegistryData(ctx, berthWide, dataName, func([]byte) ([]byte, error) { return rec, nil }); err != nil {
			return fmt.Errorf("storing the verification policy: %w", err)
		}
	}
	s.policy.Store(p)
	return nil
}

// Restore puts in force, as berth starts, the most recent deliberate choice between the
// --verify-config policy file (nil: none, else validated by Validate) and the policy a
// Put stored:
//
//   - nothing stored: the file's policy, or none;
//   - a stored policy, and the same file policy as when it was put, or no file: the
//     stored one (a PUT outlives restarts);
//   - a stored policy, and a file policy that changed since (or is new): the file's,
//     logged as replacing the stored one, which is removed.
//
// A stored policy berth cannot use (its verifier plugin is not loaded) stops the start
// rather than leave repositories unprotected; a changed --verify-config replaces it.
func (s *Service) Restore(ctx context.Context, file *Config) error {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.file, s.fileDigest = nil, ""
	if file != nil {
		c := *file
		s.file, s.fileDigest = &c, configDigest(c)
	}
	return s.restoreLocked(ctx)
}

// Reset follows core.Reset, which removed the stored policy with every registry's data: the
// policy in force becomes a first start's (the file's, or none) and no decision is reused.
func (s *Service) Reset(ctx context.Context) error {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.cmu.Lock()
	s.cache = map[digest.Digest]map[cacheKey]cached{}
	s.cmu.Unlock()
	return s.restoreLocked(ctx)
}

func (s *Service) restoreLocked(ctx context.Context) error {
	fromFile := func() error {
		c := Config{}
		if s.file != nil {
			c = *s.file
		}
		p, err := s.prepare(c)
		if err != nil {
			return err
		}
		s.policy.Store(p)
		return nil
	}
	if s.store == nil {
		return fromFile()
	}
	b, found, err := s.store.RegistryData(ctx, berthWide, dataName)
	if err != nil {
		return fmt.Errorf("reading the stored verification policy: %w", err)
	}
	if !found {
		return fromFile()
	}
	var rec stored
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("the stored verification policy is unreadable: %w", err)
	}
	put := rec.Time.Format(time.RFC3339)
	if s.file != nil && rec.FileDigest != s.fileDigest {
		if err := fromFile(); err != nil {
			return err
		}
		if err := s.store.UpdateRegistryData(ctx, berthWide, dataName, func([]byte) ([]byte, error) { return nil, nil }); err != nil {
			return fmt.Errorf("removing the stored verification policy: %w", err)
		}
		s.log.Warn("the --verify-config policy changed since a policy was put with PUT /_berth/verification; the file's policy replaces the stored one",
			"put", put, "rules", len(s.file.Rules))
		return nil
	}
	c, err := ParseConfig(rec.Policy, "")
	if err == nil {
		var p *policy
		if p, err = s.prepare(c); err == nil {
			s.policy.Store(p)
		}
	}
	if err != nil {
		return fmt.Errorf("the verification policy put with PUT /_berth/verification at %s cannot be used: %w "+
			"(start with the --verify-config that loads its verifier, or a changed one to replace it)", put, err)
	}
	s.log.Info("verification policy put with PUT /_berth/verification restored", "put", put, "rules", len(c.Rules))
	return nil
}
