package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// These tests run the real otelcol-ready binary: OTELCOL_READY_BIN when set (make test builds it first),
// otherwise one built by the testbed's resolver.

var binaries *testbed.Binaries

func TestMain(m *testing.M) {
	os.Exit(testbed.RunTestMain(m, func(b *testbed.Binaries) { binaries = b }))
}

func collectorBinary(t *testing.T) string {
	t.Helper()
	return binaries.CollectorForTest(t)
}

type manifest struct {
	Receivers  []manifestEntry `yaml:"receivers"`
	Processors []manifestEntry `yaml:"processors"`
	Exporters  []manifestEntry `yaml:"exporters"`
	Extensions []manifestEntry `yaml:"extensions"`
	Providers  []manifestEntry `yaml:"providers"`
}

type manifestEntry struct {
	GoMod  string `yaml:"gomod"`
	Import string `yaml:"import"`
}

type componentsOutput struct {
	Receivers  []componentEntry `yaml:"receivers"`
	Processors []componentEntry `yaml:"processors"`
	Exporters  []componentEntry `yaml:"exporters"`
	Extensions []componentEntry `yaml:"extensions"`
	Providers  []componentEntry `yaml:"providers"`
}

type componentEntry struct {
	Name   string `yaml:"name"`
	Module string `yaml:"module"`
}

func TestComponentsListsEveryManifestEntry(t *testing.T) {
	checkComponentsListManifest(t, "../builder-config.yaml", collectorBinary(t))
}

func TestSidecarComponentsListEveryManifestEntry(t *testing.T) {
	checkComponentsListManifest(t, "../builder-config-sidecar.yaml", binaries.SidecarCollectorForTest(t))
}

// TestSidecarDistributionHasExactlyWhatSidecarYAMLUses keeps the slim build slim: its components are the ones
// config/sidecar.yaml names plus what an operator needs to debug one sidecar (health_check, pprof, debug), no more.
func TestSidecarDistributionHasExactlyWhatSidecarYAMLUses(t *testing.T) {
	raw, err := os.ReadFile("config/sidecar.yaml")
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	want := map[string][]string{"extensions": {"health_check", "pprof"}, "exporters": {"debug"}}
	for _, kind := range []string{"receivers", "processors", "exporters", "extensions"} {
		section, _ := cfg[kind].(map[string]any)
		for id := range section {
			typ, _, _ := strings.Cut(id, "/")
			if !slices.Contains(want[kind], typ) {
				want[kind] = append(want[kind], typ)
			}
		}
	}

	got := listComponents(t, binaries.SidecarCollectorForTest(t))
	for kind, entries := range map[string][]componentEntry{
		"receivers": got.Receivers, "processors": got.Processors, "exporters": got.Exporters, "extensions": got.Extensions,
	} {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name)
		}
		assert.ElementsMatch(t, want[kind], names, "%s of otelcol-ready-sidecar", kind)
	}
}

func listComponents(t *testing.T, bin string) componentsOutput {
	t.Helper()
	out, err := exec.Command(bin, "components").Output()
	require.NoError(t, err)
	var got componentsOutput
	require.NoError(t, yaml.Unmarshal(out, &got))
	return got
}

func checkComponentsListManifest(t *testing.T, manifestPath, bin string) {
	t.Helper()
	raw, err := os.ReadFile(manifestPath)
	require.NoError(t, err)
	var want manifest
	require.NoError(t, yaml.Unmarshal(raw, &want))
	got := listComponents(t, bin)

	for _, kind := range []struct {
		name string
		want []manifestEntry
		got  []componentEntry
	}{
		{"receivers", want.Receivers, got.Receivers},
		{"processors", want.Processors, got.Processors},
		{"exporters", want.Exporters, got.Exporters},
		{"extensions", want.Extensions, got.Extensions},
		{"providers", want.Providers, got.Providers},
	} {
		t.Run(kind.name, func(t *testing.T) {
			require.NotEmpty(t, kind.want)
			gotModules := map[string]int{}
			for _, c := range kind.got {
				gotModules[c.Module]++
			}
			wantModules := map[string]int{}
			for _, e := range kind.want {
				wantModules[e.GoMod]++
			}
			// A factory with a deprecated alias is listed twice by `components`; each manifest module must be there
			// at least as often as the manifest names it (local components share one module line).
			for mod, n := range wantModules {
				assert.GreaterOrEqual(t, gotModules[mod], n, "`otelcol-ready components` does not list %s", mod)
			}
		})
	}
}

func TestShippedConfigsValidate(t *testing.T) {
	configs, err := filepath.Glob("config/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, configs)
	for _, cfg := range configs {
		t.Run(filepath.Base(cfg), func(t *testing.T) {
			out, err := exec.Command(collectorBinary(t), "validate", "--config", cfg).CombinedOutput()
			require.NoError(t, err, "%s", out)
		})
	}
}

func TestValidateRejectsBadConfigNamingTheField(t *testing.T) {
	tests := []struct {
		name   string
		config string
		// wantInError are substrings the error must contain: the offending component and field.
		wantInError []string
	}{
		{
			name: "unknown component type",
			config: `
receivers:
  nosuchreceiver: {}
exporters:
  debug: {}
service:
  pipelines:
    metrics:
      receivers: [nosuchreceiver]
      exporters: [debug]
`,
			wantInError: []string{"nosuchreceiver", "receivers"},
		},
		{
			name: "exporter endpoint that is not an address",
			config: `
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  otlp:
    endpoint: ""
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
`,
			wantInError: []string{"exporters::otlp", "endpoint"},
		},
		{
			name: "unknown field",
			config: `
receivers:
  otlp:
    protocols:
      grpc:
        endppoint: localhost:4317
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
`,
			wantInError: []string{`"otlp"`, "protocols.grpc", "endppoint"},
		},
		{
			name: "pipeline names an exporter that is not configured",
			config: `
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/missing]
`,
			wantInError: []string{"otlp/missing"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			require.NoError(t, os.WriteFile(cfg, []byte(tt.config), 0o600))
			out, err := exec.Command(collectorBinary(t), "validate", "--config", cfg).CombinedOutput()
			require.Error(t, err, "validate accepted a bad config:\n%s", out)
			for _, s := range tt.wantInError {
				assert.Contains(t, string(out), s)
			}
		})
	}
}

// TestLocalConfigRuns is what `make run` does: the laptop config starts on a machine with nothing else running,
// health_check answers 200, and within the first collection interval the console shows the collector's own Go
// runtime metrics (pprofscrape reading the collector's pprof extension) and ./data gets them too.
func TestLocalConfigRuns(t *testing.T) {
	configPath, err := filepath.Abs("config/local.yaml")
	require.NoError(t, err)
	dataDir := t.TempDir()
	collector := testbed.NewCollector(t, collectorBinary(t), testbed.CollectorConfig{
		Name:     "local",
		Template: configPath,
		Env: []string{
			"OTELCOL_READY_PPROF_ENDPOINT=" + testbed.FreeEndpoint(t),
			"OTELCOL_READY_OTLP_GRPC_ENDPOINT=" + testbed.FreeEndpoint(t),
			"OTELCOL_READY_OTLP_HTTP_ENDPOINT=" + testbed.FreeEndpoint(t),
			"OTELCOL_READY_GO_SERVICE=" + testbed.FreeEndpoint(t), // nothing listens there: the config must cope
			"OTELCOL_READY_DATA_DIR=" + dataDir,
		},
	})
	collector.MustStart() // waits for health_check to answer 200

	// The default collection interval is 10 s and the first scrape comes after 1 s.
	consoleShows := func() bool {
		log := collector.LogTail(1 << 20)
		return strings.Contains(log, "go.goroutine.count") && strings.Contains(log, "service.name=otelcol-ready")
	}
	require.True(t, testbed.WaitUntil(context.Background(), 30*time.Second, 250*time.Millisecond, consoleShows),
		"the console never showed the collector's own go.goroutine.count")

	dataHas := func() bool {
		b, err := os.ReadFile(filepath.Join(dataDir, "metrics.jsonl"))
		return err == nil && bytes.Contains(b, []byte("go.memory.gc.goal")) && bytes.Contains(b, []byte("otelcol-ready"))
	}
	require.True(t, testbed.WaitUntil(context.Background(), 30*time.Second, 250*time.Millisecond, dataHas),
		"metrics.jsonl under the data dir never got the collector's runtime metrics")
	require.NoError(t, collector.Stop())
}
