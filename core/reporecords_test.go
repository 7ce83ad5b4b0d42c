package core

import (
	"encoding/json"
	"reflect"
	"testing"
)

// A remembered repository record decodes as json.Unmarshal decodes it, and
// what one caller does to its copy never reaches another's.
func TestDecodeRepoRemembersCopies(t *testing.T) {
	b := []byte(`{"registry":{"Account":"111122223333","Region":"eu-west-1"},"name":"app","createdAt":"2026-01-02T03:04:05Z",` +
		`"imageTagMutability":"IMMUTABLE_WITH_EXCLUSION","mutabilityExclusions":["dev-*"],"tags":[{"key":"team","value":"a"}],"policy":"{}"}`)
	var want Repository
	must(t, json.Unmarshal(b, &want), "json.Unmarshal")
	for range 3 {
		var got Repository
		must(t, decodeRepo(b, &got), "decodeRepo")
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
		got.Tags[0].Value, got.MutabilityExclusions[0] = "changed", "changed"
	}
	if err := decodeRepo([]byte(`{"name":`), new(Repository)); err == nil {
		t.Fatal("a truncated record decoded")
	}
}

// clone copies every field that refers to memory: a field added to
// Repository that does must be added to clone (and here).
func TestRepositoryCloneCoversEveryReference(t *testing.T) {
	cloned := map[string]bool{"MutabilityExclusions": true, "Tags": true}
	var walk func(typ reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			switch f.Type.Kind() {
			case reflect.Struct:
				if f.Anonymous {
					walk(f.Type)
				}
			case reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface:
				if !cloned[f.Name] {
					t.Errorf("Repository.%s (%s) is shared between copies", f.Name, f.Type)
				}
			}
		}
	}
	walk(reflect.TypeFor[Repository]())
}

// Keys are built as they always were: reg|repo|parts joined by NUL.
func TestItemKeysKeepTheirLayout(t *testing.T) {
	reg := RegistryID{Account: "111122223333", Region: "eu-west-1"}
	for _, c := range []struct {
		got  []byte
		want string
	}{
		{itemKey(reg, "app"), "111122223333\x00eu-west-1\x00app\x00"},
		{itemKey(reg, "app", "sha256:x"), "111122223333\x00eu-west-1\x00app\x00sha256:x"},
		{itemKey(reg, "app", "sha256:x", "v1"), "111122223333\x00eu-west-1\x00app\x00sha256:x\x00v1"},
		{itemKey(reg, "app", "sha256:x", ""), "111122223333\x00eu-west-1\x00app\x00sha256:x\x00"},
		{inRepo(reg, "a/b"), "111122223333\x00eu-west-1\x00a/b\x00"},
		{repoKey(reg, "a/b"), "111122223333\x00eu-west-1\x00a/b"},
	} {
		if string(c.got) != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
}
