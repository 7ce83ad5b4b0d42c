package coretest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

// Media types of the blobs the helpers push.
const (
	MediaTypeConfig  = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer   = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypePayload = "application/octet-stream" // a referrer's payload
)

// Document is an OCI (or Docker) manifest or index to build: fill what the
// test needs and call Build. MediaType is written into the document.
type Document struct {
	MediaType    string
	ArtifactType string
	Config       *core.Descriptor
	Layers       []core.Descriptor
	Manifests    []core.Descriptor // an index's
	Subject      *core.Descriptor
	Annotations  map[string]string
}

// Manifest is a built document: its exact bytes and their digest.
type Manifest struct {
	Document
	Body   []byte
	Digest digest.Digest
}

// Descriptor points at the manifest, e.g. as an index entry or a subject.
func (m Manifest) Descriptor() core.Descriptor {
	return core.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body)), ArtifactType: m.ArtifactType}
}

// Build encodes the document (schemaVersion 2) and digests it with sha256.
func (d Document) Build() Manifest {
	doc := struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType,omitempty"`
		ArtifactType  string            `json:"artifactType,omitempty"`
		Config        *core.Descriptor  `json:"config,omitempty"`
		Layers        []core.Descriptor `json:"layers,omitempty"`
		Manifests     []core.Descriptor `json:"manifests,omitempty"`
		Subject       *core.Descriptor  `json:"subject,omitempty"`
		Annotations   map[string]string `json:"annotations,omitempty"`
	}{2, d.MediaType, d.ArtifactType, d.Config, d.Layers, d.Manifests, d.Subject, d.Annotations}
	if isIndex(d.MediaType) && doc.Manifests == nil {
		doc.Manifests = []core.Descriptor{}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // strings, numbers and maps of strings always encode
	}
	return Manifest{Document: d, Body: b, Digest: digest.FromBytes(b)}
}

func isIndex(mt string) bool {
	return mt == core.MediaTypeOCIIndex || mt == core.MediaTypeDockerManifestList
}

// layerOf returns a gzipped tar holding seed.txt (whose text is seed) and
// the digest of the uncompressed tar (the config's diff id). The bytes
// depend on seed only.
func layerOf(seed string) (layer []byte, diffID digest.Digest) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	content := []byte(seed + "\n")
	tw.WriteHeader(&tar.Header{Name: "seed.txt", Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX})
	tw.Write(content)
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz) // no name, no time in the header
	zw.Write(tarball.Bytes())
	zw.Close()
	return gz.Bytes(), digest.FromBytes(tarball.Bytes())
}

// imageConfig is a minimal OCI image configuration for one layer, labelled
// with seed.
func imageConfig(seed string, diffID digest.Digest) []byte {
	b, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Labels": map[string]string{"dev.berth.coretest.seed": seed}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []digest.Digest{diffID}},
	})
	return b
}
