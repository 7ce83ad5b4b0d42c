package oci

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
)

// A manifest's answers set their own Date (net/http then formats none): the
// wall-clock time of the answer to the second, as net/http writes it, and
// one Date header on the wire.
func TestManifestAnswersCarryTheirDate(t *testing.T) {
	e := newEnv(t, false)
	e.createRepo(acct, "app")
	body := e.image(acct, "app", "one")
	w := e.do(req{method: "PUT", path: "/v2/app/manifests/v1", body: body, header: map[string]string{"Content-Type": core.MediaTypeOCIManifest}})
	wantStatus(t, w, 201, "PUT")
	for _, method := range []string{"GET", "HEAD"} {
		before := time.Now().Truncate(time.Second)
		w := e.do(req{method: method, path: "/v2/app/manifests/v1"})
		after := time.Now()
		wantStatus(t, w, 200, method)
		got, err := http.ParseTime(w.Header().Get("Date"))
		if err != nil || got.Before(before) || got.After(after) {
			t.Fatalf("%s: Date %q (%v), want between %v and %v", method, w.Header().Get("Date"), err, before, after)
		}
	}

	srv := httptest.NewServer(e.h)
	defer srv.Close()
	for _, method := range []string{"GET", "HEAD"} {
		hr, _ := http.NewRequest(method, srv.URL+"/v2/app/manifests/v1", nil)
		hr.SetBasicAuth("AWS", e.token)
		before := time.Now().Truncate(time.Second)
		resp, err := srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		after := time.Now()
		dates := resp.Header.Values("Date")
		if resp.StatusCode != 200 || len(dates) != 1 {
			t.Fatalf("%s on the wire: %d, Date %q", method, resp.StatusCode, dates)
		}
		if got, err := http.ParseTime(dates[0]); err != nil || got.Before(before) || got.After(after) {
			t.Fatalf("%s on the wire: Date %q (%v), want between %v and %v", method, dates[0], err, before, after)
		}
	}
}
