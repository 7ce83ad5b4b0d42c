package core

import (
	"bytes"
	"maps"
	"math/rand/v2"
	"testing"
)

// sameRecord may skip an encoding only when the encodings are equal: over
// random records and copies of them with one field changed (or a map
// copied), a record sameRecord calls the same always encodes alike, and
// each field's change is seen.
func TestSameRecordOnlyWhenTheEncodingIsTheSame(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	seen := map[int]bool{}
	for range 20000 {
		a := randomRecord(rng)
		b := a
		b.Annotations = maps.Clone(a.Annotations)
		if a.Subject != nil {
			s := *a.Subject
			s.Annotations = maps.Clone(s.Annotations)
			b.Subject = &s
		}
		o := randomRecord(rng)
		field := rng.IntN(14)
		switch field {
		case 0:
			b.MediaType = o.MediaType
		case 1:
			b.Size = o.Size
		case 2:
			b.ArtifactType = o.ArtifactType
		case 3:
			b.ImageSize = o.ImageSize
		case 4:
			b.ConfigMediaType = o.ConfigMediaType
		case 5:
			b.Subject = o.Subject
		case 6:
			b.Annotations = o.Annotations
		case 7:
			b.PushedAt = o.PushedAt
		case 8:
			b.LastPulledAt = o.LastPulledAt
		case 9:
			b.Archived = o.Archived
		case 10:
			b.ArchivedAt = o.ArchivedAt
		case 11:
			b.ActivatedAt = o.ActivatedAt
		case 12:
			if b.Subject != nil {
				b.Subject.Annotations = o.Annotations
			}
		} // 13: unchanged
		ea, erra := encodeRecord(&a)
		eb, errb := encodeRecord(&b)
		same := sameRecord(&a, &b)
		if same && ((erra != nil) != (errb != nil) || !bytes.Equal(ea, eb)) {
			t.Fatalf("sameRecord, yet encoded\n%s (%v)\n%s (%v)", ea, erra, eb, errb)
		}
		if !same && erra == nil && errb == nil && !bytes.Equal(ea, eb) {
			seen[field] = true
		}
		if field == 13 && !same {
			t.Fatalf("a copy is not the same record: %+v", a)
		}
	}
	for f := range 13 {
		if !seen[f] {
			t.Errorf("a change of field %d was never told apart", f)
		}
	}
}
