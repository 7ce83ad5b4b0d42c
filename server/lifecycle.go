package server

import (
	"net/http"
	"slices"

	"github.com/berth-dev/berth/ecr"
)

// lifecycleRun is one repository in POST /_berth/lifecycle/run's answer.
type lifecycleRun struct {
	RegistryID     string            `json:"registryId"`
	Region         string            `json:"region"`
	RepositoryName string            `json:"repositoryName"`
	EvaluatedAt    *ecr.Time         `json:"evaluatedAt"`
	Expired        []string          `json:"expired"`
	Transitioned   []string          `json:"transitioned"`
	Failed         map[string]string `json:"failed,omitempty"` // digest → why
}

// runLifecycle enforces every repository's lifecycle policy now, as the
// periodic sweep does, and answers what it did, so that a test suite need
// not wait for the interval.
func (s *Server) runLifecycle(w http.ResponseWriter, r *http.Request) {
	results, err := s.lifecycle.Sweep(r.Context())
	if err != nil {
		s.log.Error("lifecycle run", "err", err)
		adminError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := struct {
		Repositories []lifecycleRun `json:"repositories"`
	}{Repositories: []lifecycleRun{}}
	for _, res := range results {
		run := lifecycleRun{RegistryID: res.Registry.Account, Region: res.Registry.Region, RepositoryName: res.Repository,
			EvaluatedAt: ecr.At(res.EvaluatedAt), Expired: []string{}, Transitioned: []string{}}
		for _, dg := range res.Expired {
			run.Expired = append(run.Expired, dg.String())
		}
		for _, dg := range res.Transitioned {
			run.Transitioned = append(run.Transitioned, dg.String())
		}
		slices.Sort(run.Expired)
		slices.Sort(run.Transitioned)
		for dg, err := range res.Failed {
			if run.Failed == nil {
				run.Failed = map[string]string{}
			}
			run.Failed[dg.String()] = err.Error()
		}
		out.Repositories = append(out.Repositories, run)
	}
	writeJSON(w, out)
}
