package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// These tests cover the server-bound mode's request bodies; the benchmark
// itself runs with `go run ./bench/moto`.

func TestCollectPagesAndCycle(t *testing.T) {
	toks := []string{"a", "b"}
	calls := 0
	pages, first, err := collectPages(250, func(tok *string) (int, *string, error) {
		calls++
		if calls <= len(toks) {
			return 100, &toks[calls-1], nil
		}
		return 50, nil, nil
	})
	if err != nil || len(pages) != 3 || first != 100 {
		t.Fatalf("%d pages, first %d, %v", len(pages), first, err)
	}
	r := &rawResult{describePages: pages}
	body := r.rawBody(rawDescribePage, 0)
	var got []string
	for range 4 {
		var m map[string]any
		if err := json.Unmarshal(body(), &m); err != nil {
			t.Fatal(err)
		}
		tok, _ := m["nextToken"].(string)
		got = append(got, tok)
	}
	if strings.Join(got, ",") != ",a,b," {
		t.Fatalf("tokens in turn: %q", got)
	}
}

func TestRawBodiesAreJSON(t *testing.T) {
	r := &rawResult{manifest: newBlobs().manifest(9999, 0), describePages: [][]byte{[]byte("{}")}, listPages: [][]byte{[]byte("{}")}}
	for w := range nRaw {
		var m map[string]any
		if err := json.Unmarshal(r.rawBody(w, 1)(), &m); err != nil {
			t.Errorf("%s: %v", rawNames(options{rawImages: 10, rawTime: time.Second})[w], err)
		}
	}
	var put map[string]any
	json.Unmarshal(r.rawBody(rawPut, 2)(), &put)
	if put["repositoryName"] != rawPutRepo(2) {
		t.Errorf("PutImage goes to %v", put["repositoryName"])
	}
}
