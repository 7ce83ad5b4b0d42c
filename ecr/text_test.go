package ecr

import (
	"fmt"
	"strings"
	"testing"
)

// A body that is not UTF-8 text is refused whole, whatever the operation:
// encoding/json would have read each bad byte (or unpaired surrogate
// escape) as U+FFFD, and PutImage would have stored other bytes than were
// sent, under another digest.
func TestBodyThatIsNotUTF8IsASerializationError(t *testing.T) {
	h := newTestHandler(t)
	post(t, h, "CreateRepository", `{"repositoryName":"app"}`, "", "")
	index := func(annotation string) string {
		return `{"repositoryName":"app","imageTag":"v1","imageManifest":"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[],\"annotations\":{\"k\":\"` + annotation + `\"}}"}`
	}
	id := newSession(t, h)
	for _, c := range []struct{ name, op, body string }{
		{"a byte that starts nothing, in a manifest", "PutImage", index("\xff")},
		{"a sequence cut short, in a manifest", "PutImage", index("\xe2\x82")},
		{"an overlong encoding, in a manifest", "PutImage", index("\xc0\xaf")},
		{"an encoded surrogate, in a manifest", "PutImage", index("\xed\xa0\x80")},
		{"an unpaired high surrogate escape, in a manifest", "PutImage", index(`\ud800`)},
		{"an unpaired low surrogate escape, in a manifest", "PutImage", index(`\udc00x`)},
		{"two high surrogate escapes, in a manifest", "PutImage", index(`\ud800\ud800`)},
		{"a bad byte in a tag", "CreateRepository", `{"repositoryName":"other","tags":[{"Key":"k","Value":"` + "\xff" + `"}]}`},
		{"a bad byte in a member name", "DescribeRepositories", "{\"\xff\":1}"},
		{"a bad byte beside a streamed part", "UploadLayerPart", `{"layerPartBlob":"YWJj","partFirstByte":0,"partLastByte":2,"repositoryName":"app","uploadId":"` + id + `","x":"` + "\xff" + `"}`},
		{"a bad byte inside a streamed part", "UploadLayerPart", `{"layerPartBlob":"YW` + "\xff" + `Jj","partFirstByte":0,"partLastByte":2,"repositoryName":"app","uploadId":"` + id + `"}`},
		{"an unpaired surrogate escape inside a streamed part", "UploadLayerPart", `{"layerPartBlob":"YW\udc00Jj","partFirstByte":0,"partLastByte":2,"repositoryName":"app","uploadId":"` + id + `"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec, out := post(t, h, c.op, c.body, "", "")
			if rec.Code != 400 || out["__type"] != "SerializationException" {
				t.Errorf("%d %v, want SerializationException", rec.Code, out)
			}
		})
	}
	if rec, out := post(t, h, "BatchGetImage", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}]}`, "", ""); rec.Code != 200 || len(out["images"].([]any)) != 0 {
		t.Errorf("an image was stored: %d %v", rec.Code, out)
	}
	if n := uploadSize(t, h, id); n != 0 {
		t.Errorf("the upload has %d bytes", n)
	}

	// UTF-8 text, raw or escaped, is stored as it was sent.
	for i, text := range []string{"é ü 日本", `\u00e9 \ud83d\ude00`, "\xf0\x9f\x98\x80"} {
		body := strings.Replace(index(text), `"imageTag":"v1"`, fmt.Sprintf(`"imageTag":"ok%d"`, i), 1)
		if rec, out := post(t, h, "PutImage", body, "", ""); rec.Code != 200 {
			t.Errorf("PutImage with %q: %d %v", text, rec.Code, out)
		}
	}
}
