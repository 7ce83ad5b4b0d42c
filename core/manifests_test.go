package core

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

func TestPutManifestByTagAndDigest(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img := f.newImage(regA, "app", "one")
		m, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v1", ContentType: MediaTypeOCIManifest, Body: img.body})
		must(t, err, "PutManifest by tag")
		if m.Digest != img.digest || m.MediaType != MediaTypeOCIManifest || m.Size != int64(len(img.body)) {
			t.Fatalf("PutManifest = %+v", m)
		}
		if m.ArtifactType != mtConfig {
			t.Fatalf("ArtifactType = %q, want the config media type", m.ArtifactType)
		}
		if !m.PushedAt.Equal(f.clock.Now()) {
			t.Fatalf("PushedAt = %v, want %v", m.PushedAt, f.clock.Now())
		}
		if m.ConfigMediaType != mtConfig || m.ImageSize != img.layers[0].Size {
			t.Fatalf("ConfigMediaType %q, ImageSize %d", m.ConfigMediaType, m.ImageSize)
		}
		if got, _ := f.r.ResolveImage(bg, regA, "app", m.Digest, ""); !reflect.DeepEqual(got.Tags, []string{"v1"}) {
			t.Fatalf("tags %v", got.Tags)
		}
		parsed, err := ParseManifest(img.body, "")
		must(t, err, "ParseManifest")
		if parsed.Config == nil || !reflect.DeepEqual(*parsed.Config, img.config) || !reflect.DeepEqual(parsed.Layers, img.layers) {
			t.Fatalf("Config/Layers = %+v %+v", parsed.Config, parsed.Layers)
		}

		for _, ref := range []string{"v1", img.digest.String()} {
			got, body, err := f.r.GetManifest(bg, regA, "app", ref, nil)
			must(t, err, "GetManifest "+ref)
			if !bytes.Equal(body, img.body) || got.Digest != img.digest || got.MediaType != MediaTypeOCIManifest {
				t.Fatalf("GetManifest(%s) = %+v %q", ref, got, body)
			}
			st, err := f.r.StatManifest(bg, regA, "app", ref, nil)
			must(t, err, "StatManifest "+ref)
			if st.Digest != img.digest || st.Size != int64(len(img.body)) {
				t.Fatalf("StatManifest(%s) = %+v", ref, st)
			}
		}

		// By digest: stored, but no tag is created.
		img2 := f.newImage(regA, "app", "two")
		m2, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: img2.digest.String(), Body: img2.body})
		must(t, err, "PutManifest by digest")
		if m2.Digest != img2.digest || m2.MediaType != MediaTypeOCIManifest {
			t.Fatalf("PutManifest by digest = %+v", m2)
		}
		tags, _, err := f.r.ListTags(bg, regA, "app", Page{})
		must(t, err, "ListTags")
		if !reflect.DeepEqual(tags, []string{"v1"}) {
			t.Fatalf("tags = %v", tags)
		}
		if _, err := f.r.StatManifest(bg, regA, "app", img2.digest.String(), nil); err != nil {
			t.Fatal(err)
		}

		// sha512 references are honoured.
		img3 := f.newImage(regA, "app", "three")
		d512 := digest.SHA512.FromBytes(img3.body)
		m3, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: d512.String(), Body: img3.body})
		if err != nil || m3.Digest != d512 {
			t.Fatalf("sha512 PutManifest = %+v, %v", m3, err)
		}

		// Pushing the same manifest again keeps its first push time.
		pushed := m.PushedAt
		f.clock.Advance(3600e9)
		again, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v1-again", Body: img.body})
		must(t, err, "re-push")
		if !again.PushedAt.Equal(pushed) {
			t.Fatalf("re-push PushedAt = %v, want %v", again.PushedAt, pushed)
		}
	})
}

func TestPutManifestRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img := f.newImage(regA, "app", "one")
		put := func(ref, ct string, body []byte, extra ...string) error {
			_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: ref, ContentType: ct, Body: body, Tags: extra})
			return err
		}
		wantKind(t, put(digest.FromString("other").String(), "", img.body), KindDigestInvalid, "digest mismatch")
		wantKind(t, put("sha256:1234", "", img.body), KindDigestInvalid, "malformed digest reference")
		wantKind(t, put("-bad", "", img.body), KindTagInvalid, "invalid tag reference")
		wantKind(t, put("ok", "", img.body, "fine", "no/slash"), KindTagInvalid, "invalid extra tag")
		wantKind(t, put(strings.Repeat("t", 129), "", img.body), KindTagInvalid, "overlong tag")

		missingCfg := Descriptor{MediaType: mtConfig, Digest: digest.FromString("absent config"), Size: 14}
		missingLayer := Descriptor{MediaType: mtLayer, Digest: digest.FromString("absent layer"), Size: 12}
		body := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &missingCfg, Layers: img.layers}.bytes(t)
		wantKind(t, put("cfg", "", body), KindManifestBlobMissing, "missing config")
		body = manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &img.config, Layers: []Descriptor{img.layers[0], missingLayer}}.bytes(t)
		wantKind(t, put("layer", "", body), KindManifestBlobMissing, "missing layer")

		// A blob of another repository does not count.
		f.createRepo(regA, "other")
		elsewhere := f.putBlob(regA, "other", []byte("elsewhere"), mtLayer)
		body = manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &img.config, Layers: []Descriptor{elsewhere}}.bytes(t)
		wantKind(t, put("elsewhere", "", body), KindManifestBlobMissing, "layer of another repository")

		_, err := f.r.PutManifest(bg, regA, "nosuchrepo", PutManifestInput{Reference: "v1", Body: img.body})
		wantKind(t, err, KindRepositoryNotFound, "push into a missing repository")

		// Nothing of the refused pushes was stored.
		tags, _, err := f.r.ListTags(bg, regA, "app", Page{})
		if err != nil || len(tags) != 0 {
			t.Fatalf("tags after refused pushes: %v, %v", tags, err)
		}
		_, err = f.r.StatManifest(bg, regA, "app", img.digest.String(), nil)
		wantKind(t, err, KindManifestNotFound, "manifest after refused pushes")
	})
}

func TestPutManifestInvalid(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img := f.newImage(regA, "app", "one")
		cfg, layer := img.config, img.layers[0]
		cfgJSON := `{"mediaType":"` + cfg.MediaType + `","digest":"` + cfg.Digest.String() + `","size":` + itoa(cfg.Size) + `}`
		layerJSON := `{"mediaType":"` + layer.MediaType + `","digest":"` + layer.Digest.String() + `","size":` + itoa(layer.Size) + `}`
		for _, c := range []struct {
			name, ct, body string
		}{
			{"not JSON", "", `{"schemaVersion":2,`},
			{"a JSON array", "", `[1,2]`},
			{"trailing data", "", `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfgJSON + `} {}`},
			{"no schemaVersion", "", `{"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfgJSON + `}`},
			{"schemaVersion 1", "", `{"schemaVersion":1,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfgJSON + `}`},
			{"mediaType differs from Content-Type", MediaTypeDockerManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfgJSON + `}`},
			{"unsupported mediaType", "", `{"schemaVersion":2,"mediaType":"application/vnd.example+json","config":` + cfgJSON + `}`},
			{"no mediaType, no config, no manifests", "", `{"schemaVersion":2}`},
			{"image without config", MediaTypeOCIManifest, `{"schemaVersion":2,"layers":[` + layerJSON + `]}`},
			{"image with a manifests list", "", `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfgJSON + `,"manifests":[]}`},
			{"index with layers", "", `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[],"layers":[` + layerJSON + `]}`},
			{"index with config", MediaTypeOCIIndex, `{"schemaVersion":2,"manifests":[],"config":` + cfgJSON + `}`},
			{"bad layer digest", "", `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfgJSON + `,"layers":[{"mediaType":"x","digest":"sha256:nope","size":1}]}`},
			{"negative size", "", `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":{"mediaType":"x","digest":"` + cfg.Digest.String() + `","size":-1}}`},
			{"bad subject", "", `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfgJSON + `,"subject":{"mediaType":"x","digest":"nope","size":1}}`},
			{"bad child digest", "", `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[{"mediaType":"` + MediaTypeOCIManifest + `","digest":"md5:abc","size":1}]}`},
			{"data not base64", "", `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":{"mediaType":"x","digest":"` + cfg.Digest.String() + `","size":` + itoa(cfg.Size) + `,"data":"!!!"}}`},
		} {
			_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "bad", ContentType: c.ct, Body: []byte(c.body)})
			wantKind(t, err, KindManifestInvalid, c.name)
		}

		// The media type comes from Content-Type, the body, or the shape of the document.
		for _, c := range []struct {
			name, ct, body, want string
		}{
			{"Content-Type only", MediaTypeDockerManifest, `{"schemaVersion":2,"config":` + cfgJSON + `}`, MediaTypeDockerManifest},
			{"Content-Type with parameters", MediaTypeOCIManifest + "; charset=utf-8", `{"schemaVersion":2,"config":` + cfgJSON + `}`, MediaTypeOCIManifest},
			{"body only", "", `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":` + cfgJSON + `}`, MediaTypeDockerManifest},
			{"generic Content-Type", "application/json", `{"schemaVersion":2,"config":` + cfgJSON + `,"layers":[` + layerJSON + `]}`, MediaTypeOCIManifest},
			{"both agree", MediaTypeOCIManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfgJSON + `}`, MediaTypeOCIManifest},
			{"index by shape", "", `{"schemaVersion":2,"manifests":[]}`, MediaTypeOCIIndex},
		} {
			m, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "ok", ContentType: c.ct, Body: []byte(c.body)})
			if err != nil || m.MediaType != c.want {
				t.Fatalf("%s: PutManifest = %q, %v; want media type %q", c.name, m.MediaType, err, c.want)
			}
			got, _ := f.r.StatManifest(bg, regA, "app", "ok", nil)
			if got.MediaType != c.want {
				t.Fatalf("%s: stored media type %q", c.name, got.MediaType)
			}
		}
		// Docker manifests do not get an artifact type from their config.
		m, _ := f.r.StatManifest(bg, regA, "app", digest.FromString(`{"schemaVersion":2,"mediaType":"`+MediaTypeDockerManifest+`","config":`+cfgJSON+`}`).String(), nil)
		if m.ArtifactType != "" {
			t.Fatalf("docker manifest ArtifactType = %q", m.ArtifactType)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestPutManifestIndexAndReferences(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		child, _ := f.pushImage(regA, "app", "child", "child")
		childDesc := Descriptor{MediaType: MediaTypeOCIManifest, Digest: child.digest, Size: int64(len(child.body))}
		absent := Descriptor{MediaType: MediaTypeOCIManifest, Digest: digest.FromString("absent child"), Size: 12}

		bad := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: []Descriptor{childDesc, absent}}.bytes(t)
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "multi", Body: bad})
		wantKind(t, err, KindManifestChildMissing, "index with a missing child")
		// A blob with the child's digest is not a manifest.
		blobChild := f.putBlob(regA, "app", []byte("a blob, not a manifest"), MediaTypeOCIManifest)
		bad = manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: []Descriptor{blobChild}}.bytes(t)
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "multi", Body: bad})
		wantKind(t, err, KindManifestChildMissing, "index whose child is only a blob")

		good := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: []Descriptor{childDesc}}.bytes(t)
		m, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "multi", ContentType: MediaTypeOCIIndex, Body: good})
		must(t, err, "index")
		if !m.IsIndex() || m.ConfigMediaType != "" || m.ImageSize != child.layers[0].Size {
			t.Fatalf("index = %+v", m)
		}
		if ci, err := f.r.ResolveImage(bg, regA, "app", child.digest, ""); err != nil || !reflect.DeepEqual(ci.Parents, []digest.Digest{m.Digest}) {
			t.Fatalf("the child's parents: %+v, %v", ci.Parents, err)
		}

		// Docker manifest list works the same way.
		list := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeDockerManifestList, Manifests: []Descriptor{childDesc}}.bytes(t)
		m, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "list", ContentType: MediaTypeDockerManifestList, Body: list})
		if err != nil || m.MediaType != MediaTypeDockerManifestList {
			t.Fatalf("manifest list = %+v, %v", m, err)
		}

		// Non-distributable layers need not be pushed.
		for _, mt := range []string{
			"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
			"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		} {
			foreign := Descriptor{MediaType: mt, Digest: digest.FromString("foreign " + mt), Size: 99}
			body := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &child.config, Layers: []Descriptor{child.layers[0], foreign}}.bytes(t)
			if _, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "foreign", Body: body}); err != nil {
				t.Fatalf("non-distributable layer %s: %v", mt, err)
			}
		}
		// ...but an ordinary layer with the same bytes missing is refused.
		body := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &child.config, Layers: []Descriptor{{MediaType: mtLayer, Digest: digest.FromString("foreign x"), Size: 9}}}.bytes(t)
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "foreign", Body: body})
		wantKind(t, err, KindManifestBlobMissing, "ordinary missing layer")
	})
}

func TestPutManifestDescriptorData(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		empty := []byte("{}")
		cfg := f.putBlob(regA, "app", empty, MediaTypeOCIEmpty)
		layer := f.putBlob(regA, "app", []byte("layer"), mtLayer)
		withData := func(data string, size int64) []byte {
			return []byte(`{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","artifactType":"application/vnd.example","config":{"mediaType":"` + MediaTypeOCIEmpty +
				`","digest":"` + cfg.Digest.String() + `","size":` + itoa(size) + `,"data":"` + data + `"},"layers":[{"mediaType":"` + mtLayer + `","digest":"` + layer.Digest.String() + `","size":5}]}`)
		}
		// "e30=" is base64 for "{}".
		m, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "ok", Body: withData("e30=", 2)})
		must(t, err, "matching data")
		if m.ArtifactType != "application/vnd.example" {
			t.Fatalf("explicit artifactType = %q", m.ArtifactType)
		}
		// "e30K" is "{}\n": right size claimed wrong, and wrong bytes.
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "bad", Body: withData("e30K", 2)})
		wantKind(t, err, KindManifestInvalid, "data of the wrong length")
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "bad", Body: withData("e30K", 3)})
		wantKind(t, err, KindManifestInvalid, "data that does not hash to the digest")
		_, err = f.r.StatManifest(bg, regA, "app", "bad", nil)
		wantKind(t, err, KindManifestNotFound, "tag of a refused push")
	})
}

func TestPutManifestSizeLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img := f.newImage(regA, "app", "big")
		padded := func(total int) []byte {
			doc := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &img.config, Layers: img.layers, Annotations: map[string]string{"pad": ""}}
			base := doc.bytes(t)
			doc.Annotations["pad"] = strings.Repeat("p", total-len(base))
			b := doc.bytes(t)
			if len(b) != total {
				t.Fatalf("built %d bytes, want %d", len(b), total)
			}
			return b
		}
		at := padded(MaxManifestSize)
		m, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "limit", Body: at})
		if err != nil || m.Size != MaxManifestSize {
			t.Fatalf("manifest of exactly the limit: %d, %v", m.Size, err)
		}
		over := padded(MaxManifestSize + 1)
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "over", Body: over})
		wantKind(t, err, KindManifestTooLarge, "manifest over the limit")
		_, err = f.r.StatManifest(bg, regA, "app", "over", nil)
		wantKind(t, err, KindManifestNotFound, "tag of a refused push")
	})
}

func TestTags(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		a, _ := f.pushImage(regA, "app", "latest", "a")
		b := f.newImage(regA, "app", "b")
		// Extra tags, including a repeat of the reference.
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "latest", Body: b.body, Tags: []string{"v2", "stable", "latest"}})
		must(t, err, "PutManifest with extra tags")
		for tag, want := range map[string]digest.Digest{"latest": b.digest, "v2": b.digest, "stable": b.digest} {
			m, err := f.r.StatManifest(bg, regA, "app", tag, nil)
			if err != nil || m.Digest != want {
				t.Fatalf("tag %s -> %s, %v; want %s", tag, m.Digest, err, want)
			}
		}
		// The moved-away manifest stays, untagged.
		if _, err := f.r.StatManifest(bg, regA, "app", a.digest.String(), nil); err != nil {
			t.Fatalf("manifest lost its tag and itself: %v", err)
		}
		// Tags by digest with extra tags.
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: a.digest.String(), Body: a.body, Tags: []string{"old"}})
		must(t, err, "PutManifest by digest with a tag")
		if m, _ := f.r.StatManifest(bg, regA, "app", "old", nil); m.Digest != a.digest {
			t.Fatalf("old -> %s", m.Digest)
		}

		tags, more, err := f.r.ListTags(bg, regA, "app", Page{})
		if err != nil || more || !reflect.DeepEqual(tags, []string{"latest", "old", "stable", "v2"}) {
			t.Fatalf("ListTags = %v %v %v", tags, more, err)
		}

		// DeleteTag: the tag goes, the manifest stays.
		must(t, f.r.DeleteTag(bg, regA, "app", "stable"), "DeleteTag")
		_, err = f.r.StatManifest(bg, regA, "app", "stable", nil)
		wantKind(t, err, KindManifestNotFound, "deleted tag")
		if m, err := f.r.StatManifest(bg, regA, "app", "v2", nil); err != nil || m.Digest != b.digest {
			t.Fatalf("other tag of the manifest: %v", err)
		}
		wantKind(t, f.r.DeleteTag(bg, regA, "app", "stable"), KindManifestNotFound, "deleting a missing tag")
		wantKind(t, f.r.DeleteTag(bg, regA, "app", "-bad"), KindTagInvalid, "deleting an invalid tag")
		wantKind(t, f.r.DeleteTag(bg, regA, "app", b.digest.String()), KindTagInvalid, "DeleteTag given a digest")
		if _, err := f.r.StatManifest(bg, regA, "app", b.digest.String(), nil); err != nil {
			t.Fatalf("DeleteTag given a digest removed the manifest: %v", err)
		}
		wantKind(t, f.r.DeleteTag(bg, regA, "nosuchrepo", "v2"), KindRepositoryNotFound, "DeleteTag in a missing repository")
		// DeleteManifest with a tag is DeleteTag.
		must(t, f.r.DeleteManifest(bg, regA, "app", "v2"), "DeleteManifest by tag")
		_, err = f.r.StatManifest(bg, regA, "app", "v2", nil)
		wantKind(t, err, KindManifestNotFound, "tag deleted through DeleteManifest")
		if _, err := f.r.StatManifest(bg, regA, "app", b.digest.String(), nil); err != nil {
			t.Fatalf("DeleteManifest by tag removed the manifest: %v", err)
		}
	})
}

func TestListTagsPaging(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		f.createRepo(regA, "app/sub") // its tags must never leak into app's
		img, _ := f.pushImage(regA, "app", "v1", "x")
		want := []string{"A", "a", "a.1", "a1", "b", "v1", "v10", "v2"}
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: img.digest.String(), Body: img.body, Tags: []string{"v2", "v10", "b", "a", "A", "a1", "a.1"}})
		must(t, err, "tagging")
		sub, _ := f.pushImage(regA, "app/sub", "zz", "sub")
		_ = sub

		var walked []string
		p := Page{N: 3}
		pages := 0
		for {
			tags, more, err := f.r.ListTags(bg, regA, "app", p)
			must(t, err, "ListTags")
			pages++
			if len(tags) > 3 {
				t.Fatalf("page of %d", len(tags))
			}
			walked = append(walked, tags...)
			if !more {
				break
			}
			p.Last = tags[len(tags)-1]
		}
		if !reflect.DeepEqual(walked, want) || pages != 3 {
			t.Fatalf("walked %v in %d pages, want %v", walked, pages, want)
		}
		tags, more, _ := f.r.ListTags(bg, regA, "app", Page{Last: "a1", N: 2})
		if !reflect.DeepEqual(tags, []string{"b", "v1"}) || !more {
			t.Fatalf("after a1: %v %v", tags, more)
		}
		tags, more, _ = f.r.ListTags(bg, regA, "app", Page{Last: "v1", N: 2})
		if !reflect.DeepEqual(tags, []string{"v10", "v2"}) || more {
			t.Fatalf("after v1 (exactly N left): %v %v", tags, more)
		}
		tags, more, _ = f.r.ListTags(bg, regA, "app", Page{Last: "v2"})
		if len(tags) != 0 || more {
			t.Fatalf("after the last tag: %v %v", tags, more)
		}
		_, _, err = f.r.ListTags(bg, regA, "nosuchrepo", Page{})
		wantKind(t, err, KindRepositoryNotFound, "ListTags of a missing repository")
	})
}

func TestManifestAcceptNegotiation(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img, _ := f.pushImage(regA, "app", "oci", "x")
		idx := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: []Descriptor{{MediaType: MediaTypeOCIManifest, Digest: img.digest, Size: int64(len(img.body))}}}.bytes(t)
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "idx", Body: idx})
		must(t, err, "index")

		for _, c := range []struct {
			ref    string
			accept []string
			ok     bool
		}{
			{"oci", nil, true},
			{"oci", []string{"*/*"}, true},
			{"oci", []string{"application/json"}, true}, // names no manifest type
			{"oci", []string{MediaTypeOCIManifest}, true},
			{"oci", []string{MediaTypeDockerManifest + ", " + MediaTypeOCIManifest + ";q=0.5"}, true},
			{"oci", []string{MediaTypeDockerManifest, MediaTypeOCIManifest}, true},
			{"oci", []string{MediaTypeDockerManifest}, false},
			{"oci", []string{MediaTypeOCIIndex, MediaTypeDockerManifestList}, false},
			{img.digest.String(), []string{MediaTypeOCIIndex}, false},
			{"idx", []string{MediaTypeOCIManifest}, false},
			{"idx", []string{MediaTypeOCIManifest, MediaTypeOCIIndex}, true},
		} {
			_, _, gerr := f.r.GetManifest(bg, regA, "app", c.ref, c.accept)
			_, serr := f.r.StatManifest(bg, regA, "app", c.ref, c.accept)
			if c.ok {
				if gerr != nil || serr != nil {
					t.Fatalf("%s with Accept %q: %v / %v", c.ref, c.accept, gerr, serr)
				}
			} else {
				wantKind(t, gerr, KindManifestNotAcceptable, "GetManifest "+c.ref+" "+strings.Join(c.accept, "|"))
				wantKind(t, serr, KindManifestNotAcceptable, "StatManifest "+c.ref+" "+strings.Join(c.accept, "|"))
			}
		}

		_, _, err = f.r.GetManifest(bg, regA, "app", "nope", nil)
		wantKind(t, err, KindManifestNotFound, "unknown tag")
		_, _, err = f.r.GetManifest(bg, regA, "app", digest.FromString("nope").String(), nil)
		wantKind(t, err, KindManifestNotFound, "unknown digest")
		_, _, err = f.r.GetManifest(bg, regA, "app", "sha256:short", nil)
		wantKind(t, err, KindDigestInvalid, "malformed digest")
		_, err = f.r.StatManifest(bg, regA, "app", "-bad", nil)
		wantKind(t, err, KindTagInvalid, "invalid tag")
		_, _, err = f.r.GetManifest(bg, regA, "nosuchrepo", "oci", nil)
		wantKind(t, err, KindRepositoryNotFound, "missing repository")
		_, _, err = f.r.GetManifest(bg, regB, "app", "oci", nil)
		wantKind(t, err, KindRepositoryNotFound, "same repository name in another account")
		// A blob digest is not a manifest.
		_, err = f.r.StatManifest(bg, regA, "app", img.config.Digest.String(), nil)
		wantKind(t, err, KindManifestNotFound, "blob digest as a manifest reference")
	})
}

func TestDeleteManifest(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img, _ := f.pushImage(regA, "app", "v1", "x")
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v1", Body: img.body, Tags: []string{"v1.0", "latest"}})
		must(t, err, "tagging")
		other, _ := f.pushImage(regA, "app", "other", "y")

		idx := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: []Descriptor{{MediaType: MediaTypeOCIManifest, Digest: img.digest, Size: int64(len(img.body))}}}.bytes(t)
		idxM, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "multi", Body: idx})
		must(t, err, "index")

		err = f.r.DeleteManifest(bg, regA, "app", img.digest.String())
		wantKind(t, err, KindManifestReferenced, "deleting a manifest an index lists")
		if m, err := f.r.StatManifest(bg, regA, "app", "v1", nil); err != nil || m.Digest != img.digest {
			t.Fatalf("refused delete changed tags: %v", err)
		}

		must(t, f.r.DeleteManifest(bg, regA, "app", idxM.Digest.String()), "deleting the index")
		_, err = f.r.StatManifest(bg, regA, "app", "multi", nil)
		wantKind(t, err, KindManifestNotFound, "index tag after delete")

		must(t, f.r.DeleteManifest(bg, regA, "app", img.digest.String()), "deleting the child")
		for _, ref := range []string{"v1", "v1.0", "latest", img.digest.String()} {
			_, err := f.r.StatManifest(bg, regA, "app", ref, nil)
			wantKind(t, err, KindManifestNotFound, "after delete: "+ref)
		}
		tags, _, _ := f.r.ListTags(bg, regA, "app", Page{})
		if !reflect.DeepEqual(tags, []string{"other"}) {
			t.Fatalf("tags after delete: %v", tags)
		}
		if m, err := f.r.StatManifest(bg, regA, "app", "other", nil); err != nil || m.Digest != other.digest {
			t.Fatalf("unrelated manifest: %v", err)
		}
		// Its blobs stay in the repository (layers are shared between images).
		if _, err := f.r.StatBlob(bg, regA, "app", img.layers[0].Digest); err != nil {
			t.Fatalf("layer after manifest delete: %v", err)
		}

		wantKind(t, f.r.DeleteManifest(bg, regA, "app", img.digest.String()), KindManifestNotFound, "deleting twice")
		wantKind(t, f.r.DeleteManifest(bg, regA, "app", "sha256:zz"), KindDigestInvalid, "malformed digest")
		wantKind(t, f.r.DeleteManifest(bg, regA, "nosuchrepo", other.digest.String()), KindRepositoryNotFound, "missing repository")

		// It can be pushed again and is then deletable again.
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "again", Body: img.body})
		must(t, err, "re-push")
		must(t, f.r.DeleteManifest(bg, regA, "app", img.digest.String()), "delete re-pushed")

		// Now that the repository holds only blobs and "other", it still is not empty.
		_, err = f.r.DeleteRepository(bg, regA, "app", false)
		wantKind(t, err, KindRepositoryNotEmpty, "repository with one image left")
		must(t, f.r.DeleteManifest(bg, regA, "app", other.digest.String()), "delete last image")
		_, err = f.r.DeleteRepository(bg, regA, "app", false)
		must(t, err, "repository without images")
	})
}

func TestReferrers(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		subj, _ := f.pushImage(regA, "app", "v1", "subject")
		subjDesc := Descriptor{MediaType: MediaTypeOCIManifest, Digest: subj.digest, Size: int64(len(subj.body))}
		emptyCfg := f.putBlob(regA, "app", []byte("{}"), MediaTypeOCIEmpty)
		sigCfg := f.putBlob(regA, "app", []byte(`{"sig":true}`), "application/vnd.example.sig.config")

		// Explicit artifactType.
		sbom := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, ArtifactType: "application/vnd.example.sbom", Config: &emptyCfg,
			Layers: []Descriptor{emptyCfg}, Subject: &subjDesc, Annotations: map[string]string{"org.example": "sbom"}}.bytes(t)
		sbomM, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: digest.FromBytes(sbom).String(), Body: sbom})
		must(t, err, "sbom")
		if sbomM.Subject == nil || sbomM.Subject.Digest != subj.digest {
			t.Fatalf("Subject = %+v", sbomM.Subject)
		}
		// No artifactType: falls back to config.mediaType.
		sig := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &sigCfg, Layers: []Descriptor{emptyCfg}, Subject: &subjDesc}.bytes(t)
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: digest.FromBytes(sig).String(), Body: sig})
		must(t, err, "signature")
		// An index can refer too.
		idx := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, ArtifactType: "application/vnd.example.sbom", Manifests: []Descriptor{}, Subject: &subjDesc}.bytes(t)
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: digest.FromBytes(idx).String(), Body: idx})
		must(t, err, "referring index")
		// The subject need not exist.
		dangling := Descriptor{MediaType: MediaTypeOCIManifest, Digest: digest.FromString("not pushed"), Size: 10}
		orphan := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &sigCfg, Layers: []Descriptor{emptyCfg}, Subject: &dangling}.bytes(t)
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: digest.FromBytes(orphan).String(), Body: orphan})
		must(t, err, "dangling subject")

		all, err := f.r.Referrers(bg, regA, "app", subj.digest, "")
		must(t, err, "Referrers")
		byDigest := map[digest.Digest]Descriptor{}
		for _, d := range all {
			byDigest[d.Digest] = d.Descriptor()
		}
		if len(all) != 3 || len(byDigest) != 3 {
			t.Fatalf("Referrers = %+v", all)
		}
		want := Descriptor{MediaType: MediaTypeOCIManifest, Digest: digest.FromBytes(sbom), Size: int64(len(sbom)), ArtifactType: "application/vnd.example.sbom", Annotations: map[string]string{"org.example": "sbom"}}
		if got := byDigest[want.Digest]; !reflect.DeepEqual(got, want) {
			t.Fatalf("sbom descriptor = %+v, want %+v", got, want)
		}
		if got := byDigest[digest.FromBytes(sig)]; got.ArtifactType != "application/vnd.example.sig.config" || got.Size != int64(len(sig)) {
			t.Fatalf("signature descriptor = %+v", got)
		}
		if got := byDigest[digest.FromBytes(idx)]; got.MediaType != MediaTypeOCIIndex || got.ArtifactType != "application/vnd.example.sbom" {
			t.Fatalf("index descriptor = %+v", got)
		}

		sboms, err := f.r.Referrers(bg, regA, "app", subj.digest, "application/vnd.example.sbom")
		must(t, err, "filtered")
		if len(sboms) != 2 {
			t.Fatalf("sbom referrers = %+v", sboms)
		}
		sigs, _ := f.r.Referrers(bg, regA, "app", subj.digest, "application/vnd.example.sig.config")
		if len(sigs) != 1 || sigs[0].Digest != digest.FromBytes(sig) {
			t.Fatalf("config-type filter = %+v", sigs)
		}
		none, err := f.r.Referrers(bg, regA, "app", subj.digest, "application/none")
		if err != nil || none == nil || len(none) != 0 {
			t.Fatalf("no match = %#v, %v", none, err)
		}
		dang, _ := f.r.Referrers(bg, regA, "app", dangling.Digest, "")
		if len(dang) != 1 || dang[0].Digest != digest.FromBytes(orphan) {
			t.Fatalf("dangling subject referrers = %+v", dang)
		}

		// Unknown repository or subject: empty, not an error.
		for _, c := range []struct {
			reg  RegistryID
			repo string
			d    digest.Digest
		}{{regA, "nosuchrepo", subj.digest}, {regB, "app", subj.digest}, {regA, "app", digest.FromString("nothing")}} {
			got, err := f.r.Referrers(bg, c.reg, c.repo, c.d, "")
			if err != nil || got == nil || len(got) != 0 {
				t.Fatalf("Referrers(%s, %s) = %#v, %v", c.reg, c.repo, got, err)
			}
		}

		// A deleted referrer is no longer listed.
		must(t, f.r.DeleteManifest(bg, regA, "app", digest.FromBytes(sig).String()), "delete signature")
		all, _ = f.r.Referrers(bg, regA, "app", subj.digest, "")
		if len(all) != 2 {
			t.Fatalf("after deleting a referrer: %+v", all)
		}
	})
}

func TestPutManifestIsOneTransaction(t *testing.T) {
	eachStoreCreateOnPush(t, func(t *testing.T, f *fixture) {
		// Create-on-push creates the repository inside PutManifest's
		// transaction; a reference check failing later undoes it.
		cfg := Descriptor{MediaType: mtConfig, Digest: digest.FromString("absent"), Size: 6}
		body := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &cfg}.bytes(t)
		_, err := f.r.PutManifest(bg, regA, "fresh/repo", PutManifestInput{Reference: "v1", Body: body, Tags: []string{"also"}})
		wantKind(t, err, KindManifestBlobMissing, "push with a missing blob")
		_, err = f.r.GetRepository(bg, regA, "fresh/repo")
		wantKind(t, err, KindRepositoryNotFound, "repository created by a failed push")

		// Same in an existing repository whose tag points elsewhere: nothing moves.
		img, _ := f.pushImage(regA, "app", "v1", "x")
		body = manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &img.config, Layers: []Descriptor{img.layers[0], {MediaType: mtLayer, Digest: digest.FromString("gone"), Size: 4}}}.bytes(t)
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v1", Body: body, Tags: []string{"new"}})
		wantKind(t, err, KindManifestBlobMissing, "push with a missing layer")
		if m, err := f.r.StatManifest(bg, regA, "app", "v1", nil); err != nil || m.Digest != img.digest {
			t.Fatalf("v1 after failed push = %s, %v", m.Digest, err)
		}
		_, err = f.r.StatManifest(bg, regA, "app", "new", nil)
		wantKind(t, err, KindManifestNotFound, "tag of a failed push")
		_, err = f.r.StatManifest(bg, regA, "app", digest.FromBytes(body).String(), nil)
		wantKind(t, err, KindManifestNotFound, "manifest of a failed push")
	})
}

// A manifest list's imageSizeInBytes is "the max size of all manifests in
// the list" (the ECR model's ImageDetail), each counted as an image: its
// layers. A nested index counts by its own largest image.
func TestIndexSizeIsItsLargestImage(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		small, _ := f.pushImage(regA, "app", "small", "s")
		big := f.newImage(regA, "app", "a much larger layer than the other one has")
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "big", Body: big.body})
		must(t, err, "push big")
		inner := f.pushIndex(regA, "app", "inner", big)
		idx := f.pushIndex(regA, "app", "multi", small, big)
		if want := big.layers[0].Size; idx.ImageSize != want || inner.ImageSize != want {
			t.Fatalf("index sizes %d and %d, want the largest image's %d", idx.ImageSize, inner.ImageSize, want)
		}
		innerImg := image{digest: inner.Digest, body: mustBytes(t, f, inner.Digest)}
		outer := f.pushIndex(regA, "app", "outer", small, innerImg)
		if outer.ImageSize != big.layers[0].Size {
			t.Fatalf("nested index size %d, want %d", outer.ImageSize, big.layers[0].Size)
		}
	})
}

func mustBytes(t *testing.T, f *fixture, d digest.Digest) []byte {
	t.Helper()
	b, err := f.r.ManifestBytes(bg, regA, "app", d)
	must(t, err, "ManifestBytes")
	return b
}

// A blob a manifest of the repository still uses cannot be deleted (the
// image would become unpullable); once the manifest is gone, it can.
func TestDeleteBlobInUseIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img, _ := f.pushImage(regA, "app", "v1", "used")
		err := f.r.DeleteBlob(bg, regA, "app", img.layers[0].Digest)
		wantKind(t, err, KindBlobInUse, "deleting a layer in use")
		if _, _, err := f.r.GetManifest(bg, regA, "app", "v1", nil); err != nil {
			t.Fatal(err)
		}
		if got := readBlob(t, f, regA, "app", img.layers[0].Digest); got == "" {
			t.Fatal("the refused deletion removed the layer")
		}
		// A blob only uploaded, used by no manifest, goes.
		loose := f.putBlob(regA, "app", []byte("loose"), mtLayer)
		must(t, f.r.DeleteBlob(bg, regA, "app", loose.Digest), "deleting an unused blob")
		must(t, f.r.DeleteManifest(bg, regA, "app", img.digest.String()), "DeleteManifest")
		must(t, f.r.DeleteBlob(bg, regA, "app", img.layers[0].Digest), "deleting the layer once its manifest is gone")
		must(t, f.r.DeleteBlob(bg, regA, "app", img.config.Digest), "deleting the config once its manifest is gone")
	})
}

// countingKV counts the keys write transactions scan, per bucket.
type countingKV struct {
	kv.Store
	mu      sync.Mutex
	scanned map[string]int
}

type countingTx struct {
	kv.Tx
	c *countingKV
}

func (c *countingKV) Update(fn func(kv.Tx) error) error {
	return c.Store.Update(func(tx kv.Tx) error { return fn(countingTx{tx, c}) })
}

func (c *countingKV) Batch(fn func(kv.Tx) error) error {
	return c.Store.Batch(func(tx kv.Tx) error { return fn(countingTx{tx, c}) })
}

func (t countingTx) Scan(bucket string, prefix, start []byte, fn func(k, v []byte) bool) error {
	return t.Tx.Scan(bucket, prefix, start, func(k, v []byte) bool {
		t.c.mu.Lock()
		t.c.scanned[bucket]++
		t.c.mu.Unlock()
		return fn(k, v)
	})
}

// Adding a tag to an image that has many reads none of its other tags: a
// push costs the same for the thousandth tag as for the first.
func TestPushingATagReadsNoOtherTags(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img, _ := f.pushImage(regA, "app", "t0", "many tags")
		for i := 1; i < 200; i++ {
			_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "t" + itoa(int64(i)), Body: img.body})
			must(t, err, "tag")
		}
		c := &countingKV{Store: f.kv, scanned: map[string]int{}}
		r := New(Options{KV: c, Blobs: f.blobs, Clock: f.clock, Log: quietLog()})
		defer r.Bus().Close()
		_, err := r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "t200", Body: img.body})
		must(t, err, "the 201st tag")
		if n := c.scanned[bDigestTags]; n != 0 {
			t.Fatalf("the push scanned %d of the image's tags", n)
		}
	})
}

// ECR's PutImage refuses a manifest that names no media type when none is
// given beside it, before the digest or the content is judged; one that is
// not JSON is left to the manifest's own checks, and one whose type is
// given beside it is stored.
func TestPutManifestRequireMediaTypeIsJudgedFirst(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		img := f.newImage(regA, "app", "one")
		untyped := bytes.Replace(img.body, []byte(`"mediaType":"`+MediaTypeOCIManifest+`",`), nil, 1)
		if bytes.Equal(untyped, img.body) {
			t.Fatalf("no top-level mediaType in %s", img.body)
		}
		wrong := digest.FromString("other").String()
		for _, in := range []PutManifestInput{
			{Reference: "v1", Body: untyped, RequireMediaType: true},
			{Reference: wrong, Body: untyped, RequireMediaType: true},
			{Reference: "v1", Body: bytes.Replace(untyped, []byte(`"schemaVersion"`), []byte(`"schema\u0056ersion"`), 1), RequireMediaType: true}, // encoding/json's path
			{Reference: "v1", Body: []byte(` {"schemaVersion":"2"}`), RequireMediaType: true},
		} {
			_, err := f.r.PutManifest(bg, regA, "app", in)
			if !IsKind(err, KindInvalidParameter) || err.Error() != "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'" {
				t.Fatalf("PutManifest(%s, %q): %v", in.Reference, in.Body, err)
			}
		}
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v1", Body: []byte(`{"mediaType":`), RequireMediaType: true})
		wantKind(t, err, KindManifestInvalid, "a body that is not JSON")
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v1", Body: untyped, ContentType: MediaTypeOCIManifest, RequireMediaType: true})
		must(t, err, "the type beside the body")
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v2", Body: untyped})
		must(t, err, "the type inferred, as /v2 does")
	})
}

// Since layout 7 no index says which manifests use a blob: DeleteBlob reads
// the repository's manifests. A use is found however the manifest's JSON
// spells the digest (a \u escape is valid JSON); a digest named only as a
// subject or in an annotation is no use; a manifest of another repository
// does not hold this repository's link.
func TestDeleteBlobFindsItsUsersInTheManifestsThemselves(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.createRepo(regA, "app")
		f.createRepo(regA, "other")
		img := f.newImage(regA, "app", "escaped")
		layer := string(img.layers[0].Digest)
		escaped := bytes.Replace(img.body, []byte(`"digest":"`+layer), []byte(`"digest":"sha256\u003a`+layer[len("sha256:"):]), 1)
		if bytes.Equal(escaped, img.body) {
			t.Fatal("the layer's digest was not rewritten; the test proves nothing")
		}
		_, err := f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v1", ContentType: MediaTypeOCIManifest, Body: escaped})
		must(t, err, "push the manifest with an escaped digest")
		wantKind(t, f.r.DeleteBlob(bg, regA, "app", img.layers[0].Digest), KindBlobInUse, "deleting a layer named with an escape")

		named := f.putBlob(regA, "app", []byte("only named"), mtLayer)
		cfg := f.putBlob(regA, "app", []byte(`{"seed":"annotated"}`), mtConfig)
		body := manifestDoc{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: &cfg, Layers: []Descriptor{img.layers[0]},
			Subject:     &Descriptor{MediaType: MediaTypeOCIManifest, Digest: named.Digest, Size: named.Size},
			Annotations: map[string]string{"see": string(named.Digest)}}.bytes(t)
		_, err = f.r.PutManifest(bg, regA, "app", PutManifestInput{Reference: "v2", ContentType: MediaTypeOCIManifest, Body: body})
		must(t, err, "push the manifest naming a blob as its subject")
		must(t, f.r.DeleteBlob(bg, regA, "app", named.Digest), "deleting a blob named only as a subject and an annotation")

		// The same layer in another repository, used by nothing there.
		f.putBlob(regA, "other", []byte("layer bytes of escaped"), mtLayer)
		must(t, f.r.DeleteBlob(bg, regA, "other", img.layers[0].Digest), "deleting the other repository's unused link")
		wantKind(t, f.r.DeleteBlob(bg, regA, "app", cfg.Digest), KindBlobInUse, "deleting the config in use")
	})
}
