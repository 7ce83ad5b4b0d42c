package osv

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// records are the scanner's fixture advisories and odd-but-valid shapes.
func records(t testing.TB) [][]byte {
	files, _ := filepath.Glob("../../../testdata/advisories/*.json")
	if len(files) == 0 {
		t.Fatal("no fixture advisories")
	}
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return append(out,
		[]byte(`{"id":"X-1","aliases":[],"upstream":null,"affected":[null,{"package":null,"ranges":[{"events":[null,{"fixed":"1"}]}]}]}`),
		[]byte(`{"ID":"case","Summary":"folded keys","AFFECTED":[{"Package":{"Name":"n","ECOSYSTEM":"e"}}]}`),
		[]byte(`{"id":"esc","details":"tab\there \"quoted\" \\ slash\/ \u00e9 \ud83d\ude00 lone \ud800 end","summary":"caf\u00e9 — é"}`),
		[]byte(`{"id":"spec","database_specific":{"severity":"HIGH","severity":5},"affected":[{"ecosystem_specific":{"urgency":"low","x":{"y":[1,2,{"z":null}]}},"database_specific":"str"}]}`),
		[]byte(`{"id":"nums","schema_version":"1.6.0","x":[-0,1.5e10,-2E-3,0.25,true,false,null]}`),
		[]byte("{\"id\":\"bad utf8 \xff\xfe ok\"}"),
		[]byte(`null`),
	)
}

// repeatsAKey reports whether some object of data (valid JSON) has two keys that are equal
// ignoring case, as encoding/json matches fields.
func repeatsAKey(data []byte) bool {
	type frame struct {
		object, wantKey bool
		keys            []string
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok {
		case json.Delim('{'):
			if top != nil && top.object {
				top.wantKey = false
			}
			stack = append(stack, &frame{object: true, wantKey: true})
			continue
		case json.Delim('['):
			if top != nil && top.object {
				top.wantKey = false
			}
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
			continue
		}
		if top != nil && top.object && top.wantKey {
			k := tok.(string)
			for _, seen := range top.keys {
				if strings.EqualFold(seen, k) {
					return true
				}
			}
			top.keys = append(top.keys, k)
			top.wantKey = false
			continue
		}
		valueDone()
	}
}

func TestDecodeRecordEqualsEncodingJSON(t *testing.T) {
	for _, data := range records(t) {
		var want Record
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("encoding/json: %v\n%s", err, data)
		}
		got, err := DecodeRecord(data)
		if err != nil {
			t.Fatalf("DecodeRecord: %v\n%s", err, data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DecodeRecord differs from encoding/json on %s\n got %+v\nwant %+v", data, got, want)
		}
	}
}

func TestDecodeRecordRefusesBrokenJSON(t *testing.T) {
	for _, broken := range []string{``, `[]`, `{`, `{"id":"A"`, `{"id":"A",}`, `{"id":"A"} x`, `{"id":"A}`, "{\"id\":\"a\x01b\"}",
		`{"id":"\q"}`, `{"id":"\u12"}`, `{"x":01}`, `{"x":tru}`, `{"x" 1}`, `{1:2}`, `{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`} {
		if _, err := DecodeRecord([]byte(broken)); err == nil {
			t.Errorf("accepted %q", broken[:min(len(broken), 40)])
		}
	}
	if _, err := DecodeRecord([]byte(`{"id":42}`)); err == nil {
		t.Error("accepted a number for the id")
	}
}

// The hand-written decoder must read every input as encoding/json reads it into Record: the
// same error or not, and the same record.
func FuzzDecodeRecordAgreesWithEncodingJSON(f *testing.F) {
	for _, data := range records(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if repeatsAKey(data) {
			// encoding/json decodes a repeated array field into the elements of the first
			// one (a later {} leaves an element's old fields); OSV records repeat no key.
			return
		}
		var want Record
		jsonErr := json.Unmarshal(data, &want)
		got, err := DecodeRecord(data)
		if (jsonErr == nil) != (err == nil) {
			t.Fatalf("encoding/json error %v, DecodeRecord error %v, on %q", jsonErr, err, data)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("on %q\n got %+v\nwant %+v", data, got, want)
		}
	})
}

// matchesByFullDecode is what Matches must return: every record decoded, then Affects.
func matchesByFullDecode(t *testing.T, data []byte, ecosystem, name string, versions []string, cmp Compare) []Match {
	t.Helper()
	var recs []Record
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatal(err)
	}
	var want []Match
	for _, r := range recs {
		for _, v := range versions {
			if a, ok := r.Affects(ecosystem, name, v, cmp); ok {
				m := Match{Record: r, Affected: *a, Version: v}
				m.Record.Affected = nil
				want = append(want, m)
			}
		}
	}
	return want
}

func TestMatchesEqualsFullDecodingThenAffects(t *testing.T) {
	var all []json.RawMessage
	for _, data := range records(t) {
		if json.Valid(data) {
			all = append(all, data)
		}
	}
	extra := []string{
		`{"id":"DEBIAN-CVE-2024-1","summary":"first","affected":[{"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"5"}]}],"package":{"name":"openssh","ecosystem":"Debian:12"},"severity":[{"type":"CVSS_V3","score":"x"}]},{"package":{"ecosystem":"Debian:12","name":"openssh"},"versions":["9"]}],"references":[{"type":"WEB","url":"u"}],"aliases":["CVE-2024-1"],"upstream":null,"database_specific":{"severity":"HIGH","nested":{"a":["]","}"]}}}`,
		`{"affected":[{"package":{"ecosystem":"Debian:12","name":"openssh"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}],"withdrawn":"2024-01-01","id":"W"}`,
		`{"id":"other package","affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"},"versions":["1"]}]}`,
	}
	for _, e := range extra {
		all = append(all, json.RawMessage(e))
	}
	data, _ := json.Marshal(all)
	cmp := func(a, b string) int { return strings.Compare(a, b) }
	for _, tc := range []struct {
		ecosystem, name string
		versions        []string
	}{
		{"Debian:12", "openssh", []string{"1", "9", "1:9.2p1-2+deb12u2"}},
		{"Debian:12", "glibc", []string{"1", "2.36-9+deb12u1"}},
		{"Alpine:v3.17", "openssl", []string{"3.0.7-r0"}},
		{"Debian:12", "absent", []string{"1"}},
	} {
		got, err := Matches(data, tc.ecosystem, tc.name, tc.versions, cmp, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := matchesByFullDecode(t, data, tc.ecosystem, tc.name, tc.versions, cmp)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s:\n got %+v\nwant %+v", tc.ecosystem, tc.name, got, want)
		}
		if tc.name == "openssh" && len(got) < 3 {
			t.Errorf("openssh: %d matches, the test means more", len(got))
		}
	}
}

func TestMatchesSkipsARecordWhoseReadFieldsHaveTheWrongShape(t *testing.T) {
	data := []byte(`[{"id":1,"affected":[{"package":{"ecosystem":"E","name":"n"},"versions":["1"]}]},{"id":"ok","affected":[{"package":{"ecosystem":"E","name":"n"},"versions":["1"]}]}]`)
	var bad []int
	got, err := Matches(data, "E", "n", []string{"1"}, strings.Compare, func(i int, err error) { bad = append(bad, i) })
	if err != nil || len(got) != 1 || got[0].Record.ID != "ok" || !reflect.DeepEqual(bad, []int{0}) {
		t.Fatalf("matches %+v, bad %v, error %v", got, bad, err)
	}
	for _, broken := range []string{`[`, `[{"id":"x"`, `[{"affected":[{"package":{"ecosystem":"E","name":"n"}`, `[{"x":"unterminated}]`, `[{"x":[[[[[}]`} {
		if _, err := Matches([]byte(broken), "E", "n", []string{"1"}, strings.Compare, nil); err == nil {
			t.Errorf("accepted %q", broken)
		}
	}
}

// On any input Matches stops, and on valid JSON whose records all decode it agrees with
// decoding everything.
func FuzzMatchesAgreesWithFullDecoding(f *testing.F) {
	for _, data := range records(f) {
		f.Add(append(append([]byte("["), data...), ']'))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Matches(data, "Debian:12", "openssh", []string{"1:9.2p1-2+deb12u2", "5"}, strings.Compare, nil)
		var recs []Record
		if !json.Valid(data) || repeatsAKey(data) || json.Unmarshal(data, &recs) != nil {
			return
		}
		if err != nil {
			t.Fatalf("valid input refused: %v", err)
		}
		want := matchesByFullDecode(t, data, "Debian:12", "openssh", []string{"1:9.2p1-2+deb12u2", "5"}, strings.Compare)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("on %q\n got %+v\nwant %+v", data, got, want)
		}
	})
}

func TestRepeatsAKeyFindsRepeatsAtAnyDepthIgnoringCase(t *testing.T) {
	for data, want := range map[string]bool{
		`{"a":1,"b":{"c":[1,{"d":2}]}}`:            false,
		`{"a":1,"A":2}`:                            true,
		`{"a":{"x":1},"b":[{"y":1,"Y":2}]}`:        true,
		`{"a":[{"x":1},{"x":2}],"b":{"a":1}}`:      false,
		`{"AffeCted":[{"rAnges":[],"rAnges":[]}]}`: true,
	} {
		if got := repeatsAKey([]byte(data)); got != want {
			t.Errorf("%s: %v, want %v", data, got, want)
		}
	}
}
