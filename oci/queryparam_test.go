package oci

import (
	"net/url"
	"strings"
	"testing"
)

// queryParam must read a completion's digest exactly as url.ParseQuery
// would: the first value of the key, escaped keys and values included,
// pairs ParseQuery refuses skipped.
func TestQueryParamReadsAsParseQuery(t *testing.T) {
	raws := []string{
		"", "digest=sha256:abc", "digest=", "digest", "a=1&digest=x&digest=y",
		"dig%65st=x", "digest=a%3Ab", "digest=a+b", "digest=%zz&digest=ok",
		"digest=a;b&digest=c", "digest;x=1", "&&digest=z&", "x=1&y=2",
		"digest=%", "di+gest=1", "digest%=1&digest=2", "=v&digest=w",
		strings.Repeat("a=1&", 999) + "digest=x", strings.Repeat("a=1&", 20000) + "digest=x",
	}
	for _, raw := range raws {
		q, _ := url.ParseQuery(raw)
		v, ok := queryParam(raw, "digest")
		if ok != q.Has("digest") || v != q.Get("digest") {
			t.Errorf("%q: queryParam = %q, %v; ParseQuery = %q, %v", raw, v, ok, q.Get("digest"), q.Has("digest"))
		}
	}
}
