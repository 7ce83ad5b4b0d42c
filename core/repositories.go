package core

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

func repoNotFound(reg RegistryID, name string) error {
	return Errorf(KindRepositoryNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", name, reg.Account)
}

// CreateReason says why the registry creates a repository itself; the
// values are ECR's appliedFor of a repository creation template.
type CreateReason string

const (
	CreateOnPush         CreateReason = "CREATE_ON_PUSH"     // a push to a repository that does not exist
	CreateForReplication CreateReason = "REPLICATION"        // a replicated image's destination
	CreateForPullThrough CreateReason = "PULL_THROUGH_CACHE" // a pull-through cache's first pull
)

// TemplateSource supplies the settings of repositories the registry creates
// itself: ECR's repository creation templates. ok is false when no template
// applies; then a push to a missing repository fails (NAME_UNKNOWN), while
// replication and the pull-through cache create it with default settings.
type TemplateSource interface {
	RepositoryTemplate(ctx context.Context, reg RegistryID, name string, reason CreateReason) (settings RepositorySettings, ok bool, err error)
}

// CreateOnPushTemplates is the default TemplateSource: there are no
// templates, but with Enabled (berth's --create-on-push) a push to a missing
// repository creates it with default settings — an implicit ROOT template
// applied for CREATE_ON_PUSH.
type CreateOnPushTemplates struct{ Enabled bool }

// RepositoryTemplate applies the implicit template to pushes only.
func (t CreateOnPushTemplates) RepositoryTemplate(ctx context.Context, reg RegistryID, name string, reason CreateReason) (RepositorySettings, bool, error) {
	return RepositorySettings{}, t.Enabled && reason == CreateOnPush, nil
}

// CreateRepository creates an empty repository; init functions set its
// settings before it is stored.
func (r *Registry) CreateRepository(ctx context.Context, reg RegistryID, name string, init ...func(*Repository)) (Repository, error) {
	if !ValidRepositoryName(name) {
		return Repository{}, Errorf(KindNameInvalid, "invalid repository name '%s'", name)
	}
	repo := Repository{Registry: reg, Name: name, CreatedAt: r.clock.Now()}
	for _, f := range init {
		f(&repo)
	}
	err := r.kv.Update(func(tx kv.Tx) error {
		if tx.Get(bRepos, repoKey(reg, name)) != nil {
			return Errorf(KindRepositoryExists, "The repository with name '%s' already exists in the registry with id '%s'", name, reg.Account)
		}
		return putJSON(tx, bRepos, repoKey(reg, name), repo)
	})
	if err != nil {
		return Repository{}, err
	}
	r.publishAll(ctx, r.repositoryCreated(ctx, repo, false))
	return repo, nil
}

// repositoryCreated describes a new repository for subscribers: created, and
// its policy set if it came with one.
func (r *Registry) repositoryCreated(ctx context.Context, repo Repository, fromTemplate bool) []Event {
	events := []Event{r.event(ctx, EventRepositoryCreated, repo.Registry, repo.Name)}
	if repo.Policy != "" {
		e := r.event(ctx, EventPolicyChanged, repo.Registry, repo.Name)
		e.Target = TargetRepository
		if fromTemplate {
			e.Cause = CauseTemplate
		}
		events = append(events, e)
	}
	if repo.LifecyclePolicy != "" {
		e := r.event(ctx, EventPolicyChanged, repo.Registry, repo.Name)
		e.Target = TargetLifecyclePolicy
		if fromTemplate {
			e.Cause = CauseTemplate
		}
		events = append(events, e)
	}
	return events
}

// errNeedTemplate asks updateCreating to look up a template outside the
// store's transaction and try again.
var errNeedTemplate = errors.New("repository missing: template needed")

// updateCreating runs fn in one write transaction on repository name, first
// creating the repository in that same transaction when it is missing and
// reason allows it, with the settings of the template that applies. It
// returns the events of the creation, for the caller to publish after its own.
//
// Templates are looked up outside the transaction (a source may read the
// store itself), so a miss costs one aborted transaction and a second try.
//
// The transaction is a kv Batch (pushes in parallel share a commit), so fn
// may run more than once and must be idempotent: it may change nothing but
// tx and the variables it resets at its start.
func (r *Registry) updateCreating(ctx context.Context, reg RegistryID, name string, reason CreateReason, fn func(tx kv.Tx) error) ([]Event, error) {
	return r.updateCreatingRead(ctx, reg, name, reason, nil, fn)
}

// updateCreatingRead is updateCreating that also reads the repository into
// repo (when not nil) before fn runs: the repository as it is in fn's
// transaction, read once for both (a push judges tag moves by it).
func (r *Registry) updateCreatingRead(ctx context.Context, reg RegistryID, name string, reason CreateReason, repo *Repository, fn func(tx kv.Tx) error) ([]Event, error) {
	// What the transaction's function shares lives in one variable: one
	// allocation rather than one per variable.
	var st struct {
		tmpl    *RepositorySettings // nil: not looked up yet
		applies bool
		created []Event
	}
	for {
		err := r.kv.Batch(func(tx kv.Tx) error {
			st.created = nil
			err := getRepo(tx, reg, name, repo)
			if IsKind(err, KindRepositoryNotFound) && reason != "" {
				switch {
				case !ValidRepositoryName(name):
					return Errorf(KindNameInvalid, "invalid repository name '%s'", name)
				case st.tmpl == nil:
					return errNeedTemplate
				case !st.applies && reason == CreateOnPush:
					return err // no CREATE_ON_PUSH template: the push fails as for any missing repository
				}
				created := Repository{Registry: reg, Name: name, CreatedAt: r.clock.Now(), RepositorySettings: *st.tmpl}
				if err := putJSON(tx, bRepos, repoKey(reg, name), created); err != nil {
					return err
				}
				if repo != nil { // as stored, the way a read after the creation finds it
					if err := getRepo(tx, reg, name, repo); err != nil {
						return err
					}
				}
				st.created = r.repositoryCreated(ctx, created, st.applies)
			} else if err != nil {
				return err
			}
			return fn(tx)
		})
		if !errors.Is(err, errNeedTemplate) {
			return st.created, err
		}
		s, ok, err := r.templates.RepositoryTemplate(ctx, reg, name, reason)
		if err != nil {
			return nil, err
		}
		st.tmpl, st.applies = &s, ok
	}
}

// ensureRepository makes sure the repository exists before bytes are
// streamed into it, creating it for reason when a template allows. It only
// reads when the repository is there.
func (r *Registry) ensureRepository(ctx context.Context, reg RegistryID, name string, reason CreateReason) error {
	err := r.HasRepository(ctx, reg, name)
	if !IsKind(err, KindRepositoryNotFound) {
		return err
	}
	created, err := r.updateCreating(ctx, reg, name, reason, func(kv.Tx) error { return nil })
	r.publishAll(ctx, created)
	return err
}

// UpdateRepository changes a repository's settings in one transaction; if
// change returns an error nothing is stored. A changed repository or
// lifecycle policy is published (EventPolicyChanged, Target says which).
func (r *Registry) UpdateRepository(ctx context.Context, reg RegistryID, name string, change func(*Repository) error) (Repository, error) {
	var repo Repository
	var changed []Target
	err := r.kv.Update(func(tx kv.Tx) error {
		changed = nil
		if err := getRepo(tx, reg, name, &repo); err != nil {
			return err
		}
		policy, lifecycle := repo.Policy, repo.LifecyclePolicy
		if err := change(&repo); err != nil {
			return err
		}
		repo.Registry, repo.Name = reg, name
		if repo.Policy != policy {
			changed = append(changed, TargetRepository)
		}
		if repo.LifecyclePolicy != lifecycle {
			changed = append(changed, TargetLifecyclePolicy)
		}
		return putJSON(tx, bRepos, repoKey(reg, name), repo)
	})
	if err == nil {
		for _, target := range changed {
			e := r.event(ctx, EventPolicyChanged, reg, name)
			e.Target = target
			r.bus.publish(ctx, e)
		}
	}
	return repo, err
}

// HasRepository reports, cheaply, whether the repository exists (nil) or not
// (KindRepositoryNotFound).
func (r *Registry) HasRepository(ctx context.Context, reg RegistryID, name string) error {
	return r.kv.View(func(tx kv.Tx) error { return getRepo(tx, reg, name, nil) })
}

// GetRepository returns a repository's record.
func (r *Registry) GetRepository(ctx context.Context, reg RegistryID, name string) (Repository, error) {
	var repo Repository
	err := r.kv.View(func(tx kv.Tx) error { return getRepo(tx, reg, name, &repo) })
	return repo, err
}

func getRepo(tx kv.Tx, reg RegistryID, name string, into *Repository) error {
	key := repoKey(reg, name)
	b := tx.Get(bRepos, key)
	if b == nil {
		return repoNotFound(reg, name)
	}
	if into == nil {
		return nil
	}
	if err := decodeRepo(b, into); err != nil {
		return corrupt("repository", key, err)
	}
	return nil
}

// ListRepositories lists a registry's repositories in name order. A record
// that cannot be read is skipped with an error in the log, so one corrupt
// repository does not hide the others.
func (r *Registry) ListRepositories(ctx context.Context, reg RegistryID, p Page) (repos []Repository, more bool, err error) {
	prefix := []byte(regPrefix(reg))
	err = r.kv.View(func(tx kv.Tx) error {
		return tx.Scan(bRepos, prefix, after(prefix, p.Last), func(k, v []byte) bool {
			if p.N > 0 && len(repos) == p.N {
				more = true
				return false
			}
			var repo Repository
			if err := json.Unmarshal(v, &repo); err != nil {
				r.log.Error("skipping a repository whose record cannot be read", "err", corrupt("repository", k, err))
				return true
			}
			repos = append(repos, repo)
			return true
		})
	})
	return repos, more, err
}

// after returns the scan start that skips entries up to and including last.
func after(prefix []byte, last string) []byte {
	if last == "" {
		return nil
	}
	return append(append([]byte{}, prefix...), append([]byte(last), 0)...)
}

// DeleteRepository removes a repository; unless force, it must hold no images.
func (r *Registry) DeleteRepository(ctx context.Context, reg RegistryID, name string, force bool) (Repository, error) {
	var repo Repository
	ev := r.event(ctx, EventDelete, reg, name)
	ev.Target = TargetRepository
	if err := r.bus.check(ctx, ev); err != nil {
		return repo, err
	}
	var orphans []digest.Digest
	var uploads []string
	err := r.kv.Update(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, name, &repo); err != nil {
			return err
		}
		pre := inRepo(reg, name)
		if !force {
			empty := true
			tx.Scan(bManifests, pre, nil, func(k, v []byte) bool { empty = false; return false })
			if !empty {
				return Errorf(KindRepositoryNotEmpty, "The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", name, reg.Account)
			}
		}
		for _, b := range []string{bManifests, bTags, bDigestTags, bReferrers, bParents, bImageData} {
			if err := deletePrefix(tx, b, pre); err != nil {
				return err
			}
		}
		for _, d := range repoBlobs(tx, reg, name) {
			o, err := unlinkBlob(tx, reg, name, d)
			if err != nil {
				return err
			}
			orphans = append(orphans, o...)
		}
		var err error
		if uploads, err = deleteUploadRecords(tx, reg, name); err != nil {
			return err
		}
		if err := endRepoSessionsTx(tx, reg, name); err != nil {
			return err
		}
		return tx.Delete(bRepos, repoKey(reg, name))
	})
	if err != nil {
		return repo, err
	}
	r.endSessions(append(uploads, r.sessionsOf(reg, name)...))
	r.dropBlobs(orphans)
	r.bus.publish(ctx, ev)
	return repo, nil
}

func deletePrefix(tx kv.Tx, bucket string, prefix []byte) error {
	var keys [][]byte
	tx.Scan(bucket, prefix, nil, func(k, v []byte) bool { keys = append(keys, append([]byte{}, k...)); return true })
	for _, k := range keys {
		if err := tx.Delete(bucket, k); err != nil {
			return err
		}
	}
	return nil
}

// Validation of repository settings, shared by the ECR API and the creation
// templates (a template carries the same settings as CreateRepository).

// NormalizeMutability checks an image tag mutability mode and its exclusion
// filters (a wildcard pattern each) and returns the mode to store (MUTABLE
// when empty).
func NormalizeMutability(mode string, exclusions []string) (string, []string, error) {
	if mode == "" {
		mode = "MUTABLE"
	}
	withExclusions := mode == "MUTABLE_WITH_EXCLUSION" || mode == "IMMUTABLE_WITH_EXCLUSION"
	if withExclusions && len(exclusions) == 0 {
		return "", nil, InvalidParameter("imageTagMutabilityExclusionFilters", "Exclusion filters are required when imageTagMutability is "+mode)
	}
	if !withExclusions && len(exclusions) > 0 {
		return "", nil, InvalidParameter("imageTagMutabilityExclusionFilters", "Exclusion filters can only be used with MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION")
	}
	return mode, exclusions, nil
}

// DefaultEncryption checks an encryption configuration and fills in ECR's
// defaults: AES256 without a key; KMS and KMS_DSSE without a key use the
// account's AWS-managed key for ECR, which AWS reports by its key ARN.
func DefaultEncryption(reg RegistryID, encryptionType, kmsKey string) (string, string, error) {
	switch {
	case encryptionType == "AES256" && kmsKey != "":
		return "", "", InvalidParameter("encryptionConfiguration.kmsKey", "A KMS key can only be given with the KMS or KMS_DSSE encryption type")
	case (encryptionType == "KMS" || encryptionType == "KMS_DSSE") && kmsKey == "":
		kmsKey = AWSManagedKeyARN(reg)
	}
	return encryptionType, kmsKey, nil
}

// AWSManagedKeyARN is the ARN of the account's AWS-managed KMS key for ECR
// (aws/ecr) in the registry's region: arn:aws:kms:<region>:<account>:key/<id>.
// The id is a name-based (version 5) UUID of the account and region, so it
// is the same every time, as the real key's is.
func AWSManagedKeyARN(reg RegistryID) string {
	h := sha1.Sum(append(awsManagedKeyNamespace[:], reg.Account+"/"+reg.Region+"/aws/ecr"...))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	id := hex.EncodeToString(h[:16])
	return "arn:aws:kms:" + reg.Region + ":" + reg.Account + ":key/" + id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
}

// awsManagedKeyNamespace makes berth's key ids its own (any fixed value would do).
var awsManagedKeyNamespace = [16]byte{0x6b, 0x8f, 0x2a, 0x51, 0x0c, 0x3e, 0x4d, 0x97, 0xa1, 0x55, 0x2e, 0x60, 0x9d, 0x13, 0xb4, 0x7c}

// AWS's resource tag limits.
const maxResourceTags = 50

var tagChars = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// MergeTags adds tags to existing ones (later values win) and enforces AWS's
// rules for keys, values and the count.
func MergeTags(existing, add []ResourceTag) ([]ResourceTag, error) {
	out := append([]ResourceTag(nil), existing...)
	for _, t := range add {
		switch {
		case t.Key == "" || utf8.RuneCountInString(t.Key) > 128:
			return nil, Errorf(KindInvalidTagParameter, "Tag keys must be 1 to 128 characters long")
		case utf8.RuneCountInString(t.Value) > 256:
			return nil, Errorf(KindInvalidTagParameter, "Tag values can be at most 256 characters long")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return nil, Errorf(KindInvalidTagParameter, "Tag keys starting with 'aws:' are reserved for AWS use")
		case !tagChars.MatchString(t.Key) || !tagChars.MatchString(t.Value):
			return nil, Errorf(KindInvalidTagParameter, "Tag keys and values may only contain letters, digits, spaces and _ . : / = + - @")
		}
		replaced := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value, replaced = t.Value, true
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	if len(out) > maxResourceTags {
		return nil, Errorf(KindTooManyTags, "A resource can have at most %d tags; this request would give it %d", maxResourceTags, len(out))
	}
	return out, nil
}
