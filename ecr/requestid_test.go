package ecr

import (
	"net/http"
	"regexp"
	"testing"
	"time"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Every answer, a success or an error, carries an x-amzn-RequestId of its
// own, shaped as a version-4 UUID; two handlers (two processes) do not
// count from the same place.
func TestEveryAnswerHasItsOwnUUIDShapedRequestID(t *testing.T) {
	h := newTestHandler(t)
	seen := map[string]bool{}
	for i := range 200 {
		body := `{"repositoryNames":["none"]}`
		if i%2 == 1 {
			body = `{"repositoryName":`
		}
		rec, _ := post(t, h, "DescribeRepositories", body, "", "")
		id := rec.Header().Get("X-Amzn-Requestid")
		if !uuidV4.MatchString(id) {
			t.Fatalf("request id %q is not a version-4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("request id %q given twice", id)
		}
		seen[id] = true
	}
	rec, _ := post(t, newTestHandler(t), "DescribeRepositories", `{}`, "", "")
	if id := rec.Header().Get("X-Amzn-Requestid"); id[:18] == func() string {
		for k := range seen {
			return k[:18]
		}
		return ""
	}() {
		t.Fatalf("two handlers share their ids' random half: %s", id)
	}
}

// Answers carry the Date net/http would write (the SDKs correct their
// clock skew from it): the time of the answer, to the second.
func TestAnswersCarryTheirDate(t *testing.T) {
	h := newTestHandler(t)
	before := time.Now().Truncate(time.Second)
	rec, _ := post(t, h, "DescribeRepositories", `{}`, "", "")
	after := time.Now()
	got, err := http.ParseTime(rec.Header().Get("Date"))
	if err != nil || got.Before(before) || got.After(after) {
		t.Fatalf("Date %q (%v), want between %v and %v", rec.Header().Get("Date"), err, before, after)
	}
}
