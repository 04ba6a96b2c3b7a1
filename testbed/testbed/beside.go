package testbed

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BesideOptions describes a demo service with a collector next to it (readiness end-to-end tests).
type BesideOptions struct {
	// Template is the collector config template (default "readiness.yaml.tmpl": prometheus scrape of the demo
	// service plus OTLP, written by the file exporter). Templates of other scenarios get the same variables:
	// Target, ServiceName, ScrapeInterval, GRPCEndpoint, MetricsFile, LogsFile, CaptureDir, plus Vars.
	Template string
	Vars     map[string]any
	DemoApp  DemoAppOptions
	// ScrapeInterval is how often the collector reads the demo service (default 1 s).
	ScrapeInterval time.Duration
	// ServiceName is the scrape job / service.name (default "demoapp").
	ServiceName string
	Monitor     *ResourceMonitor
}

// Beside is a running demo service and the collector watching it.
type Beside struct {
	App       *DemoApp
	Collector *Collector
	// MetricsFile and LogsFile are the file exporter outputs (JSON lines); CaptureDir is an empty directory the
	// template may point capture output at.
	MetricsFile, LogsFile, CaptureDir string
	// OTLPEndpoint is the collector's OTLP/gRPC receiver, for sending application telemetry.
	OTLPEndpoint string
}

// StartBeside starts the demo service, then a collector from the template, and waits until the collector is
// healthy. Both are stopped in t.Cleanup.
func StartBeside(tb testing.TB, collectorBin, demoBin string, opts BesideOptions) *Beside {
	tb.Helper()
	if opts.Template == "" {
		opts.Template = "readiness.yaml.tmpl"
	}
	if opts.ScrapeInterval <= 0 {
		opts.ScrapeInterval = time.Second
	}
	if opts.ServiceName == "" {
		opts.ServiceName = "demoapp"
	}
	if opts.DemoApp.Monitor == nil {
		opts.DemoApp.Monitor = opts.Monitor
	}
	app := StartDemoApp(tb, demoBin, opts.DemoApp)
	dir := tb.TempDir()
	b := &Beside{
		App:          app,
		MetricsFile:  filepath.Join(dir, "metrics.jsonl"),
		LogsFile:     filepath.Join(dir, "logs.jsonl"),
		CaptureDir:   filepath.Join(dir, "captures"),
		OTLPEndpoint: FreeEndpoint(tb),
	}
	if err := os.MkdirAll(b.CaptureDir, 0o755); err != nil {
		tb.Fatalf("capture dir: %v", err)
	}
	vars := map[string]any{
		"Target":         app.Addr(),
		"ServiceName":    opts.ServiceName,
		"ScrapeInterval": opts.ScrapeInterval.String(),
		"GRPCEndpoint":   b.OTLPEndpoint,
		"MetricsFile":    b.MetricsFile,
		"LogsFile":       b.LogsFile,
		"CaptureDir":     b.CaptureDir,
	}
	for k, v := range opts.Vars {
		vars[k] = v
	}
	b.Collector = NewCollector(tb, collectorBin, CollectorConfig{
		Name: "collector", Template: opts.Template, Vars: vars, Monitor: opts.Monitor,
	})
	b.Collector.MustStart()
	return b
}
