package ecr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/scanning"
)

// scanningError names scanning's errors by ECR's exceptions; core's go
// through toAWS.
func scanningError(c *call, repo string, id *ImageIdentifier, err error) error {
	var unsupported *scanning.UnsupportedImageError
	var invalid *scanning.ConfigError
	switch {
	case errors.Is(err, scanning.ErrScanNotFound):
		// The wording of ECR's answer for an image never scanned.
		return newError("ScanNotFoundException", "Image scan does not exist for the image with '{imageDigest:'%s', imageTag:'%s'}' in the repository with name '%s' in the registry with id '%s'",
			orDefault(id.ImageDigest, "null"), orDefault(id.ImageTag, "null"), repo, c.registry.Account)
	case errors.Is(err, scanning.ErrQuotaExceeded):
		return newError("LimitExceededException", "The scan quota per image has been exceeded. Wait and try again.")
	case errors.As(err, &unsupported):
		return newError("UnsupportedImageTypeException", "%s", unsupported.Error())
	case errors.As(err, &invalid):
		return newError("ValidationException", "%s", invalid.Reason)
	case errors.Is(err, scanning.ErrClosed):
		return &awsError{Code: "ServerException", Message: err.Error(), Status: http.StatusServiceUnavailable}
	}
	return err
}

// scannedImage resolves the image a scanning operation names, answering
// ImageNotFoundException for one that is not there.
func (h *Handler) scannedImage(c *call, repo string, id *ImageIdentifier) (core.Image, error) {
	img, failure, err := h.lookup(c, c.registry, repo, *id)
	if err != nil {
		return core.Image{}, err
	}
	if failure == nil {
		return img, nil
	}
	if failure.FailureCode == "ImageNotFound" || failure.FailureCode == "ImageTagDoesNotMatchDigest" {
		if err := h.reg.HasRepository(c.ctx, c.registry, repo); err != nil {
			return core.Image{}, err
		}
		return core.Image{}, newError("ImageNotFoundException", "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
			orDefault(id.ImageDigest, "null"), orDefault(id.ImageTag, "null"), repo, c.registry.Account)
	}
	return core.Image{}, invalidParameter("imageId", failure.FailureReason)
}

func (h *Handler) startImageScan(c *call, in *StartImageScanRequest) (*StartImageScanResponse, error) {
	img, err := h.scannedImage(c, in.RepositoryName, in.ImageId)
	if err != nil {
		return nil, err
	}
	res, err := h.scanning.StartScan(c.ctx, c.registry, in.RepositoryName, img)
	if err != nil {
		return nil, scanningError(c, in.RepositoryName, in.ImageId, err)
	}
	return &StartImageScanResponse{RegistryId: c.registry.Account, RepositoryName: in.RepositoryName,
		ImageId:         &ImageIdentifier{ImageDigest: img.Digest.String(), ImageTag: in.ImageId.ImageTag},
		ImageScanStatus: &ImageScanStatus{Status: res.Status}}, nil
}

// describeImageScanFindings pages through the findings of the image's
// latest scan, most severe first: in the basic shape, or the enhanced one
// when the registry scanned it with ENHANCED.
func (h *Handler) describeImageScanFindings(c *call, in *DescribeImageScanFindingsRequest) (*DescribeImageScanFindingsResponse, error) {
	img, err := h.scannedImage(c, in.RepositoryName, in.ImageId)
	if err != nil {
		return nil, err
	}
	r, err := h.scanning.Findings(c.ctx, c.registry, in.RepositoryName, img.Digest)
	if err != nil {
		return nil, scanningError(c, in.RepositoryName, in.ImageId, err)
	}
	out := &DescribeImageScanFindingsResponse{RegistryId: c.registry.Account, RepositoryName: in.RepositoryName,
		ImageId:         &ImageIdentifier{ImageDigest: img.Digest.String(), ImageTag: in.ImageId.ImageTag},
		ImageScanStatus: &ImageScanStatus{Status: r.Status, Description: r.Description}}
	if r.CompletedAt.IsZero() {
		return out, nil
	}
	findings := &ImageScanFindings{FindingSeverityCounts: severityCounts(r.Counts),
		ImageScanCompletedAt: At(r.CompletedAt), VulnerabilitySourceUpdatedAt: At(r.SourceUpdatedAt)}
	out.ImageScanFindings = findings
	type indexed struct {
		i int
		f scanning.Finding
	}
	all := make([]indexed, len(r.Findings))
	for i, f := range r.Findings {
		all[i] = indexed{i, f}
	}
	page, next, err := paginate(all, func(x indexed) string { return fmt.Sprintf("%08d", x.i) }, in.NextToken, in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	out.NextToken = next
	if r.ScanType == scanning.ScanTypeEnhanced {
		findings.EnhancedFindings = []EnhancedImageScanFinding{}
		for _, x := range page {
			findings.EnhancedFindings = append(findings.EnhancedFindings, enhancedFinding(c.registry, in.RepositoryName, img, r, x.f))
		}
		return out, nil
	}
	findings.Findings = []ImageScanFinding{}
	for _, x := range page {
		f := ImageScanFinding{Name: x.f.Name, Description: x.f.Description, Uri: x.f.URI, Severity: x.f.Severity, Attributes: []Attribute{}}
		for _, a := range x.f.Attributes {
			f.Attributes = append(f.Attributes, Attribute{Key: a.Key, Value: a.Value})
		}
		out.ImageScanFindings.Findings = append(out.ImageScanFindings.Findings, f)
	}
	return out, nil
}

func severityCounts(counts map[string]int) map[string]int32 {
	out := map[string]int32{}
	for k, v := range counts {
		out[k] = int32(v)
	}
	return out
}

// enhancedFinding words a finding as Amazon Inspector's enhanced scanning
// does (EnhancedImageScanFinding): the same engine's finding, with the
// image as its resource and the package as its vulnerable package.
func enhancedFinding(reg core.RegistryID, repo string, img core.Image, r scanning.Result, f scanning.Finding) EnhancedImageScanFinding {
	severity := f.Severity
	if severity == "UNDEFINED" {
		severity = "UNTRIAGED" // Inspector's word for a finding without a severity
	}
	pkg := f.Attr("package_name")
	sum := sha256.Sum256([]byte(img.Digest.String() + "\x00" + f.Name + "\x00" + pkg))
	imageARN := core.RepositoryARN(reg, repo) + "/" + img.Digest.String()
	out := EnhancedImageScanFinding{
		AwsAccountId: reg.Account, Description: f.Description, Severity: severity, Status: "ACTIVE", Type: "PACKAGE_VULNERABILITY",
		FindingArn:      fmt.Sprintf("arn:aws:inspector2:%s:%s:finding/%s", reg.Region, reg.Account, hex.EncodeToString(sum[:16])),
		FirstObservedAt: At(f.FirstObservedAt), LastObservedAt: At(r.CompletedAt), UpdatedAt: At(r.CompletedAt),
		Title: f.Name,
		PackageVulnerabilityDetails: &PackageVulnerabilityDetails{VulnerabilityId: f.Name, Source: f.Scanner, SourceUrl: f.URI,
			VendorSeverity: f.Severity, ReferenceUrls: []string{}, VulnerablePackages: []VulnerablePackage{}},
		Resources: []Resource{{Type: "AWS_ECR_CONTAINER_IMAGE", Id: imageARN, Details: &ResourceDetails{AwsEcrContainerImage: &AwsEcrContainerImageDetails{
			Architecture: r.Platform.Architecture, Platform: r.Platform.OS, ImageHash: img.Digest.String(), ImageTags: append([]string{}, img.Tags...),
			PushedAt: At(img.PushedAt), Registry: reg.Account, RepositoryName: repo}}}},
	}
	if pkg != "" {
		out.Title = f.Name + " - " + pkg
		out.PackageVulnerabilityDetails.VulnerablePackages = append(out.PackageVulnerabilityDetails.VulnerablePackages,
			VulnerablePackage{Name: pkg, Version: f.Attr("package_version"), Arch: r.Platform.Architecture})
	}
	if f.URI != "" {
		out.PackageVulnerabilityDetails.ReferenceUrls = append(out.PackageVulnerabilityDetails.ReferenceUrls, f.URI)
	}
	for _, v := range []string{"3", "2"} {
		score, err := strconv.ParseFloat(f.Attr("CVSS"+v+"_SCORE"), 64)
		if err != nil {
			continue
		}
		vector := f.Attr("CVSS" + v + "_VECTOR")
		out.PackageVulnerabilityDetails.Cvss = append(out.PackageVulnerabilityDetails.Cvss, CvssScore{BaseScore: &score, ScoringVector: vector, Source: f.Scanner, Version: cvssVersion(v, vector)})
		if out.Score == nil {
			out.Score = &score
			out.ScoreDetails = &ScoreDetails{Cvss: &CvssScoreDetails{Score: &score, ScoreSource: f.Scanner, ScoringVector: vector, Version: cvssVersion(v, vector), Adjustments: []CvssScoreAdjustment{}}}
		}
	}
	return out
}

// cvssVersion reads a CVSS vector's version ("CVSS:3.1/…"), else the major one.
func cvssVersion(major, vector string) string {
	if len(vector) > 8 && vector[:5] == "CVSS:" && vector[8] == '/' {
		return vector[5:8]
	}
	return major + ".0"
}

// scanDetail adds an image's scan status and summary to its DescribeImages
// detail. A scan record that cannot be read leaves them out, logged, rather
// than failing the listing.
func (h *Handler) scanDetail(ctx context.Context, reg core.RegistryID, repo string, d *ImageDetail, img core.Image) {
	r, err := h.scanning.Summary(ctx, reg, repo, img.Digest)
	if errors.Is(err, scanning.ErrScanNotFound) {
		return
	}
	if err != nil {
		h.log.Error("reading an image's scan status", "registry", reg, "repository", repo, "digest", img.Digest, "err", err)
		return
	}
	d.ImageScanStatus = &ImageScanStatus{Status: r.Status, Description: r.Description}
	if !r.CompletedAt.IsZero() {
		d.ImageScanFindingsSummary = &ImageScanFindingsSummary{FindingSeverityCounts: severityCounts(r.Counts),
			ImageScanCompletedAt: At(r.CompletedAt), VulnerabilitySourceUpdatedAt: At(r.SourceUpdatedAt)}
	}
}

func (h *Handler) getRegistryScanningConfiguration(c *call, in *GetRegistryScanningConfigurationRequest) (*GetRegistryScanningConfigurationResponse, error) {
	cfg, err := h.scanning.RegistryConfig(c.ctx, c.registry)
	if err != nil {
		return nil, err
	}
	return &GetRegistryScanningConfigurationResponse{RegistryId: c.registry.Account, ScanningConfiguration: registryScanningOut(cfg)}, nil
}

func (h *Handler) putRegistryScanningConfiguration(c *call, in *PutRegistryScanningConfigurationRequest) (*PutRegistryScanningConfigurationResponse, error) {
	cfg := core.ScanningConfig{ScanType: in.ScanType}
	for _, r := range in.Rules {
		rule := core.ScanningRule{ScanFrequency: r.ScanFrequency}
		for _, f := range r.RepositoryFilters {
			rule.Filters = append(rule.Filters, f.Filter) // WILDCARD, the model's only type
		}
		cfg.Rules = append(cfg.Rules, rule)
	}
	stored, err := h.scanning.PutRegistryConfig(c.ctx, c.registry, cfg)
	if err != nil {
		return nil, scanningError(c, "", nil, err)
	}
	return &PutRegistryScanningConfigurationResponse{RegistryScanningConfiguration: registryScanningOut(stored)}, nil
}

func registryScanningOut(cfg core.ScanningConfig) *RegistryScanningConfiguration {
	out := &RegistryScanningConfiguration{ScanType: cfg.ScanType, Rules: []RegistryScanningRule{}}
	for _, r := range cfg.Rules {
		out.Rules = append(out.Rules, RegistryScanningRule{ScanFrequency: r.ScanFrequency, RepositoryFilters: scanFilters(r.Filters)})
	}
	return out
}

func scanFilters(filters []string) []ScanningRepositoryFilter {
	out := []ScanningRepositoryFilter{}
	for _, f := range filters {
		out = append(out, ScanningRepositoryFilter{Filter: f, FilterType: "WILDCARD"})
	}
	return out
}

// batchGetRepositoryScanningConfiguration reports how each repository is
// scanned; a repository that is not there is a failure, not an error.
func (h *Handler) batchGetRepositoryScanningConfiguration(c *call, in *BatchGetRepositoryScanningConfigurationRequest) (*BatchGetRepositoryScanningConfigurationResponse, error) {
	out := &BatchGetRepositoryScanningConfigurationResponse{ScanningConfigurations: []RepositoryScanningConfiguration{}, Failures: []RepositoryScanningConfigurationFailure{}}
	for _, name := range in.RepositoryNames {
		rc, err := h.scanning.RepositoryConfig(c.ctx, c.registry, name)
		if core.IsKind(err, core.KindRepositoryNotFound) {
			out.Failures = append(out.Failures, RepositoryScanningConfigurationFailure{RepositoryName: name, FailureCode: "REPOSITORY_NOT_FOUND", FailureReason: "REPOSITORY_NOT_FOUND"})
			continue
		}
		if err != nil {
			return nil, err
		}
		out.ScanningConfigurations = append(out.ScanningConfigurations, RepositoryScanningConfiguration{RepositoryArn: core.RepositoryARN(c.registry, name),
			RepositoryName: name, ScanOnPush: boolp(rc.ScanOnPush), ScanFrequency: rc.Frequency, AppliedScanFilters: scanFilters(rc.AppliedFilters)})
	}
	return out, nil
}
