package ecr

import (
	"sort"
	"strings"
	"unsafe"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

func (h *Handler) putImage(c *call, in *PutImageRequest) (*PutImageResponse, error) {
	reg := c.registry
	// /v2 has a Content-Type; here the type must be declared, by the
	// manifest or beside it (RequireMediaType), which core judges on the one
	// parse of the manifest a push makes.
	// The manifest's bytes are the string's, not a copy (core only reads
	// a body): a manifest is most of what a push allocates.
	body := unsafe.Slice(unsafe.StringData(in.ImageManifest), len(in.ImageManifest))
	put := core.PutManifestInput{ContentType: in.ImageManifestMediaType, Body: body, RejectUnchanged: true, RequireMediaType: true}
	switch {
	case in.ImageDigest != "":
		if _, err := digest.Parse(in.ImageDigest); err != nil {
			return nil, invalidParameter("imageDigest", "Invalid image digest")
		}
		put.Reference = in.ImageDigest
		if in.ImageTag != "" {
			put.Tags = []string{in.ImageTag}
		}
	case in.ImageTag != "":
		put.Reference = in.ImageTag
	default:
		put.Reference = digest.SHA256.FromString(in.ImageManifest).String()
	}
	if in.ImageTag != "" && !core.ValidTag(in.ImageTag) {
		return nil, invalidParameter("imageTag", "Invalid image tag")
	}
	m, err := h.reg.PutManifest(c.ctx, reg, in.RepositoryName, put)
	switch core.KindOf(err) {
	case "":
	case core.KindDigestInvalid:
		return nil, newError("ImageDigestDoesNotMatchException", "The image digest '%s' does not match the digest of the manifest '%s'", in.ImageDigest, digest.SHA256.FromString(in.ImageManifest))
	case core.KindManifestInvalid, core.KindManifestTooLarge:
		return nil, invalidParameter("imageManifest", err.Error())
	default:
		return nil, err
	}
	// The answer's three structures in one allocation.
	out := new(struct {
		resp PutImageResponse
		img  Image
		id   ImageIdentifier
	})
	out.id = ImageIdentifier{ImageDigest: m.Digest.String(), ImageTag: in.ImageTag}
	out.img = Image{RegistryId: reg.Account, RepositoryName: in.RepositoryName, ImageId: &out.id,
		ImageManifest: in.ImageManifest, ImageManifestMediaType: m.MediaType}
	out.resp.Image = &out.img
	c.echo = c.input.reader.echo // the manifest's literal, when the reader found it written as the answer writes it
	return &out.resp, nil
}

// checkID judges an image id on its own, as ECR's batch operations do,
// returning a failure for a malformed one.
func checkID(id ImageIdentifier) (digest.Digest, *ImageFailure) {
	fail := func(code, reason string) (digest.Digest, *ImageFailure) {
		return "", &ImageFailure{ImageId: &ImageIdentifier{ImageDigest: id.ImageDigest, ImageTag: id.ImageTag}, FailureCode: code, FailureReason: reason}
	}
	if id.ImageDigest == "" && id.ImageTag == "" {
		return fail("MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null")
	}
	var dg digest.Digest
	if id.ImageDigest != "" {
		d, err := digest.Parse(id.ImageDigest)
		if err != nil {
			return fail("InvalidImageDigest", "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'")
		}
		dg = d
	}
	if id.ImageTag != "" && !core.ValidTag(id.ImageTag) {
		return fail("InvalidImageTag", "Invalid request parameters: image tag should satisfy the regex '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}'")
	}
	return dg, nil
}

func idFailure(id ImageIdentifier, code, reason string) *ImageFailure {
	return &ImageFailure{ImageId: &ImageIdentifier{ImageDigest: id.ImageDigest, ImageTag: id.ImageTag}, FailureCode: code, FailureReason: reason}
}

// lookup resolves an image id the way ECR's batch operations judge it,
// returning a failure instead of an error for per-image problems.
func (h *Handler) lookup(c *call, reg core.RegistryID, repo string, id ImageIdentifier) (core.Image, *ImageFailure, error) {
	dg, failure := checkID(id)
	if failure != nil {
		return core.Image{}, failure, nil
	}
	img, err := h.reg.ResolveImage(c.ctx, reg, repo, dg, id.ImageTag)
	if core.IsKind(err, core.KindManifestNotFound) {
		return core.Image{}, h.notFound(c, reg, repo, dg, id), nil
	}
	return img, nil, err
}

// notFound tells a tag that points elsewhere from an image that is not there.
func (h *Handler) notFound(c *call, reg core.RegistryID, repo string, dg digest.Digest, id ImageIdentifier) *ImageFailure {
	if dg != "" && id.ImageTag != "" {
		if _, err := h.reg.ResolveImage(c.ctx, reg, repo, dg, ""); err == nil {
			return idFailure(id, "ImageTagDoesNotMatchDigest", "Invalid request parameters: image tag does not match digest")
		}
	}
	return idFailure(id, "ImageNotFound", "Requested image not found")
}

// batchGetImage reads each image through core's GetManifest, so that a miss
// — of an image, or of the whole repository — is offered to a pull-through
// cache's upstream first; without one, a missing repository is still
// RepositoryNotFoundException.
func (h *Handler) batchGetImage(c *call, in *BatchGetImageRequest) (*BatchGetImageResponse, error) {
	reg := c.registry
	// Without acceptedMediaTypes every stored type is returned as it is, so a
	// multi-architecture index can be fetched and put back under a new tag.
	accept := in.AcceptedMediaTypes
	// The answer, its first image and that image's identifier in one
	// allocation: most calls ask for one image.
	first := new(struct {
		resp BatchGetImageResponse
		img  [1]Image
		id   ImageIdentifier
	})
	out := &first.resp
	out.Images, out.Failures = first.img[:0], []ImageFailure{}
	for _, id := range in.ImageIds {
		dg, failure := checkID(id)
		if failure == nil && dg != "" && id.ImageTag != "" {
			// Both given: the tag must point at the digest.
			var err error
			_, failure, err = h.lookup(c, reg, in.RepositoryName, id)
			if err != nil {
				return nil, err
			}
		}
		if failure != nil {
			out.Failures = append(out.Failures, *failure)
			continue
		}
		ref := id.ImageTag
		if dg != "" {
			ref = dg.String()
		}
		m, body, err := h.reg.GetManifest(c.ctx, reg, in.RepositoryName, ref, accept)
		switch {
		case core.IsKind(err, core.KindManifestNotFound):
			out.Failures = append(out.Failures, *idFailure(id, "ImageNotFound", "Requested image not found"))
			continue
		case core.IsKind(err, core.KindManifestNotAcceptable):
			out.Failures = append(out.Failures, *idFailure(id, "UnsupportedImageType", err.Error()+" ("+strings.Join(accept, ", ")+")"))
			continue
		case core.IsKind(err, core.KindImageArchived):
			out.Failures = append(out.Failures, *idFailure(id, "ImageInaccessible", err.Error()))
			continue
		case err != nil:
			return nil, err
		}
		imageID := &first.id
		if len(out.Images) > 0 {
			imageID = new(ImageIdentifier)
		}
		*imageID = ImageIdentifier{ImageDigest: m.Digest.String(), ImageTag: id.ImageTag}
		out.Images = append(out.Images, Image{RegistryId: reg.Account, RepositoryName: in.RepositoryName,
			ImageId: imageID, ImageManifest: string(body), ImageManifestMediaType: m.MediaType})
	}
	return out, nil
}

func (h *Handler) imageDetail(c *call, reg core.RegistryID, repo string, img core.Image) ImageDetail {
	d := ImageDetail{
		RegistryId: reg.Account, RepositoryName: repo,
		ImageDigest: img.Digest.String(), ImageTags: img.Tags,
		ImageSizeInBytes: i64(img.ImageSize), ImagePushedAt: At(img.PushedAt),
		ImageManifestMediaType: img.MediaType, LastRecordedPullTime: At(img.LastPulledAt),
		ImageStatus:    img.Status(h.reg.Clock().Now(), 0),
		LastArchivedAt: At(img.ArchivedAt), LastActivatedAt: At(img.ActivatedAt),
	}
	d.ArtifactMediaType = img.ConfigMediaType
	if img.Subject != nil {
		d.SubjectManifestDigest = img.Subject.Digest.String()
	}
	h.scanDetail(c.ctx, reg, repo, &d, img)
	return d
}

func tagStatusMatches(status string, tags []string) bool {
	switch status {
	case "TAGGED":
		return len(tags) > 0
	case "UNTAGGED":
		return len(tags) == 0
	}
	return true
}

// statusMatches applies an imageStatus (artifactStatus) filter; without one,
// ECR lists ACTIVE images only.
func statusMatches(filter, status string) bool {
	return filter == "ANY" || orDefault(filter, "ACTIVE") == status
}

func (h *Handler) describeImages(c *call, in *DescribeImagesRequest) (*DescribeImagesResponse, error) {
	reg := c.registry
	out := &DescribeImagesResponse{ImageDetails: []ImageDetail{}}
	if len(in.ImageIds) > 0 {
		if in.MaxResults != nil || in.NextToken != "" {
			return nil, invalidParameter("maxResults", "maxResults and nextToken cannot be used with imageIds")
		}
		// A missing repository is RepositoryNotFoundException whatever the
		// ids say. Resolving an id reads the repository first and answers
		// that itself, so the repository is read on its own only when the
		// first id is refused without a read (one read fewer per call).
		seen := map[digest.Digest]bool{}
		for i, id := range in.ImageIds {
			if _, malformed := checkID(id); i == 0 && malformed != nil {
				if err := h.reg.HasRepository(c.ctx, reg, in.RepositoryName); err != nil {
					return nil, err
				}
			}
			img, failure, err := h.lookup(c, reg, in.RepositoryName, id)
			if err != nil {
				return nil, err
			}
			if failure != nil {
				if failure.FailureCode == "ImageNotFound" {
					return nil, newError("ImageNotFoundException", "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
						orDefault(id.ImageDigest, "null"), orDefault(id.ImageTag, "null"), in.RepositoryName, reg.Account)
				}
				return nil, invalidParameter("imageIds", failure.FailureReason)
			}
			if !seen[img.Digest] {
				seen[img.Digest] = true
				out.ImageDetails = append(out.ImageDetails, h.imageDetail(c, reg, in.RepositoryName, img))
			}
		}
		return out, nil
	}
	last, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	limit := 100
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	now := h.reg.Clock().Now()
	filter := deref(in.Filter)
	imgs, more, err := h.reg.PageImages(c.ctx, reg, in.RepositoryName, core.ImagePage{After: last, Limit: limit,
		Match: func(img *core.Image) bool {
			return tagStatusMatches(filter.TagStatus, img.Tags) && statusMatches(filter.ImageStatus, img.Status(now, 0))
		}})
	if err != nil {
		return nil, err
	}
	out.ImageDetails = make([]ImageDetail, 0, len(imgs))
	for _, img := range imgs {
		out.ImageDetails = append(out.ImageDetails, h.imageDetail(c, reg, in.RepositoryName, img))
	}
	if more {
		out.NextToken = encodeToken(imgs[len(imgs)-1].Digest.String())
	}
	return out, nil
}

// listImages pages through (digest, tag) pairs in that order — an untagged
// image is one pair with no tag — reading only as many images as the page
// needs, and of each only its tags and storage class. The token is the last
// pair returned.
func (h *Handler) listImages(c *call, in *ListImagesRequest) (*ListImagesResponse, error) {
	reg := c.registry
	last, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	lastDigest, lastTag, _ := strings.Cut(last, "\x00")
	limit := 100
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	now := h.reg.Clock().Now()
	filter := deref(in.Filter)
	ids := make([]ImageIdentifier, 0, limit+1)
	// add appends img's pairs after the token; false once the page and one
	// more pair (which says another page follows) are in.
	add := func(img *core.ImageID, afterTag string) bool {
		if !tagStatusMatches(filter.TagStatus, img.Tags) || !statusMatches(filter.ImageStatus, img.Status(now, 0)) {
			return true
		}
		if len(img.Tags) == 0 && afterTag == "" {
			ids = append(ids, ImageIdentifier{ImageDigest: string(img.Digest)})
		}
		for _, t := range img.Tags {
			if afterTag == "" || t > afterTag {
				ids = append(ids, ImageIdentifier{ImageDigest: string(img.Digest), ImageTag: t})
			}
		}
		return len(ids) <= limit
	}
	from := ""
	switch {
	case lastTag != "":
		from = lastDigest // the page before ended inside this image's tags
	case lastDigest != "":
		from = core.DigestsAfter(digest.Digest(lastDigest))
	}
	for len(ids) <= limit {
		// Each image matched is at least one pair: ask for no more than the page needs.
		imgs, more, err := h.reg.PageImageIDs(c.ctx, reg, in.RepositoryName, from, limit+1-len(ids))
		if err != nil {
			return nil, err
		}
		for i := range imgs {
			afterTag := ""
			if lastTag != "" && string(imgs[i].Digest) == lastDigest {
				afterTag = lastTag
			}
			if !add(&imgs[i], afterTag) {
				break
			}
		}
		if !more {
			break
		}
		from = core.DigestsAfter(imgs[len(imgs)-1].Digest)
	}
	out := &ListImagesResponse{ImageIds: ids}
	if len(ids) > limit {
		out.ImageIds = ids[:limit]
		end := ids[limit-1]
		out.NextToken = encodeToken(end.ImageDigest + "\x00" + end.ImageTag)
	}
	return out, nil
}

func (h *Handler) batchDeleteImage(c *call, in *BatchDeleteImageRequest) (*BatchDeleteImageResponse, error) {
	reg := c.registry
	if err := h.reg.HasRepository(c.ctx, reg, in.RepositoryName); err != nil {
		return nil, err
	}
	out := &BatchDeleteImageResponse{ImageIds: []ImageIdentifier{}, Failures: []ImageFailure{}}
	for _, id := range in.ImageIds {
		img, failure, err := h.lookup(c, reg, in.RepositoryName, id)
		if err != nil {
			return nil, err
		}
		if failure != nil {
			out.Failures = append(out.Failures, *failure)
			continue
		}
		if id.ImageTag != "" {
			_, _, err = h.reg.UntagImage(c.ctx, reg, in.RepositoryName, id.ImageTag)
			if err == nil {
				out.ImageIds = append(out.ImageIds, ImageIdentifier{ImageDigest: img.Digest.String(), ImageTag: id.ImageTag})
			}
		} else {
			err = h.reg.DeleteManifest(c.ctx, reg, in.RepositoryName, img.Digest.String())
			if err == nil {
				if len(img.Tags) == 0 {
					out.ImageIds = append(out.ImageIds, ImageIdentifier{ImageDigest: img.Digest.String()})
				}
				for _, t := range img.Tags {
					out.ImageIds = append(out.ImageIds, ImageIdentifier{ImageDigest: img.Digest.String(), ImageTag: t})
				}
			}
		}
		switch {
		case core.IsKind(err, core.KindManifestReferenced):
			out.Failures = append(out.Failures, ImageFailure{ImageId: &ImageIdentifier{ImageDigest: id.ImageDigest, ImageTag: id.ImageTag},
				FailureCode: "ImageReferencedByManifestList", FailureReason: "Requested image referenced by manifest list: " + err.Error()})
		case core.IsKind(err, core.KindManifestNotFound):
			out.Failures = append(out.Failures, ImageFailure{ImageId: &ImageIdentifier{ImageDigest: id.ImageDigest, ImageTag: id.ImageTag},
				FailureCode: "ImageNotFound", FailureReason: "Requested image not found"})
		case err != nil:
			return nil, err
		}
	}
	return out, nil
}

func (h *Handler) updateImageStorageClass(c *call, in *UpdateImageStorageClassRequest) (*UpdateImageStorageClassResponse, error) {
	reg := c.registry
	img, failure, err := h.lookup(c, reg, in.RepositoryName, *in.ImageId)
	if err != nil {
		return nil, err
	}
	if failure != nil {
		if failure.FailureCode == "ImageNotFound" || failure.FailureCode == "ImageTagDoesNotMatchDigest" {
			if err := h.reg.HasRepository(c.ctx, reg, in.RepositoryName); err != nil {
				return nil, err
			}
			return nil, newError("ImageNotFoundException", "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
				orDefault(in.ImageId.ImageDigest, "null"), orDefault(in.ImageId.ImageTag, "null"), in.RepositoryName, reg.Account)
		}
		return nil, invalidParameter("imageId", failure.FailureReason)
	}
	m, err := h.reg.SetStorageClass(c.ctx, reg, in.RepositoryName, img.Digest, in.TargetStorageClass == "ARCHIVE")
	if err != nil {
		return nil, err
	}
	status := m.Status(h.reg.Clock().Now(), 0)
	if in.TargetStorageClass == "STANDARD" && img.Archived {
		status = "ACTIVATING" // the restore was asked for now; readers see ACTIVE next
	}
	return &UpdateImageStorageClassResponse{RegistryId: reg.Account, RepositoryName: in.RepositoryName,
		ImageId: &ImageIdentifier{ImageDigest: img.Digest.String(), ImageTag: in.ImageId.ImageTag}, ImageStatus: status}, nil
}

func (h *Handler) listImageReferrers(c *call, in *ListImageReferrersRequest) (*ListImageReferrersResponse, error) {
	reg := c.registry
	if err := h.reg.HasRepository(c.ctx, reg, in.RepositoryName); err != nil {
		return nil, err
	}
	dg, err := digest.Parse(in.SubjectId.ImageDigest)
	if err != nil {
		return nil, invalidParameter("subjectId.imageDigest", "Invalid image digest")
	}
	referrers, err := h.reg.Referrers(c.ctx, reg, in.RepositoryName, dg, "")
	if err != nil {
		return nil, err
	}
	now := h.reg.Clock().Now()
	var refs []ImageReferrer
	for _, img := range referrers {
		if in.Filter != nil && len(in.Filter.ArtifactTypes) > 0 && !contains(in.Filter.ArtifactTypes, img.ArtifactType) {
			continue
		}
		status := img.Status(now, 0)
		if !statusMatches(deref(in.Filter).ArtifactStatus, status) {
			continue
		}
		refs = append(refs, ImageReferrer{Digest: img.Digest.String(), MediaType: img.MediaType, ArtifactType: img.ArtifactType,
			Size: i64(img.Size), Annotations: img.Annotations, ArtifactStatus: status})
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Digest < refs[j].Digest })
	out := &ListImageReferrersResponse{}
	out.Referrers, out.NextToken, err = paginate(refs, func(r ImageReferrer) string { return r.Digest }, in.NextToken, in.MaxResults, 20)
	return out, err
}
