package ecr

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every generated encoder writes exactly what json.Marshal writes, for
// values filled at random: absent and present members, empty and nil lists
// and maps, strings that need escaping (HTML, control characters, invalid
// UTF-8, U+2028), numbers at the edges of encoding/json's float formats.
func TestGeneratedEncodersMatchEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, zero := range newStructures() {
		typ := reflect.TypeOf(zero).Elem()
		for i := range 200 {
			v := reflect.New(typ)
			if i > 0 { // the first is the zero value
				fill(rng, v.Elem(), 0)
			}
			want, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatalf("%s: json.Marshal: %v", typ.Name(), err)
			}
			w, ok := encodeResponse(v.Interface().(encoder), echoLiteral{})
			if !ok || !bytes.Equal(w.b, want) {
				t.Fatalf("%s (ok %v):\n got %s\nwant %s", typ.Name(), ok, w.b, want)
			}
			w.release()
		}
	}
}

// A double encoding/json refuses fails the encoding, so that the caller
// falls back to encoding/json and its error.
func TestGeneratedEncoderRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		v := &CvssScore{BaseScore: &f}
		if _, err := json.Marshal(v); err == nil {
			t.Fatalf("json.Marshal(%v) succeeded", f)
		}
		if w, ok := encodeResponse(v, echoLiteral{}); ok {
			t.Errorf("%v encoded as %s", f, w.b)
		}
	}
}

var sampleStrings = []string{"", "a", "sha256:0123abcdef", "<script>&amp;</script>", "quote \" backslash \\ slash /",
	"\x00\x01\b\f\n\r\t\x1f\x7f", "café ü 日本", "\u2028\u2029", "bad \xff\xfe utf8", "\xe2\x80", "tag-1.0_x"}

var sampleFloats = []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 1e-6, 9.99e-7, 1e-7, 1.5e-9, 1e20, 1e21, 1.23e25, -3e-10, 7.5, 10}

func fill(rng *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(sampleStrings[rng.IntN(len(sampleStrings))])
	case reflect.Int32, reflect.Int64:
		v.SetInt([]int64{0, 1, -1, 42, math.MaxInt32, math.MinInt32, 1 << 40}[rng.IntN(7)] % (1 << (v.Type().Bits() - 1)))
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Float64:
		v.SetFloat(sampleFloats[rng.IntN(len(sampleFloats))])
	case reflect.Pointer:
		if rng.IntN(4) == 0 || depth > 4 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(rng, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 { // a blob
			if n := rng.IntN(4); n > 0 {
				b := make([]byte, n*3-rng.IntN(3))
				for i := range b {
					b[i] = byte(rng.IntN(256))
				}
				v.SetBytes(b)
			}
			return
		}
		switch n := rng.IntN(4); {
		case n == 0 || depth > 4:
		default:
			s := reflect.MakeSlice(v.Type(), n-1, n-1)
			for i := range n - 1 {
				fill(rng, s.Index(i), depth+1)
			}
			v.Set(s)
		}
	case reflect.Map:
		switch n := rng.IntN(4); {
		case n == 0 || depth > 4:
		default:
			m := reflect.MakeMap(v.Type())
			for range n - 1 {
				k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
				fill(rng, k, depth+1)
				fill(rng, e, depth+1)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[Time]() {
			v.Set(reflect.ValueOf(Time{time.Unix(rng.Int64N(4e9), rng.Int64N(1e9))}))
			return
		}
		for i := range v.NumField() {
			if rng.IntN(3) > 0 {
				fill(rng, v.Field(i), depth)
			}
		}
	}
}

// Every generated document decoder fills its structure exactly as
// json.Unmarshal fills it from the same body, and takes every value
// json.Marshal writes (so the dispatcher's fast path is the usual one);
// where it declines, the dispatcher asks encoding/json.
func TestGeneratedDecodersMatchEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, zero := range newStructures() {
		typ := reflect.TypeOf(zero).Elem()
		for i := range 200 {
			v := reflect.New(typ)
			if i > 0 {
				fill(rng, v.Elem(), 0)
			}
			body, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			want := reflect.New(typ)
			if err := json.Unmarshal(body, want.Interface()); err != nil {
				t.Fatalf("%s: %v", typ.Name(), err)
			}
			var doc map[string]any
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(&doc); err != nil {
				t.Fatal(err)
			}
			got := reflect.New(typ)
			if !got.Interface().(docDecoder).decodeDoc(doc) {
				t.Fatalf("%s: declined %s", typ.Name(), body)
			}
			if !reflect.DeepEqual(got.Interface(), want.Interface()) {
				t.Fatalf("%s from %s:\n got %+v\nwant %+v", typ.Name(), body, got.Elem(), want.Elem())
			}
		}
	}
}

// What the decoders leave to encoding/json: values of another type, a
// number out of range or not an integer, a null in a list, a timestamp as
// a string, bad base64.
func TestGeneratedDecodersDecline(t *testing.T) {
	for _, c := range []struct {
		in  docDecoder
		doc string
	}{
		{new(ListImagesRequest), `{"maxResults":"5"}`},
		{new(ListImagesRequest), `{"maxResults":4294967296}`},
		{new(ListImagesRequest), `{"maxResults":1.5}`},
		{new(BatchGetImageRequest), `{"imageIds":[null]}`},
		{new(BatchGetImageRequest), `{"imageIds":[{"imageTag":1}]}`},
		{new(BatchGetImageRequest), `{"repositoryName":true}`},
		{new(UploadLayerPartRequest), `{"layerPartBlob":"not base64!"}`},
		{new(TagResourceRequest), `{"tags":{"k":"v"}}`},
	} {
		var doc map[string]any
		dec := json.NewDecoder(strings.NewReader(c.doc))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if c.in.decodeDoc(doc) {
			t.Errorf("%T took %s", c.in, c.doc)
		}
	}
}
