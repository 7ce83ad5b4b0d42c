package httpdate

import (
	"net/http"
	"testing"
	"time"
)

func TestDateIsNetHTTPsFormatOfItsSecond(t *testing.T) {
	var d Date
	at := time.Date(2026, 12, 2, 20, 21, 7, 900_000_000, time.FixedZone("CET", 3600))
	v := d.Header(at)
	if len(v) != 1 || v[0] != "Wed, 02 Dec 2026 19:21:07 GMT" || v[0] != at.UTC().Format(http.TimeFormat) {
		t.Fatalf("Header(%v) = %q", at, v)
	}
	if again := d.Header(at.Add(50 * time.Millisecond)); &again[0] != &v[0] {
		t.Fatal("a second's values were formatted again within the second")
	}
	next := d.Header(at.Add(100 * time.Millisecond)) // 20:21:08 CET
	if next[0] != "Wed, 02 Dec 2026 19:21:08 GMT" {
		t.Fatalf("the next second's Date = %q", next[0])
	}
}
