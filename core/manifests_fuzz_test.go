package core

import (
	"mime"
	"reflect"
	"testing"
)

// FuzzParseManifest parses any bytes under any declared Content-Type. It
// never panics, is deterministic, and rejects with KindManifestInvalid; what
// it accepts is a manifest berth can store and use: a manifest media type
// (the declared one when that is a manifest type), the body's exact size, an
// index's children or an image's config and layers (never both), valid
// digests and sizes, an image size ECR can report (not negative), and the
// same result when the stored bytes are parsed again under the media type
// they were stored as — which is what deleting an index does.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), "")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		m, err := ParseManifest(body, contentType)
		again, err2 := ParseManifest(body, contentType)
		if !reflect.DeepEqual(m, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("ParseManifest(%q, %q) gave %+v, %v, then %+v, %v", body, contentType, m, err, again, err2)
		}
		if err != nil {
			if !IsKind(err, KindManifestInvalid) {
				t.Fatalf("ParseManifest(%q, %q): error of kind %q: %v", body, contentType, KindOf(err), err)
			}
			return
		}
		if !isManifestType(m.MediaType) {
			t.Fatalf("ParseManifest(%q, %q): media type %q", body, contentType, m.MediaType)
		}
		if ct, _, _ := mime.ParseMediaType(contentType); isManifestType(ct) && m.MediaType != ct {
			t.Fatalf("ParseManifest(%q, %q): media type %q, not the declared one", body, contentType, m.MediaType)
		}
		if m.Size != int64(len(body)) {
			t.Fatalf("ParseManifest(%q, %q): size %d of %d bytes", body, contentType, m.Size, len(body))
		}
		if m.IsIndex() != (m.Config == nil) || m.IsIndex() && m.Layers != nil || !m.IsIndex() && m.Children != nil {
			t.Fatalf("ParseManifest(%q, %q): %s with config %v, %d layers, %d children", body, contentType, m.MediaType, m.Config, len(m.Layers), len(m.Children))
		}
		var descs []Descriptor
		for _, d := range []*Descriptor{m.Config, m.Subject} {
			if d != nil {
				descs = append(descs, *d)
			}
		}
		for _, d := range append(append(descs, m.Layers...), m.Children...) {
			if d.Digest.Validate() != nil || d.Size < 0 {
				t.Fatalf("ParseManifest(%q, %q): descriptor %+v", body, contentType, d)
			}
		}
		if n := m.layersSize(); n < 0 {
			t.Fatalf("ParseManifest(%q, %q): image size %d", body, contentType, n)
		}
		stored, err := ParseManifest(body, m.MediaType)
		if err != nil || !reflect.DeepEqual(stored, m) {
			t.Fatalf("ParseManifest(%q, %q) = %+v; parsed again as %s: %+v, %v", body, contentType, m, m.MediaType, stored, err)
		}
	})
}
