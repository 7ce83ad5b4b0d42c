package core

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// A push that reads the record it read last takes the decoded record from
// lastPushedRecord, and a record with other bytes (another pull time) is
// decoded afresh, even in a buffer that held the remembered bytes before.
func TestAPushReadingTheSameRecordAgainTakesItDecodedAndAnotherIsDecodedAfresh(t *testing.T) {
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	enc := func(pulled time.Time) []byte {
		rec := imageRecord{MediaType: MediaTypeOCIManifest, Size: 400, ImageSize: 912, ConfigMediaType: mediaTypeOCIConfig,
			Annotations: map[string]string{"a": "b"}, PushedAt: at, LastPulledAt: pulled}
		b, err := encodeRecord(&rec)
		must(t, err, "encode")
		return b
	}
	one, other := enc(at.Add(time.Second)), enc(at.Add(2*time.Second))
	if len(one) != len(other) {
		t.Fatalf("the two records should have the same length: %s / %s", one, other)
	}
	check := func(b []byte) {
		t.Helper()
		var got, want imageRecord
		must(t, decodePushedRecord(b, &got), "decodePushedRecord")
		must(t, decodeRecord(b, &want), "decodeRecord")
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodePushedRecord %+v, decodeRecord %+v", got, want)
		}
	}
	buf := bytes.Clone(one)
	check(buf)
	if last := lastPushedRecord.Load(); last == nil || !bytes.Equal(last.b, one) {
		t.Fatal("the decoded record was not remembered")
	}
	check(one) // found remembered
	copy(buf, other)
	check(buf) // the same buffer, other bytes: decoded
	if last := lastPushedRecord.Load(); !bytes.Equal(last.b, other) {
		t.Fatalf("remembered %s, want the record read last", last.b)
	}
}
