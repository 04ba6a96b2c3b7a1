package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// These tests run the real otelcol-ready binary: OTELCOL_READY_BIN when set (make test builds it first),
// otherwise a binary built from this package into a temporary folder.

var binaryPath string

func TestMain(m *testing.M) {
	code, err := runWithBinary(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runWithBinary(m *testing.M) (int, error) {
	if p := os.Getenv("OTELCOL_READY_BIN"); p != "" {
		binaryPath = p
		return m.Run(), nil
	}
	dir, err := os.MkdirTemp("", "otelcol-ready-bin")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	binaryPath = filepath.Join(dir, "otelcol-ready")
	out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("building otelcol-ready: %w\n%s", err, out)
	}
	return m.Run(), nil
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
	raw, err := os.ReadFile("../builder-config.yaml")
	require.NoError(t, err)
	var want manifest
	require.NoError(t, yaml.Unmarshal(raw, &want))

	out, err := exec.Command(binaryPath, "components").Output()
	require.NoError(t, err)
	var got componentsOutput
	require.NoError(t, yaml.Unmarshal(out, &got))

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
			out, err := exec.Command(binaryPath, "validate", "--config", cfg).CombinedOutput()
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
			out, err := exec.Command(binaryPath, "validate", "--config", cfg).CombinedOutput()
			require.Error(t, err, "validate accepted a bad config:\n%s", out)
			for _, s := range tt.wantInError {
				assert.Contains(t, string(out), s)
			}
		})
	}
}

// TestLocalConfigRuns is what `make run` does: the laptop config starts on a machine with nothing else running,
// health_check answers 200 and the console shows the collector's own Go runtime metrics.
func TestLocalConfigRuns(t *testing.T) {
	dataDir := t.TempDir()
	env := map[string]string{
		"OTELCOL_READY_HEALTH_ENDPOINT":    freeAddr(t),
		"OTELCOL_READY_PPROF_ENDPOINT":     freeAddr(t),
		"OTELCOL_READY_OTLP_GRPC_ENDPOINT": freeAddr(t),
		"OTELCOL_READY_OTLP_HTTP_ENDPOINT": freeAddr(t),
		"OTELCOL_READY_TELEMETRY_HOST":     "127.0.0.1",
		"OTELCOL_READY_TELEMETRY_PORT":     portOf(t, freeAddr(t)),
		"OTELCOL_READY_GO_SERVICE":         freeAddr(t), // nothing listens there: the config must cope
		"OTELCOL_READY_DATA_DIR":           dataDir,
		"OTELCOL_READY_SCRAPE_INTERVAL":    "1s",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binaryPath, "--config", "config/local.yaml")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var output syncBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", output.String())
		}
	})

	healthURL := "http://" + env["OTELCOL_READY_HEALTH_ENDPOINT"] + "/"
	require.Eventually(t, func() bool {
		resp, err := http.Get(healthURL)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 200*time.Millisecond, "health_check never answered 200")

	require.Eventually(t, func() bool {
		return strings.Contains(output.String(), localRuntimeMetric)
	}, 60*time.Second, 500*time.Millisecond, "the console never showed %s", localRuntimeMetric)

	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(dataDir, "metrics.jsonl"))
		return err == nil && bytes.Contains(b, []byte(localRuntimeMetric))
	}, 30*time.Second, 500*time.Millisecond, "metrics.jsonl under the data dir never got %s", localRuntimeMetric)
}

// localRuntimeMetric is a Go runtime metric of the collector itself that local.yaml puts on the console.
const localRuntimeMetric = "otelcol_process_runtime_heap_alloc_bytes"

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return port
}

// syncBuffer collects a child process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
