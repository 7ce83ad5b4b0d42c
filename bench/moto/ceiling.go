package main

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// clientCeiling measures the client alone: the same ECR client calling
// BatchGetImage against a loopback handler that answers a canned response
// without looking at the request. No server can be measured faster than this
// with one sequential client on this machine.
func clientCeiling(ctx context.Context, calls int) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	body := []byte(`{"images":[{"registryId":"000000000000","repositoryName":"bench/put-0",` +
		`"imageId":{"imageDigest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","imageTag":"t00000"},` +
		`"imageManifest":"{}","imageManifestMediaType":"application/vnd.oci.image.manifest.v1+json"}],"failures":[]}`)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	c := newClient("http://" + ln.Addr().String())
	in := &ecr.BatchGetImageInput{RepositoryName: aws.String("bench/put-0"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("t00000")}}}
	for range 200 { // warm-up
		if _, err := c.BatchGetImage(ctx, in); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for range calls {
		if _, err := c.BatchGetImage(ctx, in); err != nil {
			return 0, err
		}
	}
	return rate(calls, time.Since(start)), nil
}
