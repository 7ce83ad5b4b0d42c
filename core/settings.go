package core

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/berth-dev/berth/core/kv"
)

const bSettings = "registry-settings" // reg → RegistrySettings JSON

// RegistrySettings is the per-registry (account × region) configuration.
type RegistrySettings struct {
	Policy string `json:"policy,omitempty"`
	// Account settings by name (BASIC_SCAN_TYPE_VERSION, REGISTRY_POLICY_SCOPE, BLOB_MOUNTING).
	Account map[string]string `json:"account,omitempty"`
	// PullTimeExclusions are principal ARNs whose pulls do not update lastRecordedPullTime.
	PullTimeExclusions []string `json:"pullTimeExclusions,omitempty"`
}

// DefaultAccountSettings are ECR's defaults for an account that set nothing.
var DefaultAccountSettings = map[string]string{
	"BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE",
	"REGISTRY_POLICY_SCOPE":   "V2",
	"BLOB_MOUNTING":           "DISABLED",
}

// AccountSetting returns a setting's value, or ECR's default.
func (s RegistrySettings) AccountSetting(name string) string {
	if v, ok := s.Account[name]; ok {
		return v
	}
	return DefaultAccountSettings[name]
}

func settingsKey(reg RegistryID) []byte { return []byte(regPrefix(reg)) }

func getSettings(tx kv.Tx, reg RegistryID) (RegistrySettings, error) {
	var s RegistrySettings
	_, err := getJSON(tx, bSettings, settingsKey(reg), &s)
	return s, err
}

// Settings returns a registry's settings.
func (r *Registry) Settings(ctx context.Context, reg RegistryID) (RegistrySettings, error) {
	var s RegistrySettings
	err := r.kv.View(func(tx kv.Tx) (err error) { s, err = getSettings(tx, reg); return err })
	return s, err
}

// UpdateSettings changes a registry's settings in one transaction.
func (r *Registry) UpdateSettings(ctx context.Context, reg RegistryID, change func(*RegistrySettings) error) (RegistrySettings, error) {
	var s RegistrySettings
	err := r.kv.Update(func(tx kv.Tx) error {
		var err error
		if s, err = getSettings(tx, reg); err != nil {
			return err
		}
		if err := change(&s); err != nil {
			return err
		}
		return putJSON(tx, bSettings, settingsKey(reg), s)
	})
	return s, err
}

// pullKey names one image whose pull time is waiting to be written.
type pullKey struct {
	reg    RegistryID
	repo   string
	digest string
}

// pullTimes batches last-pulled times: a pull is recorded in memory at once
// and written with the others in one transaction shortly after, so a burst of
// pulls costs one commit, not one each (ECR too records pull times lazily).
type pullTimes struct {
	flushing sync.Mutex // held for a whole flush, so that Close waits for one in flight
	mu       sync.Mutex
	pending  map[pullKey]pullRecord
	timer    *time.Timer
	closed   bool
}

type pullRecord struct {
	at    time.Time
	actor string
}

// pullFlushDelay is how long a recorded pull waits for others to share its commit.
const pullFlushDelay = 100 * time.Millisecond

// recordPull notes a pull; the write follows within pullFlushDelay.
func (r *Registry) recordPull(e Event) {
	p := &r.pulls
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.pending == nil {
		p.pending = map[pullKey]pullRecord{}
	}
	k := pullKey{e.Registry, e.Repository, string(e.Digest)}
	if prev, ok := p.pending[k]; !ok || e.Time.After(prev.at) {
		p.pending[k] = pullRecord{at: e.Time, actor: e.Actor}
	}
	if p.timer == nil {
		p.timer = time.AfterFunc(pullFlushDelay, r.flushPulls)
	}
}

// flushPulls writes the pending pull times, skipping excluded principals.
func (r *Registry) flushPulls() {
	p := &r.pulls
	p.flushing.Lock()
	defer p.flushing.Unlock()
	p.mu.Lock()
	batch := p.pending
	p.pending, p.timer = nil, nil
	p.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := r.kv.Update(func(tx kv.Tx) error {
		settings := map[RegistryID]RegistrySettings{}
		for k, rec := range batch {
			s, ok := settings[k.reg]
			if !ok {
				var err error
				if s, err = getSettings(tx, k.reg); err != nil {
					return err
				}
				settings[k.reg] = s
			}
			if slices.Contains(s.PullTimeExclusions, rec.actor) {
				continue
			}
			key := itemKey(k.reg, k.repo, k.digest)
			var m Manifest
			if found, err := getJSON(tx, bManifests, key, &m); !found || err != nil {
				continue // deleted since
			}
			if !rec.at.After(m.LastPulledAt) {
				continue
			}
			m.LastPulledAt = rec.at
			if err := putJSON(tx, bManifests, key, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.log.Warn("recording pull times", "images", len(batch), "err", err)
	}
}

// closePulls writes what is pending and stops recording.
func (r *Registry) closePulls() {
	p := &r.pulls
	p.mu.Lock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	p.mu.Unlock()
	r.flushPulls()
}
