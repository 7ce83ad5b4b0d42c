package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/berth-dev/berth/bench/internal/benchutil"
)

// The server-bound mode. The SDK client costs more CPU per call than berth
// does, so with it the table above measures the client as much as the
// server. Here a light client sends the same request bytes to both servers
// from -raw-conns connections at once, for -raw-time per workload and round,
// so each rate is what the server itself sustains on this machine. The
// rounds alternate which server goes first; each cell is the median of
// -raw-rounds rounds with its min–max.

// The server-bound workloads.
const (
	rawPut           = iota // PutImage: the image under a new tag each call
	rawGet                  // BatchGetImage by tag
	rawDescribe             // DescribeImages by imageId
	rawDescribePage         // DescribeImages, a page of 100 of the large repository
	rawDescribeWhole        // DescribeImages, the whole of a repository of 100 images
	rawRepos                // DescribeRepositories by name
	rawList                 // ListImages, a page of 100 of the large repository
	rawListWhole            // ListImages, the whole of a repository of 100 images
	nRaw
)

var rawOps = [nRaw]string{"PutImage", "BatchGetImage", "DescribeImages", "DescribeImages", "DescribeImages", "DescribeRepositories", "ListImages", "ListImages"}

func rawNames(o options) [nRaw]string {
	return [nRaw]string{
		"PutImage (the image under a new tag each call; a fresh repository each round)",
		"BatchGetImage by tag",
		"DescribeImages by imageId",
		fmt.Sprintf("DescribeImages, a page of %d of a %d-image repository (cycling through its pages)", listPage, o.rawImages),
		fmt.Sprintf("DescribeImages, the whole of a %d-image repository in one answer", listPage),
		"DescribeRepositories by name",
		fmt.Sprintf("ListImages, a page of %d of a %d-image repository (cycling through its pages)", listPage, o.rawImages),
		fmt.Sprintf("ListImages, the whole of a %d-image repository in one answer", listPage),
	}
}

// judgedOn says which row judges a paged row's target when the two servers
// answer its pages with different numbers of images (moto ignores
// maxResults and answers the whole repository): the row that lists a
// repository of one page, where both answer the same images.
var judgedOn = map[int]int{rawDescribePage: rawDescribeWhole, rawList: rawListWhole}

// rawTarget is issue 8's target for every server-bound workload.
const rawTarget = 50

// The read workloads use rawRepo, whose image has one tag; the paged ones use
// rawBigRepo, and the whole-repository ones rawPageRepo (listPage images,
// one answer on either server: like for like); PutImage adds its tags to the one image of a fresh repository
// each round, so the reads see the same data on both servers however fast
// each one takes tags.
const (
	rawRepo     = "bench/raw"
	rawBigRepo  = "bench/raw-big"
	rawPageRepo = "bench/raw-page"
)

func rawPutRepo(round int) string { return fmt.Sprintf("bench/raw-put-%d", round) }

// rawAuth is a SigV4-shaped Authorization header: both servers take the
// caller from it and neither checks the signature.
const rawAuth = "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/ecr/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00"

// rawResult is one server's figures: per workload, per round.
type rawResult struct {
	rate [nRaw][]float64 // calls/s
	cpu  [nRaw][]float64 // server CPU µs per call (-1: unknown)

	manifest string // the image every PutImage sends

	// the request bodies of every page of the large repository, and how
	// many images the first page's answer held
	describePages, listPages     [][]byte
	describePerPage, listPerPage int
	// the images each answer about rawPageRepo held (listPage on both
	// servers, checked when prepared)
	describeWhole, listWhole int
}

// prepareRaw creates what the server-bound workloads read and write (not
// timed) and collects the pages of the large repository.
func prepareRaw(ctx context.Context, s *server, o options) (*rawResult, error) {
	c := newClient(s.url)
	b := newBlobs()
	r := &rawResult{manifest: b.manifest(9999, 0)}
	repos := []string{rawRepo}
	for round := range o.rawRounds {
		repos = append(repos, rawPutRepo(round))
	}
	for _, repo := range repos {
		if _, err := prepareRepo(ctx, c, repo, b, 9999, 1); err != nil {
			return nil, err
		}
		if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(r.manifest), ImageTag: aws.String("base")}); err != nil {
			return nil, fmt.Errorf("PutImage base: %w", err)
		}
	}
	fmt.Fprintf(logw, "%s: pushing %d images into %s ...\n", s.name, o.rawImages, rawBigRepo)
	if _, err := prepareRepo(ctx, c, rawBigRepo, b, 8888, o.rawImages); err != nil {
		return nil, err
	}
	for i := range o.rawImages {
		if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(rawBigRepo), ImageManifest: aws.String(b.manifest(8888, i)), ImageTag: aws.String(tag(i))}); err != nil {
			return nil, fmt.Errorf("PutImage %s:%s: %w", rawBigRepo, tag(i), err)
		}
	}
	fmt.Fprintf(logw, "%s: pushing %d images into %s ...\n", s.name, listPage, rawPageRepo)
	if _, err := prepareRepo(ctx, c, rawPageRepo, b, 7777, listPage); err != nil {
		return nil, err
	}
	for i := range listPage {
		if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(rawPageRepo), ImageManifest: aws.String(b.manifest(7777, i)), ImageTag: aws.String(tag(i))}); err != nil {
			return nil, fmt.Errorf("PutImage %s:%s: %w", rawPageRepo, tag(i), err)
		}
	}
	d, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(rawPageRepo), MaxResults: aws.Int32(listPage)})
	if err != nil {
		return nil, fmt.Errorf("DescribeImages %s: %w", rawPageRepo, err)
	}
	l, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String(rawPageRepo), MaxResults: aws.Int32(listPage)})
	if err != nil {
		return nil, fmt.Errorf("ListImages %s: %w", rawPageRepo, err)
	}
	if r.describeWhole, r.listWhole = len(d.ImageDetails), len(l.ImageIds); r.describeWhole != listPage || r.listWhole != listPage ||
		aws.ToString(d.NextToken) != "" || aws.ToString(l.NextToken) != "" {
		return nil, fmt.Errorf("%s: DescribeImages answered %d images, ListImages %d ids (want %d each, in one answer)", rawPageRepo, r.describeWhole, r.listWhole, listPage)
	}
	r.describePages, r.describePerPage, err = collectPages(o.rawImages, func(tok *string) (int, *string, error) {
		out, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(rawBigRepo), MaxResults: aws.Int32(listPage), NextToken: tok})
		if err != nil {
			return 0, nil, fmt.Errorf("DescribeImages: %w", err)
		}
		return len(out.ImageDetails), out.NextToken, nil
	})
	if err != nil {
		return nil, err
	}
	r.listPages, r.listPerPage, err = collectPages(o.rawImages, func(tok *string) (int, *string, error) {
		out, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String(rawBigRepo), MaxResults: aws.Int32(listPage), NextToken: tok,
			Filter: &types.ListImagesFilter{TagStatus: types.TagStatusAny}})
		if err != nil {
			return 0, nil, fmt.Errorf("ListImages: %w", err)
		}
		return len(out.ImageIds), out.NextToken, nil
	})
	return r, err
}

// collectPages follows nextToken through a listing of the large repository
// and returns the request body of each page, and the first page's length.
func collectPages(images int, call func(*string) (int, *string, error)) ([][]byte, int, error) {
	var bodies [][]byte
	var tok *string
	first := -1
	for {
		req := map[string]any{"repositoryName": rawBigRepo, "maxResults": listPage}
		if tok != nil {
			req["nextToken"] = *tok
		}
		body, err := json.Marshal(req)
		if err != nil {
			return nil, 0, err
		}
		bodies = append(bodies, body)
		n, next, err := call(tok)
		if err != nil {
			return nil, 0, err
		}
		if first < 0 {
			first = n
		}
		if next == nil || *next == "" {
			return bodies, first, nil
		}
		if len(bodies) > images/listPage+10 {
			return nil, 0, fmt.Errorf("no end after %d pages", len(bodies))
		}
		tok = next
	}
}

// rawBody returns the request bodies of workload w in round on this server.
func (r *rawResult) rawBody(w, round int) func() []byte {
	fixed := func(b []byte) func() []byte { return func() []byte { return b } }
	cycle := func(pages [][]byte) func() []byte {
		var n atomic.Int64
		return func() []byte { return pages[int(n.Add(1)-1)%len(pages)] }
	}
	switch w {
	case rawPut:
		var n atomic.Int64
		repo := rawPutRepo(round)
		return func() []byte {
			return fmt.Appendf(nil, `{"repositoryName":%q,"imageTag":"p%d","imageManifest":%q}`, repo, n.Add(1), r.manifest)
		}
	case rawGet:
		return fixed(fmt.Appendf(nil, `{"repositoryName":%q,"imageIds":[{"imageTag":"base"}]}`, rawRepo))
	case rawDescribe:
		return fixed(fmt.Appendf(nil, `{"repositoryName":%q,"imageIds":[{"imageTag":"base"}]}`, rawRepo))
	case rawDescribePage:
		return cycle(r.describePages)
	case rawDescribeWhole, rawListWhole:
		return fixed(fmt.Appendf(nil, `{"repositoryName":%q,"maxResults":%d}`, rawPageRepo, listPage))
	case rawRepos:
		return fixed(fmt.Appendf(nil, `{"repositoryNames":[%q]}`, rawRepo))
	case rawList:
		return cycle(r.listPages)
	}
	panic("unknown workload")
}

// measureRaw runs every server-bound workload for o.rawRounds rounds on both
// servers, alternating which one goes first.
func measureRaw(ctx context.Context, servers []*server, results []*rawResult, o options) error {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.rawConns}}
	names := rawNames(o)
	for round := range o.rawRounds {
		for w := range nRaw {
			for k := range servers {
				i := (k + round) % len(servers)
				s, r := servers[i], results[i]
				fmt.Fprintf(logw, "server-bound round %d/%d: %s on %s\n", round+1, o.rawRounds, names[w], s.name)
				rate, cpu, err := rawLoad(ctx, hc, s, o, rawOps[w], r.rawBody(w, round))
				if err != nil {
					return fmt.Errorf("%s, server-bound %s: %w (server output: %s)", s.name, names[w], err, s.logTail())
				}
				r.rate[w] = append(r.rate[w], rate)
				r.cpu[w] = append(r.cpu[w], cpu)
			}
		}
	}
	return nil
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

// rangeCell is a median with its min–max.
func rangeCell(v []float64) string {
	lo, hi := benchutil.MinMax(v)
	if len(v) < 2 {
		return benchutil.Num(benchutil.Median(v))
	}
	return fmt.Sprintf("%s (%s–%s)", benchutil.Num(benchutil.Median(v)), benchutil.Num(lo), benchutil.Num(hi))
}

// cpuCell is the median CPU per call, "n/a" where it could not be read.
func cpuCell(v []float64) string {
	for _, x := range v {
		if x < 0 {
			return "n/a"
		}
	}
	return cpu(benchutil.Median(v))
}

func printRawReport(w io.Writer, o options, berth, moto *rawResult) {
	fmt.Fprintf(w, "\n**Server-bound**: the same request bytes from a light HTTP client, %d connections at once, %s per workload "+
		"and round; each cell is the median of %d rounds, with the min–max in brackets (the berth/moto range pairs berth's worst "+
		"round with moto's best and the other way round). Target (issue 8): berth ≥ %d× moto's rate on every workload.\n\n",
		o.rawConns, o.rawTime, o.rawRounds, rawTarget)
	fmt.Fprintln(w, "| workload | berth calls/s | moto calls/s | berth/moto | berth CPU µs/call | moto CPU µs/call | target |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | --- |")
	names := rawNames(o)
	perPage := map[int][2]int{rawDescribePage: {berth.describePerPage, moto.describePerPage}, rawList: {berth.listPerPage, moto.listPerPage}}
	for i := range nRaw {
		b, m := berth.rate[i], moto.rate[i]
		mb, mm := benchutil.Median(b), benchutil.Median(m)
		lb, hb := benchutil.MinMax(b)
		lm, hm := benchutil.MinMax(m)
		rat := "n/a"
		verdict := "not measured"
		if mb > 0 && mm > 0 && lm > 0 {
			r := mb / mm
			rat = fmt.Sprintf("%s (%s–%s)", ratio(mb, mm), ratio(lb, hm), ratio(hb, lm))
			verdict = fmt.Sprintf("≥ %d×: met", rawTarget)
			if r < rawTarget {
				verdict = fmt.Sprintf("≥ %d×: **MISSED**", rawTarget)
			}
			if (lb/hm >= rawTarget) != (hb/lm >= rawTarget) {
				verdict += " (within the round-to-round range)"
			}
			if pp, ok := perPage[i]; ok && pp[0] != pp[1] {
				verdict = fmt.Sprintf("not judged: answers of %d and %d images (judged on %q)", pp[0], pp[1], names[judgedOn[i]])
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", names[i], rangeCell(b), rangeCell(m), rat, cpuCell(berth.cpu[i]), cpuCell(moto.cpu[i]), verdict)
	}
	fmt.Fprintln(w)
	pages := func(r *rawResult) string {
		return fmt.Sprintf("DescribeImages answers %d images at a time (%d answers to list them all), ListImages %d image ids (%d answers)",
			r.describePerPage, len(r.describePages), r.listPerPage, len(r.listPages))
	}
	fmt.Fprintf(w, "Paged rows, the %d-image repository asked for %d at a time: berth %s; moto %s.", o.rawImages, listPage, pages(berth), pages(moto))
	for _, p := range []struct {
		op         string
		w          int
		bPer, mPer int
	}{{"DescribeImages", rawDescribePage, berth.describePerPage, moto.describePerPage}, {"ListImages", rawList, berth.listPerPage, moto.listPerPage}} {
		if p.bPer == p.mPer || p.bPer <= 0 || p.mPer <= 0 {
			continue
		}
		// Rates scaled to the same number of images per answer.
		mb := benchutil.Median(berth.rate[p.w])
		mm := benchutil.Median(moto.rate[p.w]) * float64(p.mPer) / float64(p.bPer)
		fmt.Fprintf(w, " **%s: the two answer pages of different sizes, so that row does not compare like for like**; "+
			"scaled to %d images per answer, moto's rate would be %s calls/s and berth/moto %s.",
			p.op, p.bPer, benchutil.Num(mm), ratio(mb, mm))
	}
	fmt.Fprintln(w)
	var rounds []string
	for i := range nRaw {
		rounds = append(rounds, fmt.Sprintf("%s: berth %s, moto %s", rawOps[i], nums(berth.rate[i]), nums(moto.rate[i])))
	}
	fmt.Fprintf(w, "\nRounds (calls/s), in the table's order: %s.\n", strings.Join(rounds, "; "))
}
