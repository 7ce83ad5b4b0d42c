package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
	"github.com/opencontainers/go-digest"
)

// Options configure a Registry. KV and Blobs are required.
type Options struct {
	KV           kv.Store
	Blobs        blob.Store
	Bus          *Bus          // nil: a private bus
	Clock        Clock         // nil: SystemClock
	NewID        func() string // upload ids; nil: 128 random bits in hex
	CreateOnPush bool          // a push to a missing repository creates it
	Authorizer   Authorizer    // nil: AccountBoundary
	Log          *slog.Logger
}

// Registry is the domain service both edges call. It is safe for concurrent use.
type Registry struct {
	kv           kv.Store
	blobs        blob.Store
	bus          *Bus
	clock        Clock
	newID        func() string
	createOnPush bool
	authz        Authorizer
	log          *slog.Logger

	mu      sync.Mutex
	uploads map[string]*openUpload // upload handles kept open between requests

	// gcMu orders blob removal against commits: a commit-and-link holds it
	// shared, removal of an unreferenced blob holds it exclusively and re-checks.
	gcMu sync.RWMutex

	pulls pullTimes
}

// New builds a Registry over the given stores.
func New(o Options) *Registry {
	r := &Registry{kv: o.KV, blobs: o.Blobs, bus: o.Bus, clock: o.Clock, newID: o.NewID,
		createOnPush: o.CreateOnPush, authz: o.Authorizer, log: o.Log, uploads: map[string]*openUpload{}}
	if r.authz == nil {
		r.authz = AccountBoundary{}
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.bus == nil {
		r.bus = NewBus(1024, r.log)
	}
	if r.clock == nil {
		r.clock = SystemClock
	}
	if r.newID == nil {
		r.newID = NewUUID
	}
	return r
}

// NewUUID returns a random (version 4) UUID: the form of ECR's upload and
// request ids.
func NewUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Bus returns the event bus, for subscribers.
func (r *Registry) Bus() *Bus { return r.bus }

// Clock returns the registry's clock.
func (r *Registry) Clock() Clock { return r.clock }

// Close releases open upload handles (their bytes stay resumable), drains the
// event queue and closes the stores.
func (r *Registry) Close() error {
	r.mu.Lock()
	for id, u := range r.uploads {
		u.up.Close()
		delete(r.uploads, id)
	}
	r.mu.Unlock()
	r.bus.Close()
	r.closePulls()
	return r.kv.Close()
}

// event fills in the fields every event carries.
func (r *Registry) event(ctx context.Context, k EventKind, reg RegistryID, repo string) Event {
	return Event{Kind: k, Registry: reg, Repository: repo, Actor: CallerFrom(ctx).Principal, Time: r.clock.Now()}
}

func repoNotFound(reg RegistryID, name string) error {
	return Errorf(KindRepositoryNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", name, reg.Account)
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
	return repo, err
}

// UpdateRepository changes a repository's settings in one transaction; if
// change returns an error nothing is stored.
func (r *Registry) UpdateRepository(ctx context.Context, reg RegistryID, name string, change func(*Repository) error) (Repository, error) {
	var repo Repository
	err := r.kv.Update(func(tx kv.Tx) error {
		if err := getRepo(tx, reg, name, &repo); err != nil {
			return err
		}
		if err := change(&repo); err != nil {
			return err
		}
		repo.Registry, repo.Name = reg, name
		return putJSON(tx, bRepos, repoKey(reg, name), repo)
	})
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
	b := tx.Get(bRepos, repoKey(reg, name))
	if b == nil {
		return repoNotFound(reg, name)
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(b, into)
}

// ensureRepo checks that the repository exists, creating it when
// create-on-push is on. It runs inside the caller's transaction.
func (r *Registry) ensureRepo(tx kv.Tx, reg RegistryID, name string) error {
	err := getRepo(tx, reg, name, nil)
	if err == nil || !r.createOnPush || !IsKind(err, KindRepositoryNotFound) {
		return err
	}
	if !ValidRepositoryName(name) {
		return Errorf(KindNameInvalid, "invalid repository name '%s'", name)
	}
	return putJSON(tx, bRepos, repoKey(reg, name), Repository{Registry: reg, Name: name, CreatedAt: r.clock.Now()})
}

// requireRepo checks that the repository exists with a read, and writes only
// when create-on-push has to create it.
func (r *Registry) requireRepo(reg RegistryID, name string) error {
	err := r.kv.View(func(tx kv.Tx) error { return getRepo(tx, reg, name, nil) })
	if err == nil || !r.createOnPush || !IsKind(err, KindRepositoryNotFound) {
		return err
	}
	return r.kv.Update(func(tx kv.Tx) error { return r.ensureRepo(tx, reg, name) })
}

// ListRepositories lists a registry's repositories in name order.
func (r *Registry) ListRepositories(ctx context.Context, reg RegistryID, p Page) (repos []Repository, more bool, err error) {
	prefix := []byte(regPrefix(reg))
	err = r.kv.View(func(tx kv.Tx) error {
		return tx.Scan(bRepos, prefix, after(prefix, p.Last), func(k, v []byte) bool {
			if p.N > 0 && len(repos) == p.N {
				more = true
				return false
			}
			var repo Repository
			if err := json.Unmarshal(v, &repo); err == nil {
				repos = append(repos, repo)
			}
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
		for _, b := range []string{bManifests, bBytes, bTags, bReferrers, bParents} {
			if err := deletePrefix(tx, b, pre); err != nil {
				return err
			}
		}
		var links [][]byte
		tx.Scan(bLinks, pre, nil, func(k, v []byte) bool { links = append(links, append([]byte{}, k...)); return true })
		for _, k := range links {
			o, err := unlinkBlob(tx, reg, name, digest.Digest(lastPart(k)))
			if err != nil {
				return err
			}
			orphans = append(orphans, o...)
		}
		var err error
		if uploads, err = deleteUploadRecords(tx, reg, name); err != nil {
			return err
		}
		return tx.Delete(bRepos, repoKey(reg, name))
	})
	if err != nil {
		return repo, err
	}
	r.cancelUploads(uploads)
	r.dropBlobs(orphans)
	r.bus.publish(ev)
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

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func putJSON(tx kv.Tx, bucket string, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, key, b)
}

func getJSON(tx kv.Tx, bucket string, key []byte, into any) (bool, error) {
	b := tx.Get(bucket, key)
	if b == nil {
		return false, nil
	}
	return true, json.Unmarshal(b, into)
}

// errStop ends a scan early from inside a callback that must return an error.
var errStop = errors.New("stop")
