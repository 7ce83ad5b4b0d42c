// Command approvedverifier is a user's verifier plugin for the e2e tests: an image is
// verified when one of its cosign signatures' payloads carries "approved-by" (no
// cryptography: it shows that the policy's verifier decides, not the built-in one).
package main

import (
	"bytes"

	"github.com/berth-dev/berth/plugins/sdk"
	"github.com/berth-dev/berth/plugins/verifiers/schema"
)

func main() {
	sdk.Run(func(req sdk.Request) (sdk.Response, error) {
		var in schema.Input
		if err := req.Decode(&in); err != nil {
			return sdk.Response{}, err
		}
		out := schema.Output{Candidates: []schema.Candidate{}}
		for _, s := range in.Signatures {
			c := schema.Candidate{ID: s.ID, Format: s.Format}
			if bytes.Contains(s.Payload, []byte("approved-by")) {
				c.Verified = true
				if !out.Verified {
					out.Verified, out.Signature, out.Key = true, s.ID, "approval"
				}
			} else {
				c.Reasons = []string{"no approval in the payload"}
			}
			out.Candidates = append(out.Candidates, c)
		}
		return sdk.Output(out)
	})
}
