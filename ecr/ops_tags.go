package ecr

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/berth-dev/berth/core"
)

// AWS's resource tag limits.
const maxTags = 50

var tagChars = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func invalidTag(format string, args ...any) *awsError {
	return newError("InvalidTagParameterException", format, args...)
}

// checkTags merges add into existing (later values win) and enforces AWS's
// rules for keys, values and the count.
func checkTags(existing []core.ResourceTag, add []Tag) ([]core.ResourceTag, error) {
	out := append([]core.ResourceTag(nil), existing...)
	for _, t := range add {
		switch {
		case t.Key == "" || utf8.RuneCountInString(t.Key) > 128:
			return nil, invalidTag("Tag keys must be 1 to 128 characters long")
		case utf8.RuneCountInString(t.Value) > 256:
			return nil, invalidTag("Tag values can be at most 256 characters long")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return nil, invalidTag("Tag keys starting with 'aws:' are reserved for AWS use")
		case !tagChars.MatchString(t.Key) || !tagChars.MatchString(t.Value):
			return nil, invalidTag("Tag keys and values may only contain letters, digits, spaces and _ . : / = + - @")
		}
		replaced := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value, replaced = t.Value, true
			}
		}
		if !replaced {
			out = append(out, core.ResourceTag{Key: t.Key, Value: t.Value})
		}
	}
	if len(out) > maxTags {
		return nil, newError("TooManyTagsException", "A resource can have at most %d tags; this request would give it %d", maxTags, len(out))
	}
	return out, nil
}

func (h *Handler) tagResource(c *call, in *TagResourceRequest) (*TagResourceResponse, error) {
	repo := c.resources[0] // the repository resourceArn names, as authorized
	_, err := h.reg.UpdateRepository(c.ctx, repo.Registry, repo.Repository, func(r *core.Repository) error {
		tags, err := checkTags(r.Tags, in.Tags)
		r.Tags = tags
		return err
	})
	if err != nil {
		return nil, err
	}
	return &TagResourceResponse{}, nil
}

func (h *Handler) untagResource(c *call, in *UntagResourceRequest) (*UntagResourceResponse, error) {
	repo := c.resources[0] // the repository resourceArn names, as authorized
	_, err := h.reg.UpdateRepository(c.ctx, repo.Registry, repo.Repository, func(r *core.Repository) error {
		kept := r.Tags[:0]
		for _, t := range r.Tags {
			if !contains(in.TagKeys, t.Key) {
				kept = append(kept, t)
			}
		}
		r.Tags = kept
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &UntagResourceResponse{}, nil
}

func (h *Handler) listTagsForResource(c *call, in *ListTagsForResourceRequest) (*ListTagsForResourceResponse, error) {
	repo := c.resources[0] // the repository resourceArn names, as authorized
	r, err := h.reg.GetRepository(c.ctx, repo.Registry, repo.Repository)
	if err != nil {
		return nil, err
	}
	out := &ListTagsForResourceResponse{Tags: []Tag{}}
	for _, t := range r.Tags {
		out.Tags = append(out.Tags, Tag{Key: t.Key, Value: t.Value})
	}
	return out, nil
}
