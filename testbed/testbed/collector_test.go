package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fakeCollectorConfig(t *testing.T, exitAtOnce bool) CollectorConfig {
	t.Helper()
	tmpl, err := filepath.Abs("testdata/fake-collector.yaml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	return CollectorConfig{
		Name:     "fake",
		Template: tmpl,
		Vars:     map[string]any{"ExitAtOnce": exitAtOnce},
		Env:      []string{envFakeCollector + "=1"},
	}
}

func TestCollectorLifecycle(t *testing.T) {
	mon := NewResourceMonitor(0)
	defer mon.Stop()
	cfg := fakeCollectorConfig(t, false)
	cfg.Monitor = mon
	c := NewCollector(t, os.Args[0], cfg)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	first := c.PID()
	if first == 0 {
		t.Fatal("no pid after Start")
	}
	if err := c.Start(); err == nil {
		t.Error("a second Start of a running collector succeeded")
	}
	if err := c.Restart(true); err != nil {
		t.Fatalf("restart after kill -9: %v", err)
	}
	if c.PID() == first || c.PID() == 0 {
		t.Errorf("restart kept pid %d (was %d)", c.PID(), first)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if c.PID() != 0 {
		t.Error("pid still set after Stop")
	}
	log := c.LogTail(1 << 20)
	if n := strings.Count(log, "==== testbed: start #"); n != 2 {
		t.Errorf("log has %d start markers, want 2:\n%s", n, log)
	}
	if !strings.Contains(log, "fake collector: graceful shutdown") {
		t.Errorf("SIGTERM did not reach the process:\n%s", log)
	}
	if u := mon.Usage("fake"); u.Runs != 2 || u.PeakRSSBytes == 0 {
		t.Errorf("monitor saw %+v, want 2 runs and a peak RSS", u)
	}
	if _, err := os.Stat(c.StateDir()); err != nil {
		t.Errorf("state dir: %v", err)
	}
}

func TestCollectorStartFailureShowsLog(t *testing.T) {
	c := NewCollector(t, os.Args[0], fakeCollectorConfig(t, true))
	err := c.Start()
	if err == nil {
		t.Fatal("Start of a collector that exits at once succeeded")
	}
	if !strings.Contains(err.Error(), "failing on purpose") {
		t.Errorf("error lacks the log tail: %v", err)
	}
}

func TestCollectorOverlaysOverrideTheTemplate(t *testing.T) {
	overlay := filepath.Join(t.TempDir(), "overlay.yaml.tmpl")
	if err := os.WriteFile(overlay, []byte("# health at {{.HealthEndpoint}}\nexit_at_once: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fakeCollectorConfig(t, false)
	cfg.Overlays = []string{overlay}
	c := NewCollector(t, os.Args[0], cfg)
	// The base config alone starts (TestCollectorLifecycle); the overlay, passed as a second --config, makes the
	// fake collector exit at once.
	err := c.Start()
	if err == nil || !strings.Contains(err.Error(), "failing on purpose") {
		t.Fatalf("the overlay did not reach the collector: %v", err)
	}
}

func TestRenderTemplate(t *testing.T) {
	tmpl := filepath.Join(t.TempDir(), "c.yaml.tmpl")
	if err := os.WriteFile(tmpl, []byte("endpoint: {{.Endpoint}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := RenderTemplate(tmpl, map[string]any{"Endpoint": "127.0.0.1:4317"})
	if err != nil || string(out) != "endpoint: 127.0.0.1:4317\n" {
		t.Errorf("RenderTemplate = %q, %v", out, err)
	}
	if _, err := RenderTemplate(tmpl, map[string]any{}); err == nil {
		t.Error("a missing template variable was not an error")
	}
	if _, err := RenderTemplate("does-not-exist.yaml.tmpl", nil); err == nil {
		t.Error("a missing template file was not an error")
	}
}

func TestShippedTemplatesRender(t *testing.T) {
	vars := map[string]any{
		"HealthEndpoint": "127.0.0.1:1", "TelemetryPort": 2, "StateDir": "/tmp/x", "GRPCEndpoint": "127.0.0.1:3",
		"HTTPEndpoint": "127.0.0.1:4", "MemoryLimitMiB": 100, "SpikeLimitMiB": 20, "Exporter": "otlp_grpc",
		"BackendEndpoint": "127.0.0.1:5", "ExportCompression": "gzip", "Tier": "sidecar", "NextEndpoint": "127.0.0.1:6",
		"QueueSize": 10, "QueueItems": 10, "ServiceName": "demoapp", "ScrapeInterval": "1s", "Target": "127.0.0.1:7",
		"MetricsFile": "/tmp/m", "LogsFile": "/tmp/l", "OTLPTXEndpoint": "127.0.0.1:8", "CAFile": "/tmp/ca",
		"CertFile": "/tmp/crt", "KeyFile": "/tmp/key", "BackendURL": "http://127.0.0.1:9",
	}
	for _, name := range []string{"passthrough.yaml.tmpl", "tier.yaml.tmpl", "overload.yaml.tmpl", "readiness.yaml.tmpl",
		"otlptx-tls-sidecar.overlay.yaml.tmpl", "otlptx-tls-gateway.overlay.yaml.tmpl"} {
		if _, err := RenderTemplate(name, vars); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParsePromTotals(t *testing.T) {
	text := `# HELP otelcol_receiver_refused_spans x
# TYPE otelcol_receiver_refused_spans counter
otelcol_receiver_refused_spans{receiver="otlp",transport="grpc"} 10
otelcol_receiver_refused_spans{receiver="otlp",transport="http"} 5
otelcol_exporter_queue_size{exporter="otlp"} 3
process_uptime 12.5
bad_line{x="1"} notanumber
`
	got := parsePromTotals(text, nil)
	want := map[string]float64{"otelcol_receiver_refused_spans": 15, "otelcol_exporter_queue_size": 3, "process_uptime": 12.5}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["bad_line"]; ok {
		t.Error("an unparsable value was counted")
	}
	if got := parsePromTotals(text, []string{"otelcol_exporter_"}); len(got) != 1 {
		t.Errorf("prefix filter kept %v", got)
	}
}
