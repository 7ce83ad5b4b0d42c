package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

const (
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	listPage      = 100 // maxResults of each DescribeImages call
)

// result is one server's measurements: per-round rates.
type result struct {
	name            string
	put             []float64 // PutImage calls/s
	list            []float64 // full DescribeImages listings/s
	listCalls       []float64 // DescribeImages calls/s during the listings
	callsPerListing int
	get             []float64 // BatchGetImage calls/s
	layerNote       string    // how the blobs got there
	// the server's CPU time per operation (µs) over all timed rounds
	putCPU, listCPU, getCPU float64
}

// newClient is the one ECR client configuration used for both servers: static
// credentials, no retries (a failure is a failure), the SDK's default HTTP
// transport behind plainBody.
func newClient(endpoint string) *ecr.Client {
	return ecr.New(ecr.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Transport: plainBody{awshttp.NewBuildableClient().GetTransport()}},
	})
}

// plainBody works around a client-side race between smithy-go and net/http
// that a fast server triggers (see aws/aws-sdk-go-v2#1825 and #2737):
//
// smithy-go wraps the request body in a reader that has WriteTo and that
// answers io.EOF from WriteTo once it is closed; it closes it as soon as the
// response has arrived. net/http sends a body that is not a known in-memory
// reader straight to the socket, answers the response as soon as it comes,
// and only then, in its write goroutine, checks the body for extra bytes
// with io.Copy — which calls WriteTo and takes that io.EOF for a write error,
// so it closes the connection. The response body being read then fails with
// "use of closed network connection" (seen here on large DescribeImages
// pages), and otherwise every such request costs a new connection.
//
// Hiding WriteTo makes that last check go through Read, where io.EOF is the
// normal end. The wrapper is the same for both servers.
type plainBody struct{ rt http.RoundTripper }

func (p plainBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return p.rt.RoundTrip(r)
}

// blobs are the config every manifest refers to and the layers that make the
// manifests distinct. (Distinct layers, not only distinct manifest bytes:
// moto derives an image's digest from its layer digests alone.)
type blobs struct {
	config []byte
}

func newBlobs() blobs {
	config, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux"})
	return blobs{config: config}
}

// layer returns the small layer of the i-th image of a round: the bench
// measures the API, not blob transfer.
func (b blobs) layer(round, i int) []byte {
	l := make([]byte, 512)
	for j := range l {
		l[j] = byte(j * 7)
	}
	copy(l, fmt.Sprintf("berth bench layer %d/%d", round, i))
	return l
}

// manifest returns the manifest of the i-th image of a round.
func (b blobs) manifest(round, i int) string {
	desc := func(media string, data []byte) map[string]any {
		return map[string]any{"mediaType": media, "digest": digestOf(data), "size": len(data)}
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        desc(mediaConfig, b.config),
		"layers":        []any{desc(mediaLayer, b.layer(round, i))},
	})
	return string(m)
}

func digestOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func tag(i int) string { return fmt.Sprintf("t%05d", i) }

// uploadBlob sends data through the layer-upload API in one part.
func uploadBlob(ctx context.Context, c *ecr.Client, repo string, data []byte) error {
	up, err := c.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: &repo})
	if err != nil {
		return err
	}
	part, err := c.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: &repo, UploadId: up.UploadId,
		PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(int64(len(data) - 1)), LayerPartBlob: data})
	if err != nil {
		return err
	}
	if aws.ToInt64(part.LastByteReceived) != int64(len(data)-1) {
		return fmt.Errorf("UploadLayerPart: lastByteReceived %d, want %d", aws.ToInt64(part.LastByteReceived), len(data)-1)
	}
	done, err := c.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: &repo, UploadId: up.UploadId,
		LayerDigests: []string{digestOf(data)}})
	if err != nil {
		return err
	}
	if got := aws.ToString(done.LayerDigest); got != digestOf(data) {
		return fmt.Errorf("CompleteLayerUpload: digest %s, want %s", got, digestOf(data))
	}
	return nil
}

// prepareRepo creates repo and uploads the config and the layers of images
// [0, n) of round through the layer-upload API (not timed). A server without
// that API is accepted only if it takes manifests whose blobs were never
// uploaded (moto); the returned note says which way it went.
func prepareRepo(ctx context.Context, c *ecr.Client, repo string, b blobs, round, n int) (string, error) {
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: &repo}); err != nil {
		return "", fmt.Errorf("CreateRepository %s: %w", repo, err)
	}
	upErr := uploadBlob(ctx, c, repo, b.config)
	if upErr == nil {
		for i := range n {
			if err := uploadBlob(ctx, c, repo, b.layer(round, i)); err != nil {
				return "", fmt.Errorf("uploading layer %d to %s: %w", i, repo, err)
			}
		}
		return "config and layers uploaded with InitiateLayerUpload/UploadLayerPart/CompleteLayerUpload (not timed)", nil
	}
	if ctx.Err() != nil {
		return "", upErr
	}
	// Does it accept a manifest whose blobs it does not have? Probe in a
	// repository of its own, so that the measured ones hold only their images.
	probe := repo + "-probe"
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: &probe}); err != nil {
		return "", fmt.Errorf("layer upload failed (%v), and CreateRepository %s: %w", upErr, probe, err)
	}
	if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: &probe, ImageManifest: aws.String(b.manifest(-1, 0)), ImageTag: aws.String("probe")}); err != nil {
		return "", fmt.Errorf("layer upload failed (%v), and a manifest without uploaded blobs is refused: %w", upErr, err)
	}
	return fmt.Sprintf("no layer-upload API (%s); takes manifests without their blobs, so nothing uploaded", short(upErr)), nil
}

func short(err error) string {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return fmt.Sprintf("InitiateLayerUpload answers HTTP %d", re.HTTPStatusCode())
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// measure runs the three workloads against s: a warm-up, then o.reps rounds.
func measure(ctx context.Context, s *server, o options) (*result, error) {
	c := newClient(s.url)
	b := newBlobs()
	r := &result{name: s.name}

	// Warm-up: the first requests pay for lazy initialisation (moto imports
	// its ECR backend on first use); none of this is timed.
	warm := "bench/warm-up"
	if _, err := prepareRepo(ctx, c, warm, b, -2, 20); err != nil {
		return nil, err
	}
	for i := range 20 {
		if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: &warm, ImageManifest: aws.String(b.manifest(-2, i)), ImageTag: aws.String(tag(i))}); err != nil {
			return nil, fmt.Errorf("warm-up PutImage: %w", err)
		}
	}
	for i := range 50 {
		if _, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: &warm, ImageIds: []types.ImageIdentifier{{ImageTag: aws.String(tag(i % 20))}}}); err != nil {
			return nil, fmt.Errorf("warm-up BatchGetImage: %w", err)
		}
	}
	if _, err := listAll(ctx, c, warm, 20); err != nil {
		return nil, fmt.Errorf("warm-up DescribeImages: %w", err)
	}

	// PutImage: N distinct manifests into a fresh repository per round.
	var listed string
	digests := make([]string, o.images)
	cpu := newCPUMeter(s)
	for round := range o.reps {
		repo := fmt.Sprintf("bench/put-%d", round)
		note, err := prepareRepo(ctx, c, repo, b, round, o.images)
		if err != nil {
			return nil, err
		}
		r.layerNote = note
		cpu.start()
		start := time.Now()
		for i := range o.images {
			out, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: &repo, ImageManifest: aws.String(b.manifest(round, i)), ImageTag: aws.String(tag(i))})
			if err != nil {
				return nil, fmt.Errorf("PutImage %s:%s: %w", repo, tag(i), err)
			}
			if round == 0 {
				digests[i] = aws.ToString(out.Image.ImageId.ImageDigest)
			}
		}
		r.put = append(r.put, rate(o.images, time.Since(start)))
		cpu.stop(o.images)
		if round == 0 {
			listed = repo
		}
	}

	r.putCPU = cpu.perOp()

	// DescribeImages: full listings of the N images of round 0.
	cpu = newCPUMeter(s)
	for range o.reps {
		calls := 0
		cpu.start()
		start := time.Now()
		for range o.listings {
			k, err := listAll(ctx, c, listed, o.images)
			if err != nil {
				return nil, err
			}
			calls += k
			r.callsPerListing = k
		}
		d := time.Since(start)
		r.list = append(r.list, rate(o.listings, d))
		r.listCalls = append(r.listCalls, rate(calls, d))
		cpu.stop(o.listings)
	}
	r.listCPU = cpu.perOp()

	// BatchGetImage: by tag, one image per call.
	cpu = newCPUMeter(s)
	for range o.reps {
		cpu.start()
		start := time.Now()
		for i := range o.gets {
			j := i % o.images
			out, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: &listed, ImageIds: []types.ImageIdentifier{{ImageTag: aws.String(tag(j))}}})
			if err != nil {
				return nil, fmt.Errorf("BatchGetImage %s:%s: %w", listed, tag(j), err)
			}
			if len(out.Images) != 1 || len(out.Failures) != 0 || aws.ToString(out.Images[0].ImageId.ImageDigest) != digests[j] {
				return nil, fmt.Errorf("BatchGetImage %s:%s: %d images, %d failures, want 1 image %s", listed, tag(j), len(out.Images), len(out.Failures), digests[j])
			}
		}
		r.get = append(r.get, rate(o.gets, time.Since(start)))
		cpu.stop(o.gets)
	}
	r.getCPU = cpu.perOp()
	return r, nil
}

// listAll lists every image of repo with DescribeImages, following nextToken,
// and checks that there are want of them, each once. It returns the number of
// calls made.
func listAll(ctx context.Context, c *ecr.Client, repo string, want int) (int, error) {
	seen := make(map[string]bool, want)
	var token *string
	calls := 0
	for {
		out, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: &repo, MaxResults: aws.Int32(listPage), NextToken: token})
		if err != nil {
			return calls, fmt.Errorf("DescribeImages %s: %w", repo, err)
		}
		calls++
		for _, d := range out.ImageDetails {
			dg := aws.ToString(d.ImageDigest)
			if seen[dg] {
				return calls, fmt.Errorf("DescribeImages %s: %s listed twice", repo, dg)
			}
			seen[dg] = true
		}
		token = out.NextToken
		if token == nil {
			break
		}
		if calls > want+10 {
			return calls, fmt.Errorf("DescribeImages %s: no end after %d pages", repo, calls)
		}
	}
	if len(seen) != want {
		return calls, fmt.Errorf("DescribeImages %s: %d images, want %d", repo, len(seen), want)
	}
	return calls, nil
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
