package core

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/blob"
	"github.com/berth-dev/berth/core/kv"
)

func TestExpireUploads(t *testing.T) {
	fs, err := blob.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, blobs := range map[string]blob.Store{"fs": fs, "mem": blob.NewMem()} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r := New(Options{KV: kv.NewMem(), Blobs: blobs, Log: slog.New(slog.DiscardHandler)})
			defer r.Close()
			reg := RegistryID{Account: "123456789012", Region: "us-east-1"}
			if _, err := r.CreateRepository(ctx, reg, "app"); err != nil {
				t.Fatal(err)
			}
			st, err := r.StartUpload(ctx, reg, "app")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.WriteUpload(ctx, reg, "app", st.ID, 0, strings.NewReader("abandoned")); err != nil {
				t.Fatal(err)
			}
			orphan, err := blobs.CreateUpload("orphan-" + name) // bytes with no session, as a crash leaves them
			if err != nil {
				t.Fatal(err)
			}
			orphan.Write([]byte("left behind"))
			orphan.Close()

			if n, err := r.ExpireUploads(ctx, time.Hour); err != nil || n != 0 {
				t.Fatalf("fresh uploads expired: %d, %v", n, err)
			}
			time.Sleep(5 * time.Millisecond)
			if n, err := r.ExpireUploads(ctx, time.Millisecond); err != nil || n != 2 {
				t.Fatalf("ExpireUploads = %d, %v; want 2", n, err)
			}
			if _, err := r.GetUpload(ctx, reg, "app", st.ID); !IsKind(err, KindUploadNotFound) {
				t.Errorf("expired session still answers: %v", err)
			}
			left := 0
			blobs.ListUploads(func(string, time.Time) error { left++; return nil })
			if left != 0 {
				t.Errorf("%d upload files left", left)
			}
		})
	}
}
