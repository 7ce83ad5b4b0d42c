package core

import (
	"context"

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

// Settings returns a registry's settings.
func (r *Registry) Settings(ctx context.Context, reg RegistryID) (RegistrySettings, error) {
	var s RegistrySettings
	err := r.kv.View(func(tx kv.Tx) (err error) { s, err = getSettings(tx, reg); return err })
	return s, err
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
	if err == nil && policyChanged {
		e := r.event(ctx, EventPolicyChanged, reg, "")
		e.Target = TargetRegistry
		r.bus.publish(ctx, e)
	}
	return s, err
}
