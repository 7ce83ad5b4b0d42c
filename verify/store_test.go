package verify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/core/coretest"
	"github.com/berth-dev/berth/plugins/verifiers/sigtest"
)

var bg = context.Background()

// node is berth's verification as a process runs it over a data dir: a Service over the
// fixture's registry, started with an optional --verify-config policy; restart is a new
// process on the same stores.
type node struct {
	t   *testing.T
	f   *coretest.Fixture
	v   *Service
	log *lockedBuffer
	// extra verifiers the process loads besides the built-in
	extra map[string]Plugin
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newNode(t *testing.T) *node {
	return &node{t: t, f: coretest.New(t, coretest.Disk, coretest.Options{CreateOnPush: true})}
}

// start builds the Service as the server does at start and returns Restore's answer.
func (n *node) start(file *Config) error {
	n.t.Helper()
	verifiers := map[string]Plugin{DefaultVerifier: builtin}
	for name, p := range n.extra {
		verifiers[name] = p
	}
	n.log = &lockedBuffer{}
	n.v = New(Options{Registry: n.f.Registry(), Store: n.f.Registry(), Verifiers: verifiers, Clock: n.f.Clock,
		Log: slog.New(slog.NewTextHandler(n.log, nil))})
	if err := n.v.Restore(bg, file); err != nil {
		return err
	}
	n.v.Attach(n.f.Registry().Bus())
	return nil
}

func (n *node) mustStart(file *Config) {
	n.t.Helper()
	if err := n.start(file); err != nil {
		n.t.Fatal(err)
	}
}

// restart stops the process and starts it again on the same data dir.
func (n *node) restart(file *Config) {
	n.t.Helper()
	n.f.Restart()
	n.mustStart(file)
}

func (n *node) stored() ([]byte, bool) {
	n.t.Helper()
	b, ok, err := n.f.Registry().RegistryData(bg, berthWide, dataName)
	if err != nil {
		n.t.Fatal(err)
	}
	return b, ok
}

func (n *node) inForce(want Config, what string) {
	n.t.Helper()
	if want.Rules == nil {
		want.Rules = []Rule{}
	}
	if got := n.v.Config(); !reflect.DeepEqual(got, want) {
		n.t.Fatalf("%s: policy in force %+v, want %+v", what, got, want)
	}
}

// policyOf is one enforce rule over pattern, trusting key.
func policyOf(name, pattern string, key *sigtest.Key) Config {
	return Config{Rules: []Rule{{Name: name, Repositories: []string{pattern}, Mode: Enforce, Keys: []Key{{Name: "ci", PEM: key.PublicPEM()}}}}}
}

func TestAPutPolicyOutlivesARestartAndIsEnforcedAfterIt(t *testing.T) {
	n := newNode(t)
	n.mustStart(nil)
	key := sigtest.NewKey()
	put := policyOf("prod", "prod/*", key)
	if err := n.v.Put(bg, put); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.stored(); !ok {
		t.Fatal("Put returned before the policy was stored")
	}

	n.restart(nil)
	n.inForce(put, "after a restart")
	img := n.f.PushImage(reg, "prod/app", "", "a")
	h := &harness{t: t, f: n.f, v: n.v}
	if err := h.tag("prod/app", "v1", img); !core.IsKind(err, core.KindSignatureRequired) || !strings.Contains(err.Error(), "rule 'prod'") {
		t.Fatalf("unsigned tag move after the restart: %v, want KindSignatureRequired naming the rule", err)
	}
	h.store("prod/app", sigtest.LegacyTag(img.Digest), sigtest.SignLegacy(key, "prod/app", img.Digest))
	if err := h.tag("prod/app", "v1", img); err != nil {
		t.Fatalf("signed tag move after the restart: %v", err)
	}
	if !strings.Contains(n.log.String(), "restored") {
		t.Errorf("the start did not log that it restored the put policy:\n%s", n.log)
	}
}

func TestTheFileSeedsThePolicyAndAPutMadeUnderItIsKeptWhileTheFileIsUnchanged(t *testing.T) {
	n := newNode(t)
	file := policyOf("from-file", "file/*", sigtest.NewKey())
	n.mustStart(&file)
	n.inForce(file, "first start with the file")
	if _, ok := n.stored(); ok {
		t.Fatal("the file's policy was stored: the file itself is its source")
	}
	n.restart(&file)
	n.inForce(file, "second start with the same file")

	put := policyOf("from-put", "put/*", sigtest.NewKey())
	if err := n.v.Put(bg, put); err != nil {
		t.Fatal(err)
	}
	n.restart(&file)
	n.inForce(put, "a start with the file unchanged since the PUT")
	n.restart(nil)
	n.inForce(put, "a start without the file")
	n.restart(&file)
	n.inForce(put, "a start with the file again, unchanged")
}

func TestAFileThatChangedSinceThePutReplacesTheStoredPolicyAndSaysSo(t *testing.T) {
	n := newNode(t)
	file := policyOf("from-file", "file/*", sigtest.NewKey())
	n.mustStart(&file)
	put := policyOf("from-put", "put/*", sigtest.NewKey())
	if err := n.v.Put(bg, put); err != nil {
		t.Fatal(err)
	}

	// A key file that changed changes the file's policy as much as a rule does.
	changed := policyOf("from-file", "file/*", sigtest.NewKey())
	n.restart(&changed)
	n.inForce(changed, "a start with a changed file")
	if !strings.Contains(n.log.String(), "the file's policy replaces the stored one") {
		t.Errorf("the replacement was not logged:\n%s", n.log)
	}
	if _, ok := n.stored(); ok {
		t.Error("the replaced policy is still stored")
	}
	n.restart(nil)
	n.inForce(Config{}, "a start without the file, once the file replaced the PUT")
}

func TestAFileGivenAfterAPutMadeWithoutOneReplacesIt(t *testing.T) {
	n := newNode(t)
	n.mustStart(nil)
	if err := n.v.Put(bg, policyOf("from-put", "put/*", sigtest.NewKey())); err != nil {
		t.Fatal(err)
	}
	file := policyOf("from-file", "file/*", sigtest.NewKey())
	n.restart(&file)
	n.inForce(file, "the first start with a file")
}

func TestAnInvalidPutChangesNeitherThePolicyNorTheStore(t *testing.T) {
	n := newNode(t)
	n.mustStart(nil)
	good := policyOf("prod", "prod/*", sigtest.NewKey())
	if err := n.v.Put(bg, good); err != nil {
		t.Fatal(err)
	}
	before, _ := n.stored()
	pub := sigtest.NewKey().PublicPEM()
	for _, bad := range []Config{
		{Rules: []Rule{{Name: "r", Repositories: []string{"a"}, Mode: Enforce}}},
		{Rules: []Rule{{Name: "r", Repositories: []string{"a"}, Mode: "block", Keys: []Key{{PEM: pub}}}}},
		{Verifier: "missing", Rules: []Rule{{Name: "r", Repositories: []string{"a"}, Mode: Audit, Keys: []Key{{PEM: pub}}}}},
		{PluginsDir: "/tmp", Rules: []Rule{}},
	} {
		err := n.v.Put(bg, bad)
		var invalid *InvalidPolicyError
		if !errors.As(err, &invalid) {
			t.Errorf("Put(%+v): %v, want an InvalidPolicyError", bad, err)
		}
		n.inForce(good, "after an invalid Put")
		if after, _ := n.stored(); !bytes.Equal(after, before) {
			t.Fatalf("an invalid Put changed the stored policy:\n%s\nwas\n%s", after, before)
		}
	}
	n.restart(nil)
	n.inForce(good, "after a restart")
}

// failingStore is a store whose writes fail, as a full disk would.
type failingStore struct{ Store }

func (failingStore) UpdateRegistryData(context.Context, core.RegistryID, string, func([]byte) ([]byte, error)) error {
	return errors.New("disk full")
}

func TestAPutTheStoreRefusesIsNotPutInForce(t *testing.T) {
	n := newNode(t)
	n.mustStart(nil)
	n.v.store = failingStore{n.f.Registry()}
	err := n.v.Put(bg, policyOf("prod", "prod/*", sigtest.NewKey()))
	var invalid *InvalidPolicyError
	if err == nil || errors.As(err, &invalid) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Put with a failing store: %v, want the store's error", err)
	}
	n.inForce(Config{}, "after the store failed")
}

func TestResetRemovesThePutPolicyAndBringsBackTheFiles(t *testing.T) {
	n := newNode(t)
	file := policyOf("from-file", "file/*", sigtest.NewKey())
	n.mustStart(&file)
	if err := n.v.Put(bg, policyOf("from-put", "put/*", sigtest.NewKey())); err != nil {
		t.Fatal(err)
	}
	if err := n.f.Registry().Reset(bg); err != nil {
		t.Fatal(err)
	}
	if err := n.v.Reset(bg); err != nil {
		t.Fatal(err)
	}
	n.inForce(file, "after Reset")
	if _, ok := n.stored(); ok {
		t.Fatal("Reset left the put policy stored")
	}
	n.restart(&file)
	n.inForce(file, "a start after Reset")

	// Without a file, Reset leaves no policy, as a first start has none.
	if err := n.v.Put(bg, policyOf("from-put", "put/*", sigtest.NewKey())); err != nil {
		t.Fatal(err)
	}
	n.restart(nil)
	n.f.Registry().Reset(bg)
	if err := n.v.Reset(bg); err != nil {
		t.Fatal(err)
	}
	n.inForce(Config{}, "after Reset without a file")
}

func TestAStoredPolicyWhoseVerifierIsNotLoadedStopsTheStartUntilAFileReplacesIt(t *testing.T) {
	n := newNode(t)
	n.extra = map[string]Plugin{"approved": builtin}
	n.mustStart(nil)
	put := policyOf("prod", "prod/*", sigtest.NewKey())
	put.Verifier = "approved"
	if err := n.v.Put(bg, put); err != nil {
		t.Fatal(err)
	}
	n.extra = nil
	n.f.Restart()
	if err := n.start(nil); err == nil || !strings.Contains(err.Error(), `verifier plugin "approved" is not loaded`) ||
		!strings.Contains(err.Error(), "PUT /_berth/verification") {
		t.Fatalf("a start without the stored policy's verifier: %v", err)
	}
	file := policyOf("from-file", "file/*", sigtest.NewKey())
	n.restart(&file)
	n.inForce(file, "a start with a new file")
}
