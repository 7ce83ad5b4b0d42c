package pullthrough

import (
	"context"

	"github.com/berth-dev/berth/core"
	"github.com/opencontainers/go-digest"
)

// ECR-to-ECR pull through: an upstream URL <account>.dkr.ecr.<region>.amazonaws.com
// names a registry berth holds itself, so the cache pulls from berth's own
// core, with no network and no credentials file. It acts as AWS does: as the
// rule's custom role (a session of it, whose identity policies apply), or
// as the cache registry's account when the upstream is in the same account,
// and the upstream registry's policies decide through the authorizer, before
// anything upstream is read ("The upstream registry owner must also grant
// the cache registry owner with the required permissions to pull the
// images", user guide, Setting up permissions for cross-account ECR to ECR
// PTC).

// actor is the principal a rule pulls as.
func actor(reg core.RegistryID, rule Rule) core.Caller {
	if rule.CustomRoleARN != "" {
		return core.Caller{Registry: reg, Principal: roleSession(rule.CustomRoleARN)}
	}
	return core.Caller{Registry: reg, Principal: core.RootPrincipal(reg.Account)}
}

// authorizeUpstream asks whether the rule's principal may perform action on
// the upstream resource; a denial is an upstream failure, with its reason.
func (s *Service) authorizeUpstream(ctx context.Context, reg core.RegistryID, rule Rule, action string, res core.Resource) error {
	err := s.core.Authorize(core.WithCaller(ctx, actor(reg, rule)), core.AuthRequest{Action: action, Resources: []core.Resource{res}})
	if core.IsKind(err, core.KindDenied) {
		return unavailable("The upstream registry denied the pull through cache: %s", err.Error())
	}
	return err
}

// copyFromECR copies an image of the upstream registry into the cache
// repository: manifests copied, blobs linked by digest (the blob store is
// shared), the repository created for the pull-through cache.
func (s *Service) copyFromECR(ctx context.Context, reg core.RegistryID, repo, ref string, loc located) (core.Image, error) {
	res := core.RepositoryResource(loc.up.ECR, loc.upstream)
	if err := s.authorizeUpstream(ctx, reg, loc.rule, "ecr:BatchGetImage", res); err != nil {
		return core.Image{}, err
	}
	img, err := s.core.CopyImage(ctx, core.CopyImageInput{From: loc.up.ECR, FromRepository: loc.upstream, Reference: ref,
		To: reg, ToRepository: repo, Create: core.CreateForPullThrough})
	switch core.KindOf(err) {
	case "", core.KindManifestNotFound, core.KindRepositoryNotFound:
		return img, err // found, or the miss stands
	case core.KindManifestBlobMissing, core.KindManifestChildMissing:
		return img, unavailable("The image '%s:%s' in the upstream registry is incomplete: %s", loc.upstream, ref, err.Error())
	}
	return img, err
}

// openFromECR opens a blob of the upstream repository, for core to store.
func (s *Service) openFromECR(ctx context.Context, reg core.RegistryID, d digest.Digest, loc located) (core.UpstreamBlob, error) {
	res := core.RepositoryResource(loc.up.ECR, loc.upstream)
	if err := s.authorizeUpstream(ctx, reg, loc.rule, "ecr:GetDownloadUrlForLayer", res); err != nil {
		return core.UpstreamBlob{}, err
	}
	rd, err := s.core.OpenBlob(ctx, loc.up.ECR, loc.upstream, d)
	if err != nil {
		return core.UpstreamBlob{}, err
	}
	return core.UpstreamBlob{Body: rd, Size: rd.Size()}, nil
}

// validateECR checks that the rule's principal may pull from the upstream
// repositories the rule maps to.
func (s *Service) validateECR(ctx context.Context, reg core.RegistryID, rule Rule, up Upstream) error {
	res := core.AllRepositories(up.ECR)
	if p := normalPrefix(rule.UpstreamPrefix); p != "" && p != Root {
		res = core.Resource{ARN: core.RepositoryARN(up.ECR, p+"/*"), Registry: up.ECR}
	}
	return s.authorizeUpstream(ctx, reg, rule, "ecr:BatchGetImage", res)
}
