package ecr

import (
	"encoding/base64"
	"sort"

	"github.com/berth-dev/berth/core"
)

func (h *Handler) repositoryOut(c *call, r core.Repository) *Repository {
	out := &Repository{
		RepositoryArn:              core.RepositoryARN(r.Registry, r.Name),
		RegistryId:                 r.Registry.Account,
		RepositoryName:             r.Name,
		RepositoryUri:              c.registryHost(h, r.Registry) + "/" + r.Name,
		CreatedAt:                  At(r.CreatedAt),
		ImageTagMutability:         orDefault(r.ImageTagMutability, "MUTABLE"),
		ImageScanningConfiguration: &ImageScanningConfiguration{ScanOnPush: boolp(r.ScanOnPush)},
		EncryptionConfiguration:    &EncryptionConfiguration{EncryptionType: orDefault(r.EncryptionType, "AES256"), KmsKey: r.KMSKey},
	}
	for _, f := range r.MutabilityExclusions {
		out.ImageTagMutabilityExclusionFilters = append(out.ImageTagMutabilityExclusionFilters, ImageTagMutabilityExclusionFilter{FilterType: "WILDCARD", Filter: f})
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Pagination tokens are opaque to clients: the last key returned, encoded.
func encodeToken(last string) string {
	if last == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(last))
}

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 {
		return "", invalidParameter("nextToken", "Invalid pagination token")
	}
	return string(b), nil
}

// paginate returns the items after the token's key, at most max (default
// def), and the token for the next page. keys must be sorted.
func paginate[T any](items []T, key func(T) string, token string, max *int32, def int) ([]T, string, error) {
	last, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if last != "" {
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > last })
	}
	n := def
	if max != nil {
		n = int(*max)
	}
	end := min(start+n, len(items))
	page := append(make([]T, 0, end-start), items[start:end]...) // [] rather than null when empty
	next := ""
	if end < len(items) && len(page) > 0 {
		next = encodeToken(key(page[len(page)-1]))
	}
	return page, next, nil
}
