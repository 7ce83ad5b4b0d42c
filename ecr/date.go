package ecr

import (
	"net/http"
	"time"

	"github.com/berth-dev/berth/internal/last"
)

// httpDate is the answers' Date header, formatted once per second rather
// than by net/http for each answer (its time formatting was ≈ 1% of a
// PutImage's CPU). AWS's SDKs read Date to correct their clock skew
// (aws-sdk-go-v2's RecordResponseTiming middleware: aws/aws-sdk-go-v2#2668,
// #3409), so every answer keeps one, to the second as net/http writes it,
// from the same wall clock net/http reads (not core's Clock, which tests
// set).
type httpDate struct {
	second last.One[int64, []string] // the header's values, shared by the answers of that second
}

// header returns the Date header's values for now; callers must not change them.
func (d *httpDate) header(now time.Time) []string {
	sec := now.Unix()
	if v, ok := d.second.Get(sec); ok {
		return v
	}
	v := []string{now.UTC().Format(http.TimeFormat)}
	d.second.Set(sec, v)
	return v
}
