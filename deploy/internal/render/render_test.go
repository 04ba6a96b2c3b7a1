package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeRoot makes a repository root holding distro/config/{sidecar,gateway}.yaml with the given content.
func writeRoot(t *testing.T, sidecar, gateway string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "distro", "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"sidecar": sidecar, "gateway": gateway} {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const minimalConfig = "# comment kept\nreceivers:\n  otlp: {}\nprocessors:\n  memory_limiter:\n    limit_mib: 100\nservice: {}\n"

func TestWriteThenStale(t *testing.T) {
	root := writeRoot(t, minimalConfig, minimalConfig)
	changed, err := Write(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != len(outputs) {
		t.Fatalf("first Write changed %v, want all %d outputs", changed, len(outputs))
	}
	if stale, err := Stale(root); err != nil || len(stale) != 0 {
		t.Fatalf("right after Write: stale %v, err %v", stale, err)
	}
	if changed, _ := Write(root); len(changed) != 0 {
		t.Fatalf("second Write rewrote %v", changed)
	}
	// A change to a shipped config makes the files that embed it stale, and only those.
	if err := os.WriteFile(filepath.Join(root, "distro", "config", "gateway.yaml"), []byte(minimalConfig+"extensions: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale, err := Stale(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"deploy/kubernetes/gateway/configmap.yaml", "deploy/helm/values-deployment.yaml"}
	if strings.Join(stale, ",") != strings.Join(want, ",") {
		t.Fatalf("stale %v, want %v", stale, want)
	}
	cm, err := os.ReadFile(filepath.Join(root, "deploy", "kubernetes", "sidecar", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cm), "    # comment kept\n    receivers:\n      otlp: {}\n") {
		t.Fatalf("ConfigMap does not embed the config verbatim, indented:\n%s", cm)
	}
}

func TestHelmConfigNullsChartDefaults(t *testing.T) {
	root := writeRoot(t, minimalConfig, minimalConfig)
	r := &renderer{root: root}
	out, err := r.helmConfig("gateway")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"jaeger: null", "zipkin: null", "limit_percentage: null", "spike_limit_percentage: null", "limit_mib: 100"} {
		if !strings.Contains(out, want) {
			t.Errorf("Helm config lacks %q:\n%s", want, out)
		}
	}
}

func TestHelmConfigRefusesNulledKey(t *testing.T) {
	root := writeRoot(t, minimalConfig, strings.Replace(minimalConfig, "otlp: {}", "otlp: {}\n  zipkin: {}", 1))
	r := &renderer{root: root}
	if _, err := r.helmConfig("gateway"); err == nil || !strings.Contains(err.Error(), "receivers/zipkin") {
		t.Fatalf("a shipped config using a nulled chart default must be refused, got %v", err)
	}
}

func TestConfigNameMustBeABaseName(t *testing.T) {
	r := &renderer{root: t.TempDir()}
	for _, name := range []string{"", "../etc/passwd", "sidecar.yaml", "a/b"} {
		if _, err := r.configText(name); err == nil {
			t.Errorf("config name %q accepted", name)
		}
	}
}
