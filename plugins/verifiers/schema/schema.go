// Package schema is the verifier plugin kind's input and output (plugins/ABI.md, "Verifier
// plugins"): what berth sends a verifier and what it reads back. Both berth (verify/) and the
// built-in verifier import it, so the two cannot drift apart; a plugin in another language
// follows ABI.md.
package schema

// Signature formats a verifier is handed.
const (
	// FormatCosign: cosign's legacy signature, a layer of a `sha256-<hex>.sig` tag's manifest.
	// Payload is the layer's bytes (a simple-signing JSON document), Signature the base64 text of
	// its `dev.cosignproject.cosign/signature` annotation, Certificate and Chain the PEM of its
	// `dev.sigstore.cosign/certificate` and `dev.sigstore.cosign/chain` annotations, if any.
	FormatCosign = "cosign"
	// FormatSigstoreBundle: a sigstore bundle (application/vnd.dev.sigstore.bundle*+json) found
	// as a referrer of the image; Envelope is the bundle's JSON, a DSSE envelope over an in-toto
	// statement whose subject is the image.
	FormatSigstoreBundle = "sigstore-bundle"
	// FormatNotation: a Notary Project signature found as a referrer of the image; Envelope is
	// the envelope's bytes, MediaType its media type (application/jose+json).
	FormatNotation = "notation"
)

// Input is a verifier's request input.
type Input struct {
	// Digest is the image's manifest digest: a signature counts only if it names this digest.
	Digest string `json:"digest"`
	// Repository is where the image is, for the plugin's log; it is not part of the decision.
	Repository string `json:"repository,omitempty"`
	// Signatures are the candidates berth found in the registry, in a stable order.
	Signatures []Signature `json:"signatures"`
	// Keys are the trusted public keys and certificates of the rule that applies.
	Keys []Key `json:"keys"`
	// Time is when the decision is made (RFC 3339), for certificate validity and expiry.
	Time string `json:"time"`
}

// Signature is one candidate signature.
type Signature struct {
	// ID names the candidate in the output: the manifest digest that carries it, and for a
	// legacy cosign signature the layer's index ("sha256:…#0").
	ID     string `json:"id"`
	Format string `json:"format"`
	// FormatCosign.
	Payload     []byte `json:"payload,omitempty"`
	Signature   string `json:"signature,omitempty"`
	Certificate string `json:"certificate,omitempty"`
	Chain       string `json:"chain,omitempty"`
	// FormatSigstoreBundle and FormatNotation.
	Envelope  []byte `json:"envelope,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
}

// Key is one trusted key: a PEM public key, or a PEM certificate that is trusted as a root (a
// signature's certificate chain must end at it) and whose own key verifies too.
type Key struct {
	// ID names the key in the output (berth uses the key's fingerprint).
	ID  string `json:"id"`
	PEM string `json:"pem"`
}

// Output is a verifier's response output.
type Output struct {
	// Verified is true when at least one candidate verified with at least one key.
	Verified bool `json:"verified"`
	// Signature and Key name the first candidate that verified and the key it verified with.
	Signature string `json:"signature,omitempty"`
	Key       string `json:"key,omitempty"`
	// Candidates say, for every candidate, whether it verified and if not why.
	Candidates []Candidate `json:"candidates"`
}

// Candidate is the verdict on one signature.
type Candidate struct {
	ID       string   `json:"id"`
	Format   string   `json:"format"`
	Verified bool     `json:"verified"`
	Key      string   `json:"key,omitempty"`
	Reasons  []string `json:"reasons,omitempty"`
}
