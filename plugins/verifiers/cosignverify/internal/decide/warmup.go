package decide

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/plugins/sdk"
	"github.com/berth-dev/berth/plugins/verifiers/schema"
)

// warmupRequest is a verifier request holding one valid signature of each format, each made
// at the request's time by keys that exist only in this file (TestWarmUpRequest writes it).
//
//go:embed warmup.json
var warmupRequest []byte

// WarmUp decides warmupRequest once per signature, before the plugin reads its own request.
// In a fresh instance every code path runs for the first time: encoding/json builds its
// per-type decoders, and P-256 builds its generator tables, which in Wasm costs more than the
// verification that needs them. Done here, that work happens while a warm instance
// (plugins/ABI.md) waits for its call instead of inside it. It doubles as a self-test: each
// signature must verify.
func WarmUp() error {
	var req sdk.Request
	if err := json.Unmarshal(warmupRequest, &req); err != nil {
		return fmt.Errorf("warm-up request: %w", err)
	}
	var in schema.Input
	if err := req.Decode(&in); err != nil {
		return fmt.Errorf("warm-up input: %w", err)
	}
	for _, s := range in.Signatures {
		one := in
		one.Signatures = []schema.Signature{s}
		out := Decide(one)
		if !out.Verified {
			return fmt.Errorf("warm-up %s signature does not verify: %v", s.Format, out.Candidates)
		}
		if _, err := sdk.Output(out); err != nil {
			return err
		}
	}
	return nil
}
