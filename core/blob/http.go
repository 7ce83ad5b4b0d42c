package blob

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServeContent answers a GET or HEAD of a blob with http.ServeContent (Range
// requests, preconditions, sendfile from an *os.File), except that a range
// selecting no byte never reaches it: ServeContent answers one with 206 and
// an impossible Content-Range such as "bytes 100-99/100" (golang/go#81262).
// So an empty blob is served whole (RFC 9110 lets a server ignore Range),
// and a suffix range of length 0 ("bytes=-0") is dropped from the request;
// when nothing else was asked for, the range asked for is unsatisfiable, and
// ServeContent is asked for one it answers 416.
func ServeContent(w http.ResponseWriter, r *http.Request, rd Reader) {
	if h := r.Header.Get("Range"); h != "" {
		if h2 := nonEmptyRanges(h, rd.Size()); h2 != h {
			r = r.Clone(r.Context())
			r.Header.Set("Range", h2)
			if h2 == "" {
				r.Header.Del("Range")
			}
		}
	}
	http.ServeContent(w, r, "", time.Time{}, Seeker(rd))
}

// nonEmptyRanges returns the Range header h without the ranges that select
// no byte of a blob of size bytes, as ServeContent parses them.
func nonEmptyRanges(h string, size int64) string {
	if size == 0 {
		return ""
	}
	specs, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return h // another unit: ServeContent answers 416
	}
	var kept []string
	dropped := false
	for _, spec := range strings.Split(specs, ",") {
		start, end, _ := strings.Cut(spec, "-")
		start, end = strings.Trim(start, " \t\r\n"), strings.Trim(end, " \t\r\n")
		if n, err := strconv.ParseInt(end, 10, 64); start == "" && end != "" && end[0] != '-' && err == nil && n == 0 {
			dropped = true
			continue
		}
		if strings.Trim(spec, " \t\r\n") != "" {
			kept = append(kept, spec)
		}
	}
	switch {
	case !dropped:
		return h
	case len(kept) == 0:
		return "bytes=" + strconv.FormatInt(size, 10) + "-" // starts past the end: 416
	}
	return "bytes=" + strings.Join(kept, ",")
}
