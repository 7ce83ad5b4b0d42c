package core

import (
	"context"
	"maps"
	"slices"

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
	// Scanning is the registry's scanning configuration; nil until one is
	// put (ECR's default then: BASIC, no rules).
	Scanning *ScanningConfig `json:"scanning,omitempty"`
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
	if _, err := getJSON(tx, bSettings, settingsKey(reg), &s); err != nil {
		return s, corrupt("registry settings", settingsKey(reg), err)
	}
	return s, nil
}

// Settings returns a registry's settings. They are read on every push (scan
// on push asks for the registry's scanning configuration) and rarely
// written, so the last read of each registry is remembered until the next
// write (readCache).
func (r *Registry) Settings(ctx context.Context, reg RegistryID) (RegistrySettings, error) {
	gen := r.settings.generation() // before the read: a write after it makes what it reads stale
	if s, ok := r.settings.get(reg); ok {
		return s, nil
	}
	return r.readSettings(reg, gen)
}

// readSettings is Settings' read of the store (apart, so that an answer
// from the cache allocates nothing for the transaction's closure).
func (r *Registry) readSettings(reg RegistryID, gen uint64) (RegistrySettings, error) {
	var s RegistrySettings
	err := r.kv.View(func(tx kv.Tx) (err error) { s, err = getSettings(tx, reg); return err })
	if err == nil {
		r.settings.put(reg, gen, s)
	}
	return s, err
}

// clone is a deep copy of s: nothing it holds is shared with s.
func (s RegistrySettings) clone() RegistrySettings {
	s.Account = maps.Clone(s.Account)
	s.PullTimeExclusions = slices.Clone(s.PullTimeExclusions)
	if s.Scanning != nil {
		sc := *s.Scanning
		sc.Rules = slices.Clone(sc.Rules)
		for i := range sc.Rules {
			sc.Rules[i].Filters = slices.Clone(sc.Rules[i].Filters)
		}
		s.Scanning = &sc
	}
	return s
}

// UpdateSettings changes a registry's settings in one transaction. A
// changed registry policy or REGISTRY_POLICY_SCOPE is published.
func (r *Registry) UpdateSettings(ctx context.Context, reg RegistryID, change func(*RegistrySettings) error) (RegistrySettings, error) {
	var s RegistrySettings
	policyChanged := false
	err := r.kv.Update(func(tx kv.Tx) error {
		var err error
		if s, err = getSettings(tx, reg); err != nil {
			return err
		}
		before, scope := s.Policy, s.AccountSetting("REGISTRY_POLICY_SCOPE")
		if err := change(&s); err != nil {
			return err
		}
		// The scope changes which actions the registry policy decides.
		policyChanged = s.Policy != before || s.AccountSetting("REGISTRY_POLICY_SCOPE") != scope
		return putJSON(tx, bSettings, settingsKey(reg), s)
	})
	// Before the event: a subscriber that reads the settings as it hears
	// of the change must read the new ones.
	r.settings.changed()
	if err == nil && policyChanged {
		e := r.event(ctx, EventPolicyChanged, reg, "")
		e.Target = TargetRegistry
		r.bus.publish(ctx, e)
	}
	return s, err
}
