package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRowFillAndRoundTrip(t *testing.T) {
	t.Setenv(EnvFull, "1")
	r := Row{Scenario: "1-passthrough", Transport: "otlp-http+zstd->otlp_grpc", Items: 2_000_000, Seconds: 20, CPUSeconds: 10}
	r.Fill()
	if r.ItemsPerSecond != 100_000 || r.CPUSecondsPerMillion != 5 || r.CPUShare != 0.5 || r.Mode != "full" || r.Time == "" {
		t.Errorf("Fill gave %+v", r)
	}
	dir := t.TempDir()
	if err := WriteRow(dir, r); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "1-passthrough_full_otlp-http_zstd-_otlp_grpc.md"))
	if err != nil {
		t.Fatalf("markdown row file: %v", err)
	}
	if !strings.HasPrefix(string(md), MarkdownHeader) || !strings.Contains(string(md), "| 100000 |") {
		t.Errorf("markdown row:\n%s", md)
	}
	rows, err := ReadRows(dir)
	if err != nil || len(rows) != 1 || rows[0] != r {
		t.Errorf("ReadRows = %+v, %v; want [%+v]", rows, err, r)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) != 0 {
		t.Errorf("temp files left: %v", tmps)
	}
}

func TestResultsDir(t *testing.T) {
	t.Setenv(EnvResultsDir, "")
	t.Setenv(EnvFull, "")
	if d, err := ResultsDir(); err != nil || d != "" {
		t.Errorf("short mode without override: %q, %v; want no directory", d, err)
	}
	t.Setenv(EnvFull, "1")
	if d, err := ResultsDir(); err != nil || !strings.HasSuffix(d, filepath.Join("testbed", "results")) {
		t.Errorf("full mode: %q, %v", d, err)
	}
	t.Setenv(EnvResultsDir, "/tmp/elsewhere")
	if d, _ := ResultsDir(); d != "/tmp/elsewhere" {
		t.Errorf("override: %q", d)
	}
}

func TestReadRowsRejectsBrokenJSON(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRows(dir); err == nil {
		t.Error("broken JSON row accepted")
	}
}
