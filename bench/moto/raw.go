package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// The server-bound mode. The SDK client costs more CPU per call than berth
// does, so with it the table above measures the client as much as the
// server. Here a light client sends the same request bytes to both servers
// from -raw-conns connections at once, for -raw-time per workload, so each
// rate is what the server itself sustains on this machine.

// rawResult is one server's rates (calls/s) and CPU per call (µs).
type rawResult struct {
	put, get, describe          float64
	putCPU, getCPU, describeCPU float64
}

// The read workloads use rawRepo, whose image has one tag; PutImage adds its
// tags to the same image in rawPutRepo, so the reads see the same data on
// both servers however fast each one takes tags.
const (
	rawRepo    = "bench/raw"
	rawPutRepo = "bench/raw-put"
)

// rawAuth is a SigV4-shaped Authorization header: both servers take the
// caller from it and neither checks the signature.
const rawAuth = "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00"

func measureRaw(ctx context.Context, s *server, o options) (*rawResult, error) {
	c := newClient(s.url)
	b := newBlobs()
	manifest := b.manifest(9999, 0)
	for _, repo := range []string{rawRepo, rawPutRepo} {
		if _, err := prepareRepo(ctx, c, repo, b, 9999, 1); err != nil {
			return nil, err
		}
		if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(manifest), ImageTag: aws.String("base")}); err != nil {
			return nil, fmt.Errorf("PutImage base: %w", err)
		}
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.rawConns}}
	r := &rawResult{}
	var n atomic.Int64
	var err error
	// PutImage: the image again under a new tag each call.
	r.put, r.putCPU, err = rawLoad(ctx, hc, s, o, "PutImage", func() []byte {
		return fmt.Appendf(nil, `{"repositoryName":%q,"imageTag":"p%d","imageManifest":%q}`, rawPutRepo, n.Add(1), manifest)
	})
	if err != nil {
		return nil, err
	}
	get := []byte(fmt.Sprintf(`{"repositoryName":%q,"imageIds":[{"imageTag":"base"}]}`, rawRepo))
	if r.get, r.getCPU, err = rawLoad(ctx, hc, s, o, "BatchGetImage", func() []byte { return get }); err != nil {
		return nil, err
	}
	desc := []byte(fmt.Sprintf(`{"repositoryName":%q,"imageIds":[{"imageTag":"base"}]}`, rawRepo))
	if r.describe, r.describeCPU, err = rawLoad(ctx, hc, s, o, "DescribeImages", func() []byte { return desc }); err != nil {
		return nil, err
	}
	return r, nil
}

// rawLoad runs one workload from o.rawConns connections for o.rawTime and
// returns calls/s and server CPU µs per call. Any failed call fails the run.
func rawLoad(ctx context.Context, hc *http.Client, s *server, o options, op string, body func() []byte) (float64, float64, error) {
	var calls atomic.Int64
	var firstErr atomic.Value
	meter := newCPUMeter(s)
	meter.start()
	start := time.Now()
	deadline := start.Add(o.rawTime)
	var wg sync.WaitGroup
	for range o.rawConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil && firstErr.Load() == nil {
				req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/", bytes.NewReader(body()))
				req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921."+op)
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
				req.Header.Set("X-Amz-Date", "20261122T000000Z")
				req.Header.Set("Authorization", rawAuth)
				resp, err := hc.Do(req)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s: HTTP %d: %s", op, resp.StatusCode, out))
					return
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if e := firstErr.Load(); e != nil {
		return 0, 0, e.(error)
	}
	meter.stop(int(calls.Load()))
	return float64(calls.Load()) / elapsed.Seconds(), meter.perOp(), ctx.Err()
}

func printRawReport(w io.Writer, o options, berth, moto *rawResult) {
	fmt.Fprintf(w, "\nserver-bound: the same request bytes from a light HTTP client, %d connections at once, %s per workload\n\n", o.rawConns, o.rawTime)
	fmt.Fprintln(w, "| workload | berth calls/s | moto calls/s | berth/moto | berth CPU µs/call | moto CPU µs/call |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: |")
	row := func(what string, b, m, bc, mc float64) {
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %s | %s | %s |\n", what, b, m, ratio(b, m), cpu(bc), cpu(mc))
	}
	row("PutImage (the image under a new tag each call)", berth.put, moto.put, berth.putCPU, moto.putCPU)
	row("BatchGetImage by tag", berth.get, moto.get, berth.getCPU, moto.getCPU)
	row("DescribeImages by imageId", berth.describe, moto.describe, berth.describeCPU, moto.describeCPU)
}
