package ecr

import (
	"net/http"
	"sync/atomic"
	"time"
)

// httpDate is the answers' Date header, formatted once per second rather
// than by net/http for each answer (its time formatting was ≈ 1% of a
// PutImage's CPU). AWS's SDKs read Date to correct their clock skew
// (aws-sdk-go-v2's RecordResponseTiming middleware: aws/aws-sdk-go-v2#2668,
// #3409), so every answer keeps one, to the second as net/http writes it,
// from the same wall clock net/http reads (not core's Clock, which tests
// set).
type httpDate struct {
	last atomic.Pointer[dateLine]
}

type dateLine struct {
	sec  int64
	vals [1]string // the header's value slice, shared by the answers of that second
}

// header returns the Date header's values for now; callers must not change them.
func (d *httpDate) header(now time.Time) []string {
	sec := now.Unix()
	if l := d.last.Load(); l != nil && l.sec == sec {
		return l.vals[:1:1]
	}
	l := &dateLine{sec: sec}
	l.vals[0] = now.UTC().Format(http.TimeFormat)
	d.last.Store(l)
	return l.vals[:1:1]
}
