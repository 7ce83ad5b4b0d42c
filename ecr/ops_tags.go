package ecr

import (
	"github.com/berth-dev/berth/core"
)

func (h *Handler) tagResource(c *call, in *TagResourceRequest) (*TagResourceResponse, error) {
	repo := c.resources[0] // the repository resourceArn names, as authorized
	_, err := h.reg.UpdateRepository(c.ctx, repo.Registry, repo.Repository, func(r *core.Repository) error {
		tags, err := core.MergeTags(r.Tags, resourceTags(in.Tags))
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
