// Package httpdate formats an answer's Date header once per second rather
// than once per answer, as net/http does when a handler leaves Date unset:
// its time formatting is about 1% of the CPU of a small answer (a PutImage,
// a manifest GET).
package httpdate

import (
	"net/http"
	"time"

	"github.com/berth-dev/berth/internal/last"
)

// Date is the Date header's value of the current second. It reads the
// wall clock net/http reads (not core's Clock, which tests set), to the
// second as net/http writes it. The zero Date is ready to use.
type Date struct {
	second last.One[int64, []string] // the header's values, shared by the answers of that second
}

// Header returns the Date header's values for now, to be set as
// h["Date"] (net/http then writes it instead of formatting its own).
// Callers must not change them: they are shared.
func (d *Date) Header(now time.Time) []string {
	sec := now.Unix()
	if v, ok := d.second.Get(sec); ok {
		return v
	}
	v := []string{now.UTC().Format(http.TimeFormat)}
	d.second.Set(sec, v)
	return v
}
