package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func dataDirConfig(dir string) Config {
	cfg := Defaults()
	cfg.DataDir = dir
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

// A meta.db that is not a database says so, rather than sending the user
// looking for another berth that is not there.
func TestCorruptMetaDBIsReportedAsNotADatabase(t *testing.T) {
	dir := t.TempDir()
	garbage := []byte(strings.Repeat("not a bbolt database; ", 1000))
	if err := os.WriteFile(filepath.Join(dir, "meta.db"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(dataDirConfig(dir))
	if err == nil {
		t.Fatal("berth started on a garbage meta.db")
	}
	msg := err.Error()
	if !strings.Contains(msg, "not a valid database") || !strings.Contains(msg, filepath.Join(dir, "meta.db")) || strings.Contains(msg, "another berth") {
		t.Errorf("error %q, want it to say that %s is not a valid database, and nothing about another berth", msg, filepath.Join(dir, "meta.db"))
	}
}

// A meta.db another process holds is reported as locked.
func TestLockedMetaDBIsReportedAsLockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	first, err := New(dataDirConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown(context.Background())
	_, err = New(dataDirConfig(dir))
	if err == nil {
		t.Fatal("a second berth opened a data dir in use")
	}
	if msg := err.Error(); !strings.Contains(msg, "locked by another process") || strings.Contains(msg, "not a valid") {
		t.Errorf("error %q, want it to say meta.db is locked by another process", msg)
	}
}

// Any other failure is reported as it is.
func TestUnopenableMetaDBIsReportedAsItIs(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "meta.db"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := New(dataDirConfig(dir))
	if err == nil {
		t.Fatal("berth started with a directory for meta.db")
	}
	if msg := err.Error(); !strings.Contains(msg, "is a directory") || strings.Contains(msg, "another") || strings.Contains(msg, "not a valid") {
		t.Errorf("error %q, want the open error as it is", msg)
	}
}
