// Command cosignverify is berth's built-in verifier plugin (plugins/ABI.md, "Verifier
// plugins"): cosign signatures (legacy .sig tags and sigstore bundles, keyed, checked with
// sigstore/sigstore) and Notary Project signatures (checked with notation-core-go), each
// against the rule's trusted keys and certificates and the image's digest.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/berth-dev/berth/plugins/sdk"
	"github.com/berth-dev/berth/plugins/verifiers/cosignverify/internal/decide"
	"github.com/berth-dev/berth/plugins/verifiers/schema"
)

func main() {
	// An instance lives for one call and is thrown away: collecting garbage is wasted work
	// unless the heap nears a bound far above what a verification allocates.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(96 << 20)
	if sdk.Warm() {
		// While the request has not come: the first run of each path costs more than a
		// verification (decide.WarmUp), and a warm instance pays it before its call.
		if err := decide.WarmUp(); err != nil {
			fmt.Fprintf(os.Stderr, "self-test: %v\n", err)
			os.Exit(sdk.ExitHandlerError)
		}
	}
	sdk.Run(func(req sdk.Request) (sdk.Response, error) {
		if req.Kind != "verifier" {
			return sdk.Response{}, fmt.Errorf("called as %q; this plugin is a verifier", req.Kind)
		}
		var in schema.Input
		if err := req.Decode(&in); err != nil {
			return sdk.Response{}, err
		}
		out := decide.Decide(in)
		if !out.Verified {
			fmt.Fprintf(os.Stderr, "%s@%s: none of %d signatures verified\n", in.Repository, in.Digest, len(in.Signatures))
		}
		return sdk.Output(out)
	})
}
