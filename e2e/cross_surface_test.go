package e2e

import (
	"bytes"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestCrossSurfacePushOCIDescribeECR pushes an image over /v2 with
// go-containerregistry, authenticated with the token GetAuthorizationToken
// issued, into a repository CreateRepository made, and finds it through the
// ECR API.
func TestCrossSurfacePushOCIDescribeECR(t *testing.T) {
	t.Parallel()
	b := Start(t)
	s := defaultSDK(t, b)
	ctx := s.ctx
	s.createRepo("xs/pushed")
	opts := ggcr(newTransport(t, b), s.token())

	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "xs/pushed:v1"), img, opts...); err != nil {
		t.Fatalf("push: %v", err)
	}
	dg, _ := img.Digest()
	mt, _ := img.MediaType()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var layerSize int64
	for _, l := range m.Layers {
		layerSize += l.Size
	}

	t.Run("DescribeImages", func(t *testing.T) {
		out, err := s.ecr.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("xs/pushed")})
		noErr(t, "DescribeImages", err)
		if len(out.ImageDetails) != 1 {
			t.Fatalf("imageDetails: %+v", out.ImageDetails)
		}
		d := out.ImageDetails[0]
		eq(t, "imageDigest", aws.ToString(d.ImageDigest), dg.String())
		eq(t, "imageTags", sortedTags(d.ImageTags), "v1")
		eq(t, "imageManifestMediaType", aws.ToString(d.ImageManifestMediaType), string(mt))
		eq(t, "imageSizeInBytes", aws.ToInt64(d.ImageSizeInBytes), layerSize)
		if d.ImagePushedAt == nil {
			t.Fatal("no imagePushedAt")
		}
	})

	t.Run("BatchCheckLayerAvailability", func(t *testing.T) {
		want := map[string]int64{m.Config.Digest.String(): m.Config.Size}
		digests := []string{m.Config.Digest.String()}
		for _, l := range m.Layers {
			want[l.Digest.String()] = l.Size
			digests = append(digests, l.Digest.String())
		}
		out, err := s.ecr.BatchCheckLayerAvailability(ctx, &ecr.BatchCheckLayerAvailabilityInput{RepositoryName: aws.String("xs/pushed"), LayerDigests: digests})
		noErr(t, "BatchCheckLayerAvailability", err)
		if len(out.Failures) != 0 || len(out.Layers) != len(digests) {
			t.Fatalf("layers %+v, failures %+v", out.Layers, out.Failures)
		}
		for _, l := range out.Layers {
			size, ok := want[aws.ToString(l.LayerDigest)]
			if !ok || l.LayerAvailability != types.LayerAvailabilityAvailable || aws.ToInt64(l.LayerSize) != size {
				t.Fatalf("layer %s: %s, %d bytes; want AVAILABLE, %d bytes", aws.ToString(l.LayerDigest), l.LayerAvailability, aws.ToInt64(l.LayerSize), size)
			}
		}
	})

	t.Run("BatchGetImage", func(t *testing.T) {
		out, err := s.ecr.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("xs/pushed"),
			ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}, AcceptedMediaTypes: []string{string(mt)}})
		noErr(t, "BatchGetImage", err)
		if len(out.Images) != 1 {
			t.Fatalf("images %+v, failures %+v", out.Images, out.Failures)
		}
		raw, _ := img.RawManifest()
		eq(t, "imageManifest", aws.ToString(out.Images[0].ImageManifest), string(raw))
		eq(t, "imageDigest", aws.ToString(out.Images[0].ImageId.ImageDigest), dg.String())
	})
}

// TestCrossSurfacePutImagePullOCI pushes an image through the ECR layer API
// and PutImage, and pulls it over /v2 with go-containerregistry.
func TestCrossSurfacePutImagePullOCI(t *testing.T) {
	t.Parallel()
	b := Start(t)
	s := defaultSDK(t, b)
	s.createRepo("xs/pulled")
	img := s.newImage("xs/pulled", 1500, 70000, 1)
	put := s.putImage("xs/pulled", "v1", img.Manifest)
	eq(t, "PutImage digest", aws.ToString(put.ImageId.ImageDigest), img.Digest)
	opts := ggcr(newTransport(t, b), s.token())

	for _, r := range []string{"xs/pulled:v1", "xs/pulled@" + img.Digest} {
		t.Run(r, func(t *testing.T) {
			got, err := remote.Image(ref(t, b, r), opts...)
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			dg, err := got.Digest()
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "digest", dg.String(), img.Digest)
			rawManifest, err := got.RawManifest()
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "manifest", string(rawManifest), img.Manifest)
			cfg, err := got.RawConfigFile()
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			if !bytes.Equal(cfg, img.Config) {
				t.Fatalf("config: got %q, want %q", cfg, img.Config)
			}
			layers, err := got.Layers()
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "layers", len(layers), len(img.Layers))
			for i, l := range layers {
				ldg, err := l.Digest()
				if err != nil {
					t.Fatal(err)
				}
				eq(t, "layer digest", ldg.String(), img.LayerDescs[i].Digest)
				data := readAll(t, l.Compressed)
				if !bytes.Equal(data, img.Layers[i]) {
					t.Fatalf("layer %d: pulled %d bytes differ from the %d uploaded", i, len(data), len(img.Layers[i]))
				}
				if h, _, _ := v1.SHA256(bytes.NewReader(data)); h.String() != img.LayerDescs[i].Digest {
					t.Fatalf("layer %d: pulled bytes hash to %s", i, h)
				}
			}
		})
	}

	t.Run("the pull is recorded", func(t *testing.T) {
		d := s.waitPullTime("xs/pulled", types.ImageIdentifier{ImageTag: aws.String("v1")})
		if !slices.Contains(d.ImageTags, "v1") {
			t.Fatalf("tags %v", d.ImageTags)
		}
	})
}

// TestCrossSurfaceOneUploadSession: an upload started with the ECR layer API
// is the same session /v2 sees, so its bytes can arrive on either surface.
func TestCrossSurfaceOneUploadSession(t *testing.T) {
	t.Parallel()
	b := Start(t)
	s := defaultSDK(t, b)
	s.createRepo("xs/session")
	data := randomBytes(3000)

	up, err := s.ecr.InitiateLayerUpload(s.ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("xs/session")})
	noErr(t, "InitiateLayerUpload", err)
	id := aws.ToString(up.UploadId)
	_, err = s.ecr.UploadLayerPart(s.ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String("xs/session"), UploadId: aws.String(id),
		PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(999), LayerPartBlob: data[:1000]})
	noErr(t, "UploadLayerPart", err)

	c := raw(t, b, s.token())
	resp, body := c.do("GET", "/v2/xs/session/blobs/uploads/"+id, nil, nil)
	expect(t, "upload status over /v2", resp, body, 204)
	eq(t, "Range after the ECR part", resp.Header.Get("Range"), "0-999")
	resp, body = c.do("PATCH", "/v2/xs/session/blobs/uploads/"+id, data[1000:], map[string]string{"Content-Range": "1000-2999"})
	expect(t, "PATCH over /v2", resp, body, 202)

	dg := sha256Digest(data)
	done, err := s.ecr.CompleteLayerUpload(s.ctx, &ecr.CompleteLayerUploadInput{RepositoryName: aws.String("xs/session"),
		UploadId: aws.String(id), LayerDigests: []string{dg}})
	noErr(t, "CompleteLayerUpload", err)
	eq(t, "layerDigest", aws.ToString(done.LayerDigest), dg)
	c.expectBlob("xs/session", dg, data)
}
