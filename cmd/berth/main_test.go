package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
)

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "berth ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run(nil, &out, &errOut); err == nil {
		t.Error("no command accepted")
	}
	if err := run([]string{"frobnicate"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
}

// berth token signs with the data dir's secret, so a server on that dir accepts it.
func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run([]string{"token", "--data-dir", dir, "--account", "123456789012", "--region", "eu-west-1"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	if strings.Contains(tok, ":") {
		t.Fatalf("token %q contains ':'", tok)
	}
	secret, err := core.LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := core.NewTokens(secret, nil).Verify(tok)
	if err != nil || claims.Registry != (core.RegistryID{Account: "123456789012", Region: "eu-west-1"}) || claims.Principal != "arn:aws:iam::123456789012:root" {
		t.Fatalf("Verify = %v, %v", claims, err)
	}
	if err := run([]string{"token", "--data-dir", dir, "--account", "12"}, &out, &out); err == nil {
		t.Error("a 2-digit account was accepted")
	}
}

func TestServeRejectsBadFlags(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"serve", "--memory", "--log-format", "xml"},
		{"serve", "--memory", "--log-level", "loud"},
		{"serve", "--memory", "--default-account", "abc"},
		{"serve", "--memory", "--uri-style", "fancy"},
		{"serve", "--no-such-flag"},
	} {
		if err := run(args, &out, &out); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	t.Setenv("BERTH_REGION", "ap-south-1")
	t.Setenv("BERTH_MEMORY", "true")
	if env("REGION", "us-east-1") != "ap-south-1" || !envBool("MEMORY") {
		t.Error("BERTH_* variables are not read")
	}
	t.Setenv("BERTH_MEMORY", "no")
	if envBool("MEMORY") {
		t.Error("BERTH_MEMORY=no read as true")
	}
}
