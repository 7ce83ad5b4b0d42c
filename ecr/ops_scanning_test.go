package ecr

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/plugins/sdk"
	"github.com/berth-dev/berth/scanning"
)

// cannedScanner stands in for a scanner plugin at the edge: it answers
// every scan with the same output (the plugins themselves are tested in
// scanning and end to end).
type cannedScanner struct{ output any }

func (s cannedScanner) Call(ctx context.Context, input any, mounts ...plugins.Mount) (sdk.Response, error) {
	return sdk.Output(s.output)
}

// scanningFixture is a handler over a coretest registry (account
// 111111111111) with scan on push wired in, scanning with one scanner that
// reports findings.
func scanningFixture(t *testing.T, findings int, quota bool) (*Handler, *coretest.Fixture, *scanning.Service) {
	f := coretest.New(t, coretest.Memory, coretest.Options{})
	var fs []map[string]any
	severities := []string{"CRITICAL", "HIGH", "LOW", "UNDEFINED"}
	for i := range findings {
		fs = append(fs, map[string]any{"name": fmt.Sprintf("CVE-2024-%04d", i), "description": "a flaw", "uri": "https://example.com/" + fmt.Sprint(i),
			"severity": severities[i%len(severities)], "attributes": []map[string]string{
				{"key": "package_name", "value": fmt.Sprint("pkg", i)}, {"key": "package_version", "value": "1.0"},
				{"key": "CVSS3_SCORE", "value": "7.5"}, {"key": "CVSS3_VECTOR", "value": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}}})
	}
	scanner := scanning.Scanner{Name: "canned", Paths: []string{"etc/os-release"}, Plugin: cannedScanner{map[string]any{"status": "COMPLETE", "findings": fs}}}
	var svc *scanning.Service
	f.Wire(func(r *core.Registry) func() {
		svc = scanning.New(r, scanning.Config{Scanners: []scanning.Scanner{scanner}, Clock: f.Clock, Quota: quota, Log: slog.New(slog.DiscardHandler)})
		svc.Subscribe(r.Bus())
		return svc.Close
	})
	h := New(Config{Registry: f.Registry(), Tokens: core.NewTokens(core.RandomSecret(), f.Clock), DefaultAccount: "000000000000", Region: "us-east-1", Scanning: svc})
	return h, f, svc
}

func scanPost(t *testing.T, h *Handler, op string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	rec, out := post(t, h, op, string(b), "111111111111", "us-east-1")
	return rec.Code, out
}

func settleScans(t *testing.T, f *coretest.Fixture, svc *scanning.Service) {
	t.Helper()
	f.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStartImageScanThenDescribeFindingsPageByPage(t *testing.T) {
	h, f, svc := scanningFixture(t, 7, false)
	f.CreateRepository(coretest.RegA, "app")
	img := f.PushImage(coretest.RegA, "app", "v1", "one")
	id := map[string]string{"imageTag": "v1"}
	code, out := scanPost(t, h, "DescribeImageScanFindings", map[string]any{"repositoryName": "app", "imageId": id})
	want := fmt.Sprintf("Image scan does not exist for the image with '{imageDigest:'null', imageTag:'v1'}' in the repository with name 'app' in the registry with id '111111111111'")
	if code != 400 || out["__type"] != "ScanNotFoundException" || out["message"] != want {
		t.Fatalf("before a scan: %d %v", code, out)
	}
	code, out = scanPost(t, h, "StartImageScan", map[string]any{"repositoryName": "app", "imageId": id})
	if code != 200 || fmt.Sprint(out["imageScanStatus"]) != "map[status:IN_PROGRESS]" || fmt.Sprint(out["imageId"]) != fmt.Sprintf("map[imageDigest:%s imageTag:v1]", img.Digest) {
		t.Fatalf("StartImageScan: %d %v", code, out)
	}
	settleScans(t, f, svc)
	var names []string
	token := ""
	for page := 0; ; page++ {
		req := map[string]any{"repositoryName": "app", "imageId": id, "maxResults": 3}
		if token != "" {
			req["nextToken"] = token
		}
		code, out = scanPost(t, h, "DescribeImageScanFindings", req)
		if code != 200 {
			t.Fatalf("page %d: %d %v", page, code, out)
		}
		status := out["imageScanStatus"].(map[string]any)
		if status["status"] != "COMPLETE" || status["description"] != "The scan was completed successfully." {
			t.Fatalf("status %v", status)
		}
		isf := out["imageScanFindings"].(map[string]any)
		if fmt.Sprint(isf["findingSeverityCounts"]) != "map[CRITICAL:2 HIGH:2 LOW:2 UNDEFINED:1]" || isf["imageScanCompletedAt"] == nil {
			t.Fatalf("summary %v", isf)
		}
		if _, ok := isf["vulnerabilitySourceUpdatedAt"]; ok {
			t.Errorf("vulnerabilitySourceUpdatedAt without an advisory database: %v", isf)
		}
		if _, ok := isf["enhancedFindings"]; ok {
			t.Errorf("enhanced findings from a basic scan")
		}
		for _, fd := range isf["findings"].([]any) {
			m := fd.(map[string]any)
			names = append(names, m["name"].(string)+"/"+m["severity"].(string))
			if len(m["attributes"].([]any)) != 4 || m["uri"] == "" {
				t.Errorf("finding %v", m)
			}
		}
		tok, _ := out["nextToken"].(string)
		if tok == "" {
			break
		}
		token = tok
	}
	want = "[CVE-2024-0000/CRITICAL CVE-2024-0004/CRITICAL CVE-2024-0001/HIGH CVE-2024-0005/HIGH CVE-2024-0002/LOW CVE-2024-0006/LOW CVE-2024-0003/UNDEFINED]"
	if fmt.Sprint(names) != want {
		t.Fatalf("findings over the pages\n got %v\nwant %s", names, want)
	}
	code, out = scanPost(t, h, "DescribeImageScanFindings", map[string]any{"repositoryName": "app", "imageId": id, "nextToken": "!"})
	if code != 400 || out["__type"] != "InvalidParameterException" {
		t.Errorf("a bad token: %d %v", code, out)
	}
}

func TestScanOperationsOnMissingImagesAndRepositories(t *testing.T) {
	h, f, _ := scanningFixture(t, 1, false)
	f.CreateRepository(coretest.RegA, "app")
	for _, op := range []string{"StartImageScan", "DescribeImageScanFindings"} {
		code, out := scanPost(t, h, op, map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "nope"}})
		if code != 400 || out["__type"] != "ImageNotFoundException" {
			t.Errorf("%s of a missing image: %d %v", op, code, out)
		}
		code, out = scanPost(t, h, op, map[string]any{"repositoryName": "nope", "imageId": map[string]string{"imageTag": "v1"}})
		if code != 400 || out["__type"] != "RepositoryNotFoundException" {
			t.Errorf("%s in a missing repository: %d %v", op, code, out)
		}
	}
}

func TestStartImageScanRefusesAnIndexAndChangesNothing(t *testing.T) {
	h, f, _ := scanningFixture(t, 1, false)
	f.CreateRepository(coretest.RegA, "app")
	child := f.PushImage(coretest.RegA, "app", "", "one")
	f.PushIndex(coretest.RegA, "app", "multi", child)
	id := map[string]string{"imageTag": "multi"}
	code, out := scanPost(t, h, "StartImageScan", map[string]any{"repositoryName": "app", "imageId": id})
	want := "An artifact with media type 'application/vnd.oci.image.index.v1+json' cannot be scanned. For more information, see the Amazon ECR documentation."
	if code != 400 || out["__type"] != "UnsupportedImageTypeException" || out["message"] != want {
		t.Fatalf("%d %v", code, out)
	}
	if code, out = scanPost(t, h, "DescribeImageScanFindings", map[string]any{"repositoryName": "app", "imageId": id}); out["__type"] != "ScanNotFoundException" {
		t.Fatalf("the refused scan left a record: %d %v", code, out)
	}
}

func TestScanQuotaAnswersLimitExceeded(t *testing.T) {
	h, f, svc := scanningFixture(t, 1, true)
	f.CreateRepository(coretest.RegA, "app")
	f.PushImage(coretest.RegA, "app", "v1", "one")
	req := map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageTag": "v1"}}
	if code, out := scanPost(t, h, "StartImageScan", req); code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	settleScans(t, f, svc)
	code, out := scanPost(t, h, "StartImageScan", req)
	if code != 400 || out["__type"] != "LimitExceededException" || out["message"] != "The scan quota per image has been exceeded. Wait and try again." {
		t.Fatalf("%d %v", code, out)
	}
}

func TestDescribeImagesCarriesTheScanStatusAndSummary(t *testing.T) {
	h, f, svc := scanningFixture(t, 2, false)
	f.CreateRepository(coretest.RegA, "app", func(r *core.Repository) { r.ScanOnPush = true })
	f.PushImage(coretest.RegA, "app", "v1", "one")
	settleScans(t, f, svc)
	f.CreateRepository(coretest.RegA, "other")
	f.PushImage(coretest.RegA, "other", "v1", "two")
	code, out := scanPost(t, h, "DescribeImages", map[string]any{"repositoryName": "app"})
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	d := out["imageDetails"].([]any)[0].(map[string]any)
	if fmt.Sprint(d["imageScanStatus"]) != "map[description:The scan was completed successfully. status:COMPLETE]" {
		t.Errorf("imageScanStatus %v", d["imageScanStatus"])
	}
	sum := d["imageScanFindingsSummary"].(map[string]any)
	if fmt.Sprint(sum["findingSeverityCounts"]) != "map[CRITICAL:1 HIGH:1]" || sum["imageScanCompletedAt"] == nil {
		t.Errorf("imageScanFindingsSummary %v", sum)
	}
	_, out = scanPost(t, h, "DescribeImages", map[string]any{"repositoryName": "other"})
	d = out["imageDetails"].([]any)[0].(map[string]any)
	if _, ok := d["imageScanStatus"]; ok {
		t.Errorf("an image never scanned has a status: %v", d)
	}
}

func TestRegistryScanningConfigurationRoundTrip(t *testing.T) {
	h, f, _ := scanningFixture(t, 1, false)
	f.CreateRepository(coretest.RegA, "prod-api")
	f.CreateRepository(coretest.RegA, "dev-api", func(r *core.Repository) { r.ScanOnPush = true })
	code, out := scanPost(t, h, "GetRegistryScanningConfiguration", map[string]any{})
	if code != 200 || out["registryId"] != "111111111111" || fmt.Sprint(out["scanningConfiguration"]) != "map[rules:[] scanType:BASIC]" {
		t.Fatalf("default: %d %v", code, out)
	}
	code, out = scanPost(t, h, "BatchGetRepositoryScanningConfiguration", map[string]any{"repositoryNames": []string{"prod-api", "dev-api", "nope"}})
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	if got := fmt.Sprint(out["scanningConfigurations"]); got != "[map[appliedScanFilters:[] repositoryArn:arn:aws:ecr:us-east-1:111111111111:repository/prod-api repositoryName:prod-api scanFrequency:MANUAL scanOnPush:false] "+
		"map[appliedScanFilters:[] repositoryArn:arn:aws:ecr:us-east-1:111111111111:repository/dev-api repositoryName:dev-api scanFrequency:SCAN_ON_PUSH scanOnPush:true]]" {
		t.Errorf("repository settings alone: %s", got)
	}
	if got := fmt.Sprint(out["failures"]); got != "[map[failureCode:REPOSITORY_NOT_FOUND failureReason:REPOSITORY_NOT_FOUND repositoryName:nope]]" {
		t.Errorf("failures %s", got)
	}
	put := map[string]any{"scanType": "BASIC", "rules": []any{map[string]any{"scanFrequency": "SCAN_ON_PUSH",
		"repositoryFilters": []any{map[string]string{"filter": "prod", "filterType": "WILDCARD"}}}}}
	code, out = scanPost(t, h, "PutRegistryScanningConfiguration", put)
	want := "map[rules:[map[repositoryFilters:[map[filter:prod filterType:WILDCARD]] scanFrequency:SCAN_ON_PUSH]] scanType:BASIC]"
	if code != 200 || fmt.Sprint(out["registryScanningConfiguration"]) != want {
		t.Fatalf("put: %d %v", code, out)
	}
	if _, out = scanPost(t, h, "GetRegistryScanningConfiguration", map[string]any{}); fmt.Sprint(out["scanningConfiguration"]) != want {
		t.Fatalf("get after put: %v", out)
	}
	_, out = scanPost(t, h, "BatchGetRepositoryScanningConfiguration", map[string]any{"repositoryNames": []string{"prod-api", "dev-api"}})
	if got := fmt.Sprint(out["scanningConfigurations"]); !strings.Contains(got, "appliedScanFilters:[map[filter:prod filterType:WILDCARD]] repositoryArn:arn:aws:ecr:us-east-1:111111111111:repository/prod-api repositoryName:prod-api scanFrequency:SCAN_ON_PUSH scanOnPush:true") ||
		!strings.Contains(got, "repositoryName:dev-api scanFrequency:MANUAL scanOnPush:false") {
		t.Errorf("under the registry's rule: %s", got)
	}
	// Refused configurations change nothing.
	for _, bad := range []map[string]any{
		{"scanType": "BASIC", "rules": []any{map[string]any{"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": []any{map[string]string{"filter": "*", "filterType": "WILDCARD"}}}}},
		{"scanType": "BASIC", "rules": []any{map[string]any{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": []any{map[string]string{"filter": "Prod!", "filterType": "WILDCARD"}}}}},
		{"scanType": "FULL"},
	} {
		code, out = scanPost(t, h, "PutRegistryScanningConfiguration", bad)
		if code != 400 || (out["__type"] != "ValidationException" && out["__type"] != "InvalidParameterException") {
			t.Errorf("%v: %d %v", bad, code, out)
		}
	}
	if _, out = scanPost(t, h, "GetRegistryScanningConfiguration", map[string]any{}); fmt.Sprint(out["scanningConfiguration"]) != want {
		t.Fatalf("after refused puts: %v", out)
	}
}

func TestEnhancedScanningAnswersEnhancedFindings(t *testing.T) {
	h, f, svc := scanningFixture(t, 2, false)
	f.CreateRepository(coretest.RegA, "app")
	code, out := scanPost(t, h, "PutRegistryScanningConfiguration", map[string]any{"scanType": "ENHANCED", "rules": []any{map[string]any{"scanFrequency": "SCAN_ON_PUSH",
		"repositoryFilters": []any{map[string]string{"filter": "*", "filterType": "WILDCARD"}}}}})
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	img := f.PushImage(coretest.RegA, "app", "v1", "one")
	settleScans(t, f, svc)
	code, out = scanPost(t, h, "DescribeImageScanFindings", map[string]any{"repositoryName": "app", "imageId": map[string]string{"imageDigest": img.Digest.String()}})
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	isf := out["imageScanFindings"].(map[string]any)
	if _, ok := isf["findings"]; ok {
		t.Errorf("basic findings from an enhanced scan")
	}
	ef := isf["enhancedFindings"].([]any)
	if len(ef) != 2 {
		t.Fatalf("enhanced findings %v", ef)
	}
	first := ef[0].(map[string]any)
	for k, want := range map[string]string{"awsAccountId": "111111111111", "severity": "CRITICAL", "status": "ACTIVE", "type": "PACKAGE_VULNERABILITY",
		"title": "CVE-2024-0000 - pkg0", "score": "7.5"} {
		if fmt.Sprint(first[k]) != want {
			t.Errorf("%s = %v, want %s", k, first[k], want)
		}
	}
	if !strings.HasPrefix(first["findingArn"].(string), "arn:aws:inspector2:us-east-1:111111111111:finding/") {
		t.Errorf("findingArn %v", first["findingArn"])
	}
	pvd := first["packageVulnerabilityDetails"].(map[string]any)
	if pvd["vulnerabilityId"] != "CVE-2024-0000" || fmt.Sprint(pvd["vulnerablePackages"]) != "[map[arch:amd64 name:pkg0 version:1.0]]" ||
		fmt.Sprint(pvd["cvss"]) != "[map[baseScore:7.5 scoringVector:CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N source:canned version:3.1]]" {
		t.Errorf("packageVulnerabilityDetails %v", pvd)
	}
	res := first["resources"].([]any)[0].(map[string]any)
	if res["type"] != "AWS_ECR_CONTAINER_IMAGE" || res["id"] != "arn:aws:ecr:us-east-1:111111111111:repository/app/"+img.Digest.String() {
		t.Errorf("resource %v", res)
	}
	details := res["details"].(map[string]any)["awsEcrContainerImage"].(map[string]any)
	if details["imageHash"] != img.Digest.String() || fmt.Sprint(details["imageTags"]) != "[v1]" || details["platform"] != "linux" || details["architecture"] != "amd64" {
		t.Errorf("image details %v", details)
	}
}
