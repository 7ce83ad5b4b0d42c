package core

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// decodeManifestStd is what decodeManifest did before readManifestJSON:
// encoding/json alone.
func decodeManifestStd(body []byte) (rawManifest, bool) {
	var raw rawManifest
	dec := json.NewDecoder(bytes.NewReader(body))
	if dec.Decode(&raw) != nil || dec.More() {
		return rawManifest{}, false
	}
	return raw, true
}

// The manifests clients push, as they write them: each is taken by the
// reader (not left to encoding/json), and decoded as encoding/json decodes it.
var fastManifests = []string{
	// crane / go-containerregistry: compact OCI image
	`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":37,"digest":"sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":512,"digest":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]}`,
	// docker: indented Docker v2 manifest
	"{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n   \"config\": {\n      \"mediaType\": \"application/vnd.docker.container.image.v1+json\",\n      \"size\": 1469,\n      \"digest\": \"sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945\"\n   },\n   \"layers\": [\n      {\n         \"mediaType\": \"application/vnd.docker.image.rootfs.diff.tar.gzip\",\n         \"size\": 2814446,\n         \"digest\": \"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n      }\n   ]\n}\n",
	// an index with platforms (skipped members, nested) and annotations
	`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":525,"digest":"sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945","platform":{"architecture":"arm64","os":"linux","variant":"v8","os.features":["a",1.5e3,true,null,{"x":[]}]}}],"annotations":{"org.opencontainers.image.created":"2026-12-01T00:00:00Z"}}`,
	// an artifact with a subject, an artifact type and the empty config
	`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945","size":525},"annotations":{}}`,
	// an empty index
	`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`,
}

func TestReadManifestJSONTakesWhatClientsPush(t *testing.T) {
	for _, body := range fastManifests {
		var raw rawManifest
		if !readManifestJSON([]byte(body), &raw) {
			t.Errorf("left to encoding/json: %s", body)
			continue
		}
		want, ok := decodeManifestStd([]byte(body))
		if !ok || !reflect.DeepEqual(raw, want) {
			t.Errorf("%s:\nread %+v\nwant %+v (%v)", body, raw, want, ok)
		}
	}
}

// Bodies the reader leaves to encoding/json, valid JSON or not: its answer
// (an error's wording, a merge of members given twice, a folded name, a
// replaced byte) stands for them.
func TestReadManifestJSONLeavesTheRestToEncodingJSON(t *testing.T) {
	for _, body := range []string{
		``, `null`, `[]`, `{`, `{"schemaVersion":2}}`, `{"schemaVersion":2} x`,
		`{"schemaVersion":2.0}`, `{"schemaVersion":2e0}`, `{"schemaVersion":02}`, `{"schemaVersion":null}`,
		`{"schemaVersion":"2"}`, `{"schemaVersion":1234567890123456789}`,
		`{"mediaType":"a","mediaType":"b"}`, `{"MediaType":"a"}`, `{"mediatype":"a"}`, "{\"\u212aey\":1}",
		`{"config":{"size":1,"Size":2}}`, `{"config":{"data":"YQ=="}}`, `{"config":null}`, `{"layers":null}`, `{"layers":[null]}`,
		`{"mediaType":"a\u0062"}`, "{\"mediaType\":\"\xff\"}", "{\"mediaType\":\"a\tb\"}",
		`{"annotations":{"a":1}}`, `{"annotations":{"a\n":"b"}}`, `{"x":01}`, `{"x":-}`, `{"x":1.}`, `{"x":"\x"}`, `{"x":"\u12"}`,
		`{"x":[1,]}`, `{"x":{"a":1,}}`, `{"x":tru}`,
	} {
		var raw rawManifest
		if readManifestJSON([]byte(body), &raw) {
			t.Errorf("taken: %s", body)
		}
	}
}

// FuzzReadManifestJSON holds the reader to encoding/json: whatever it takes
// encoding/json takes too, and decodes the same.
func FuzzReadManifestJSON(f *testing.F) {
	for _, body := range fastManifests {
		f.Add([]byte(body))
	}
	f.Add([]byte(`{"schemaVersion":-0,"x":{"y":[1,-2.5E+3,"\u00e9\n",false]},"config":{"Digest2":"","size":-7}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var raw rawManifest
		if !readManifestJSON(body, &raw) {
			return
		}
		want, ok := decodeManifestStd(body)
		if !ok || !reflect.DeepEqual(raw, want) {
			t.Fatalf("%q:\nread %+v\nencoding/json %+v (ok %v)", body, raw, want, ok)
		}
	})
}

// BenchmarkParseManifest parses crane's compact image manifest: as a push
// does (reader), and by encoding/json alone, as before the reader.
func BenchmarkParseManifest(b *testing.B) {
	body := []byte(fastManifests[0])
	b.Run("reader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseManifest(body, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw, ok := decodeManifestStd(body)
			if _, err := raw.manifest(body, ""); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
}
