package osv

import (
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

func TestDecodeArraySkipsARecordOfTheWrongShapeButNotBrokenJSON(t *testing.T) {
	var bad []int
	recs, err := DecodeArray([]byte(` [ {"id":"A"}, {"id": 42, "affected": [{"package": {"name": "x"}}]}, {"id":"B","aliases":"not a list"}, {"id":"C"} ] `),
		func(i int, err error) { bad = append(bad, i) })
	if err != nil || len(recs) != 2 || recs[0].ID != "A" || recs[1].ID != "C" || !reflect.DeepEqual(bad, []int{1, 2}) {
		t.Fatalf("records %+v, bad %v, error %v", recs, bad, err)
	}
	for _, broken := range []string{``, `{}`, `[`, `[{"id":"A"}`, `[{"id":"A"},]`, `[{"id":"A"}] x`, `[{"id":"A}]`, "[{\"id\":\"a\x01b\"}]",
		`[{"id":"\q"}]`, `[{"id":"\u12"}]`, `[{"x":01}]`, `[{"x":tru}]`, `[{"x" 1}]`, `[{1:2}]`, strings.Repeat("[", 10001) + strings.Repeat("]", 10001)} {
		if _, err := DecodeArray([]byte(broken), nil); err == nil {
			t.Errorf("accepted %q", broken[:min(len(broken), 40)])
		}
	}
	if recs, err := DecodeArray([]byte(`[]`), nil); err != nil || len(recs) != 0 {
		t.Fatalf("empty array: %v %v", recs, err)
	}
}

// The hand-written decoder must read every input as encoding/json reads it into Record: the
// same error or not, and the same record.
func FuzzDecodeRecordAgreesWithEncodingJSON(f *testing.F) {
	for _, data := range records(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
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
