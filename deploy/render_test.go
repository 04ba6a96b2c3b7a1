package deploy

import (
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/otelcol-ready/otelcol-ready/deploy/internal/render"
)

var renderStale = render.Stale

// TestEmbeddedConfigsEqualShipped proves the configs in deploy/ are the shipped ones: the ConfigMaps byte for byte,
// the OpenTelemetryCollector and Helm values as the same YAML tree (Helm's chart-default nulls removed).
func TestEmbeddedConfigsEqualShipped(t *testing.T) {
	shipped := func(name string) (string, map[string]any) {
		text := string(readRepoFile(t, "distro/config/"+name+".yaml"))
		var tree map[string]any
		if err := yaml.Unmarshal([]byte(text), &tree); err != nil {
			t.Fatal(err)
		}
		return text, tree
	}
	sameTree := func(src string, got []byte, want map[string]any) {
		t.Helper()
		var tree map[string]any
		if err := yaml.Unmarshal(got, &tree); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if !reflect.DeepEqual(tree, want) {
			t.Errorf("%s: embedded config differs from the shipped one; run go run ./deploy/gen", src)
		}
	}
	wantConfigMap := map[string]string{"otelcol-ready-sidecar-config": "sidecar", "otelcol-ready-gateway-config": "gateway"}
	seen := 0
	for _, m := range loadManifests(t) {
		if cm, ok := m.Object.(*corev1.ConfigMap); ok {
			name, ok := wantConfigMap[cm.Name]
			if !ok {
				t.Errorf("%s: unexpected ConfigMap", m)
				continue
			}
			text, _ := shipped(name)
			if cm.Data["config.yaml"] != text {
				t.Errorf("%s: config.yaml differs from distro/config/%s.yaml", m, name)
			}
			seen++
		}
	}
	if seen != len(wantConfigMap) {
		t.Errorf("found %d of %d ConfigMaps", seen, len(wantConfigMap))
	}
	for _, run := range collectorRuns(t) {
		var name string
		switch run.Source {
		case "deploy/kubernetes/sidecar-operator/opentelemetrycollector.yaml spec.config", "deploy/helm/values-daemonset.yaml config":
			name = "sidecar"
		case "deploy/helm/values-deployment.yaml config":
			name = "gateway"
		default:
			continue
		}
		_, tree := shipped(name)
		sameTree(run.Source, run.Config, tree)
	}
}

func TestGeneratorRendersEveryOutput(t *testing.T) {
	outs, err := render.Render(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 5 {
		t.Fatalf("rendered %d files, want 5 (2 ConfigMaps, the OpenTelemetryCollector, 2 Helm values)", len(outs))
	}
	for _, o := range outs {
		if len(o.Content) == 0 || o.Content[len(o.Content)-1] != '\n' {
			t.Errorf("%s: empty or without a final newline", o.Path)
		}
	}
}
