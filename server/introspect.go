package server

import (
	"encoding/json"
	"net/http"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/bundle"
)

// Introspection for test suites: what berth holds, and a reset between tests.

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) introspectionError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch core.KindOf(err) {
	case core.KindRepositoryNotFound, core.KindManifestNotFound:
		status = http.StatusNotFound
	case core.KindNameInvalid, core.KindInvalidParameter:
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// registryOf reads ?account=&region=, defaulting to the default registry.
func (s *Server) registryOf(r *http.Request) core.RegistryID {
	reg := s.DefaultRegistry()
	if a := r.URL.Query().Get("account"); a != "" {
		reg.Account = a
	}
	if rg := r.URL.Query().Get("region"); rg != "" {
		reg.Region = rg
	}
	return reg
}

type repositoryInfo struct {
	Account   string `json:"account"`
	Region    string `json:"region"`
	Name      string `json:"name"`
	CreatedAt string `json:"createdAt"`
	Images    int    `json:"images"`
}

func (s *Server) listRepositories(w http.ResponseWriter, r *http.Request) {
	regs, err := s.registry.Registries(r.Context())
	if err != nil {
		s.introspectionError(w, err)
		return
	}
	out := []repositoryInfo{}
	for _, reg := range regs {
		repos, _, err := s.registry.ListRepositories(r.Context(), reg, core.Page{})
		if err != nil {
			s.introspectionError(w, err)
			return
		}
		for _, repo := range repos {
			imgs, err := s.registry.ListImages(r.Context(), reg, repo.Name)
			if err != nil {
				s.introspectionError(w, err)
				return
			}
			out = append(out, repositoryInfo{Account: reg.Account, Region: reg.Region, Name: repo.Name,
				CreatedAt: repo.CreatedAt.Format("2006-01-02T15:04:05Z07:00"), Images: len(imgs)})
		}
	}
	writeJSON(w, map[string]any{"repositories": out})
}

type imageInfo struct {
	Digest       string   `json:"digest"`
	Tags         []string `json:"tags"`
	MediaType    string   `json:"mediaType"`
	Size         int64    `json:"size"`
	PushedAt     string   `json:"pushedAt"`
	LastPulledAt string   `json:"lastPulledAt,omitempty"`
	Subject      string   `json:"subject,omitempty"`
	Archived     bool     `json:"archived"`
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("repository")
	if name == "" {
		s.introspectionError(w, core.Errorf(core.KindInvalidParameter, "the repository query parameter is required"))
		return
	}
	imgs, err := s.registry.ListImages(r.Context(), s.registryOf(r), name)
	if err != nil {
		s.introspectionError(w, err)
		return
	}
	out := []imageInfo{}
	for _, img := range imgs {
		info := imageInfo{Digest: img.Digest.String(), Tags: img.Tags, MediaType: img.MediaType, Size: img.Size,
			PushedAt: img.PushedAt.Format("2006-01-02T15:04:05.000Z07:00"), Archived: img.Archived}
		if info.Tags == nil {
			info.Tags = []string{}
		}
		if !img.LastPulledAt.IsZero() {
			info.LastPulledAt = img.LastPulledAt.Format("2006-01-02T15:04:05.000Z07:00")
		}
		if img.Subject != nil {
			info.Subject = img.Subject.Digest.String()
		}
		out = append(out, info)
	}
	writeJSON(w, map[string]any{"repository": name, "images": out})
}

func (s *Server) listBlobs(w http.ResponseWriter, r *http.Request) {
	blobs, err := s.registry.Blobs(r.Context())
	if err != nil {
		s.introspectionError(w, err)
		return
	}
	if blobs == nil {
		blobs = []core.BlobInfo{}
	}
	writeJSON(w, map[string]any{"blobs": blobs})
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	if err := s.registry.Reset(r.Context()); err != nil {
		s.introspectionError(w, err)
		return
	}
	s.lifecycle.ForgetPreviews()
	// The stored verification policy went with the registry's data: a first start's is in force.
	if err := s.verification.Reset(r.Context()); err != nil {
		s.introspectionError(w, err)
		return
	}
	writeJSON(w, map[string]any{"status": "ok"})
}

// listDecisions answers GET /_berth/decisions: the authorizer's recent
// decisions and the signature verifications', oldest first.
func (s *Server) listDecisions(w http.ResponseWriter, r *http.Request) {
	out := s.authz.Decisions()
	if out == nil {
		out = []policy.DecisionRecord{} // [] rather than null for none yet
	}
	writeJSON(w, decisionsWithVerifications(out, s.verification.Decisions()))
}

// policyInventory is every stored policy and configured identity, as
// `berth policy export --from` turns into a Rego bundle.
func (s *Server) policyInventory(w http.ResponseWriter, r *http.Request) {
	var principals []policy.Principal
	if s.identities != nil {
		principals = s.identities.Principals()
	}
	inv, err := bundle.Gather(r.Context(), s.registry, principals)
	if err != nil {
		s.introspectionError(w, err)
		return
	}
	writeJSON(w, inv)
}
