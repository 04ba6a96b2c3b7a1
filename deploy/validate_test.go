package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestEmbeddedConfigsValidate runs `otelcol-ready validate` on every collector config embedded in deploy/ (the
// ConfigMaps mounted by the Deployments, the OpenTelemetryCollector's spec.config, the Helm values' config), with
// the environment the manifest gives that container, so env-dependent values are checked as deployed. A config the
// slim sidecar image runs is validated with the slim binary: a component it lacks fails here.
func TestEmbeddedConfigsValidate(t *testing.T) {
	for _, run := range collectorRuns(t) {
		t.Run(run.Source, func(t *testing.T) {
			bin := binaryFor(t, run)
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, run.Config, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "validate", "--config", path)
			cmd.Env = containerEnv(run.Env)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("otelcol-ready validate: %v\n%s\nconfig:\n%s", err, out.String(), run.Config)
			}
		})
	}
}

// TestValidateRejectsBrokenConfig makes sure the validation above can fail: an unknown exporter type is refused.
func TestValidateRejectsBrokenConfig(t *testing.T) {
	bin := collectorBinary(t)
	run := collectorRuns(t)[0]
	var cfg map[string]any
	if err := yaml.Unmarshal(run.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["processors"].(map[string]any)["not_a_component"] = map[string]any{}
	broken, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(path, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "validate", "--config", path)
	cmd.Env = containerEnv(run.Env)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not_a_component") {
		t.Fatalf("otelcol-ready validate should refuse the unknown processor not_a_component: err %v\n%s", err, out)
	}
}

// containerEnv is this process's environment without OTELCOL_READY_* variables, plus the container's env.
func containerEnv(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTELCOL_READY_") || strings.HasPrefix(kv, "OTELCOL_READY_BIN=") {
			out = append(out, kv)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
