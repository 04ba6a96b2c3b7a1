package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

func TestRunPrintsRowsOfTheChosenMode(t *testing.T) {
	dir := t.TempDir()
	for _, r := range []testbed.Row{
		{Scenario: "2-sidecar-gateway", Mode: "full", Items: 1000, Seconds: 2, Lost: 0, Duplicated: 7},
		{Scenario: "1-passthrough", Mode: "full", Transport: "otlp-grpc->otlp_grpc", Items: 5000, Seconds: 1},
		{Scenario: "1-passthrough", Mode: "short", Transport: "otlp-grpc->otlp_grpc", Items: 50, Seconds: 1},
	} {
		r.Fill()
		if err := testbed.WriteRow(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	if err := run([]string{"-dir", dir, "-mode", "full"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 { // header, separator, two rows
		t.Fatalf("got %d lines:\n%s", len(lines), out.String())
	}
	if !strings.HasPrefix(lines[2], "| 1-passthrough | full |") || !strings.HasPrefix(lines[3], "| 2-sidecar-gateway | full |") {
		t.Errorf("rows not sorted by scenario or wrong mode:\n%s", out.String())
	}
	if !strings.Contains(lines[3], "| 0 | 7 |") {
		t.Errorf("lost/duplicated columns missing: %s", lines[3])
	}
}

func TestRunErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"empty dir":  {"-dir", t.TempDir()},
		"bad mode":   {"-mode", "medium"},
		"extra args": {"x"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(args, &out, &errOut); err == nil {
				t.Errorf("run(%q) succeeded, want an error", args)
			}
		})
	}
}
