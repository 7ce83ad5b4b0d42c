package ecr

import (
	"math"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type memberSpec struct{ Name, Shape string }

// shapeSpec is one shape of the model with its constraints.
type shapeSpec struct {
	Type      string
	Members   []memberSpec
	Required  []string
	Min, Max  *float64
	Pattern   string
	Enum      []string
	Member    string // list element shape
	Key       string // map key shape
	Value     string // map value shape
	Exception bool

	// The shapes Members, Member, Key and Value name, resolved once
	// (resolveShapes): validation walks them on every request, and a map
	// lookup by name per member was a noticeable part of a small call.
	members            []*shapeSpec
	member, key, value *shapeSpec

	once sync.Once
	re   *regexp.Regexp
	// matched remembers up to maxMatched values that matched the pattern:
	// most requests name the same few repositories, and running the regexp
	// engine on each was a noticeable part of a small call.
	matched  sync.Map
	nMatched atomic.Int32
}

const maxMatched = 1024

func init() { resolveShapes(shapes) }

// lengthOK reports whether a list's length satisfies the shape.
func (s *shapeSpec) lengthOK(n int) bool { return s.lengthConstraint(n) == "" }

// resolveShapes points every shape at the shapes it names.
func resolveShapes(all map[string]*shapeSpec) {
	for _, s := range all {
		s.members = make([]*shapeSpec, len(s.Members))
		for i, m := range s.Members {
			s.members[i] = all[m.Shape]
		}
		s.member, s.key, s.value = all[s.Member], all[s.Key], all[s.Value]
	}
}

// regexp compiles the pattern once. ECR matches the whole value.
func (s *shapeSpec) regexp() *regexp.Regexp {
	s.once.Do(func() { s.re = regexp.MustCompile(`^(?:` + s.Pattern + `)$`) })
	return s.re
}

// matches reports whether str matches the whole pattern.
func (s *shapeSpec) matches(str string) bool {
	if _, ok := s.matched.Load(str); ok {
		return true
	}
	if !s.regexp().MatchString(str) {
		return false
	}
	if s.nMatched.Add(1) <= maxMatched {
		s.matched.Store(str, struct{}{})
	}
	return true
}

type operationSpec struct {
	Input, Output string
	Errors        []string

	// read reads the input from a body, checking it, or declines (nil:
	// the operation has no input); set from inputReaders at start.
	read func(*bodyReader) (inputMembers, bool)
}

func init() {
	for name, o := range operations {
		o.read = inputReaders[o.Input]
		operations[name] = o
	}
}

// declares reports whether the operation lists the exception.
func (o operationSpec) declares(exception string) bool {
	for _, e := range o.Errors {
		if e == exception {
			return true
		}
	}
	return false
}

// resourceSource says where an operation's input names the resources its
// action is performed on (internal/gen derives it from the model).
type resourceSource int

const (
	// anyResource: the action has no resource type in IAM; it is performed on "*".
	anyResource resourceSource = iota
	// namedRepository: the repository repositoryName names.
	namedRepository
	// namedRepositories: each repository repositoryNames names; when it names
	// none, every repository of the registry (repository/*).
	namedRepositories
	// repositoryByARN: the repository resourceArn names, in the ARN's registry.
	repositoryByARN
)

// authorizationSpec is how one operation is authorized.
type authorizationSpec struct {
	Action      string // the IAM action, ecr:<operation>
	Resources   resourceSource
	RegistryID  bool // registryId, when given, is the account of the addressed registry
	RequestTags bool // tags are aws:RequestTag/* and aws:TagKeys
	TagKeys     bool // tagKeys are aws:TagKeys
	// Context maps a service-specific condition key to the input member
	// holding its value.
	Context map[string]string
}

func ptr(f float64) *float64 { return &f }

// Time is a timestamp that JSON 1.1 encodes as epoch seconds.
type Time struct{ time.Time }

func (t Time) MarshalJSON() ([]byte, error) {
	secs := float64(t.UnixNano()) / 1e9
	return strconv.AppendFloat(nil, math.Round(secs*1000)/1000, 'f', -1, 64), nil
}

func (t *Time) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(f)
		t.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
		return nil
	}
	uq, err := strconv.Unquote(s)
	if err != nil {
		return err
	}
	p, err := time.Parse(time.RFC3339Nano, uq)
	t.Time = p
	return err
}

// At converts a time for a response (nil for the zero time).
func At(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t}
}

// Generic pointer helpers for generated optional members.
func i32(v int) *int32   { x := int32(v); return &x }
func i64(v int64) *int64 { return &v }
func boolp(v bool) *bool { return &v }
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
