package ecr

import (
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/replication"
)

func replicationIn(in *ReplicationConfiguration) replication.Configuration {
	cfg := replication.Configuration{Rules: []replication.Rule{}}
	if in == nil {
		return cfg
	}
	for _, r := range in.Rules {
		rule := replication.Rule{Destinations: []replication.Destination{}}
		for _, d := range r.Destinations {
			rule.Destinations = append(rule.Destinations, replication.Destination{RegistryID: d.RegistryId, Region: d.Region})
		}
		for _, f := range r.RepositoryFilters {
			rule.RepositoryFilters = append(rule.RepositoryFilters, replication.Filter{Filter: f.Filter, FilterType: f.FilterType})
		}
		cfg.Rules = append(cfg.Rules, rule)
	}
	return cfg
}

func replicationOut(cfg replication.Configuration) *ReplicationConfiguration {
	out := &ReplicationConfiguration{Rules: []ReplicationRule{}}
	for _, r := range cfg.Rules {
		rule := ReplicationRule{Destinations: []ReplicationDestination{}}
		for _, d := range r.Destinations {
			rule.Destinations = append(rule.Destinations, ReplicationDestination{RegistryId: d.RegistryID, Region: d.Region})
		}
		for _, f := range r.RepositoryFilters {
			rule.RepositoryFilters = append(rule.RepositoryFilters, RepositoryFilter{Filter: f.Filter, FilterType: f.FilterType})
		}
		out.Rules = append(out.Rules, rule)
	}
	return out
}

func (h *Handler) putReplicationConfiguration(c *call, in *PutReplicationConfigurationRequest) (*PutReplicationConfigurationResponse, error) {
	cfg, err := h.replication.Put(c.ctx, c.registry, replicationIn(in.ReplicationConfiguration))
	if err != nil {
		return nil, err
	}
	return &PutReplicationConfigurationResponse{ReplicationConfiguration: replicationOut(cfg)}, nil
}

// describeImageReplicationStatus reports an image's status in each
// destination it was replicated to (none before any).
func (h *Handler) describeImageReplicationStatus(c *call, in *DescribeImageReplicationStatusRequest) (*DescribeImageReplicationStatusResponse, error) {
	reg := c.registry
	dg, failure := checkID(*in.ImageId)
	if failure != nil {
		return nil, invalidParameter("imageId", failure.FailureReason)
	}
	img, statuses, err := h.replication.Statuses(c.ctx, reg, in.RepositoryName, dg, in.ImageId.ImageTag)
	if core.IsKind(err, core.KindManifestNotFound) {
		return nil, newError("ImageNotFoundException", "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
			orDefault(in.ImageId.ImageDigest, "null"), orDefault(in.ImageId.ImageTag, "null"), in.RepositoryName, reg.Account)
	}
	if err != nil {
		return nil, err
	}
	out := &DescribeImageReplicationStatusResponse{RepositoryName: in.RepositoryName,
		ImageId:             &ImageIdentifier{ImageDigest: img.Digest.String(), ImageTag: in.ImageId.ImageTag},
		ReplicationStatuses: []ImageReplicationStatus{}}
	for _, st := range statuses {
		out.ReplicationStatuses = append(out.ReplicationStatuses, ImageReplicationStatus{RegistryId: st.RegistryID, Region: st.Region,
			Status: st.Status, FailureCode: st.FailureCode})
	}
	return out, nil
}
