// Package render produces the deployment files that embed a shipped collector config (Kubernetes ConfigMaps, the
// OpenTelemetry Operator's OpenTelemetryCollector resource, the Helm values' config blocks) from distro/config, so
// the configs in deploy/ can never drift from the ones the distribution ships. `go run ./deploy/gen` writes them;
// deploy's tests fail when the committed files differ from what Render returns.
package render

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

//go:embed templates/*.tmpl
var templates embed.FS

// Output is one rendered file: Path is relative to the repository root (slash-separated).
type Output struct {
	Path     string
	Template string
	Content  []byte
}

// outputs maps every rendered file to its template. The templates read the shipped configs by name.
var outputs = []struct{ path, template string }{
	{"deploy/kubernetes/sidecar/configmap.yaml", "sidecar-configmap.yaml.tmpl"},
	{"deploy/kubernetes/gateway/configmap.yaml", "gateway-configmap.yaml.tmpl"},
	{"deploy/kubernetes/sidecar-operator/opentelemetrycollector.yaml", "opentelemetrycollector.yaml.tmpl"},
	{"deploy/helm/values-deployment.yaml", "helm-values-deployment.yaml.tmpl"},
	{"deploy/helm/values-daemonset.yaml", "helm-values-daemonset.yaml.tmpl"},
}

// helmChartDefaults are the parts of the upstream opentelemetry-collector chart's default `config:` that Helm would
// merge into ours and that otelcol-ready cannot run (receivers it does not include) or that contradict the shipped
// memory_limiter (percentage limits next to limit_mib). Helm deletes a key whose value is null, so these are set to
// null in the values files.
var helmChartDefaults = []struct {
	parent string
	keys   []string
}{
	{"receivers", []string{"jaeger", "zipkin"}},
	{"processors/memory_limiter", []string{"limit_percentage", "spike_limit_percentage"}},
}

// Render renders every output from the configs under root/distro/config.
func Render(root string) ([]Output, error) {
	r := &renderer{root: root}
	funcs := template.FuncMap{
		"configText":   r.configText,
		"configObject": r.configObject,
		"helmConfig":   r.helmConfig,
		"indent":       indent,
	}
	tmpl, err := template.New("deploy").Option("missingkey=error").Funcs(funcs).ParseFS(templates, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parsing deploy templates: %w", err)
	}
	out := make([]Output, 0, len(outputs))
	for _, o := range outputs {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, o.template, nil); err != nil {
			return nil, fmt.Errorf("rendering %s from %s: %w", o.path, o.template, err)
		}
		out = append(out, Output{Path: o.path, Template: o.template, Content: buf.Bytes()})
	}
	return out, nil
}

// Write renders and writes every output under root; it returns the paths whose content changed.
func Write(root string) ([]string, error) {
	outs, err := Render(root)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, o := range outs {
		p := filepath.Join(root, filepath.FromSlash(o.Path))
		old, err := os.ReadFile(p)
		if err == nil && bytes.Equal(old, o.Content) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return changed, fmt.Errorf("creating %s: %w", filepath.Dir(p), err)
		}
		if err := os.WriteFile(p, o.Content, 0o644); err != nil {
			return changed, fmt.Errorf("writing %s: %w", p, err)
		}
		changed = append(changed, o.Path)
	}
	return changed, nil
}

// Stale returns the outputs whose committed file under root is missing or differs from the rendered content.
func Stale(root string) ([]string, error) {
	outs, err := Render(root)
	if err != nil {
		return nil, err
	}
	var stale []string
	for _, o := range outs {
		old, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(o.Path)))
		if err != nil || !bytes.Equal(old, o.Content) {
			stale = append(stale, o.Path)
		}
	}
	return stale, nil
}

type renderer struct {
	root string
}

// source is a shipped config: distro/config/<name>.yaml.
func (r *renderer) source(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\.`) {
		return nil, fmt.Errorf("config name %q: use the base name of a file in distro/config (sidecar, gateway)", name)
	}
	b, err := os.ReadFile(filepath.Join(r.root, "distro", "config", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("reading shipped config: %w", err)
	}
	return b, nil
}

// configText returns the shipped config byte for byte (comments included), for a ConfigMap's block scalar.
func (r *renderer) configText(name string) (string, error) {
	b, err := r.source(name)
	if err != nil {
		return "", err
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	return string(b), nil
}

// configObject returns the shipped config re-encoded as YAML (comments kept), to embed as an object.
func (r *renderer) configObject(name string) (string, error) {
	doc, err := r.parse(name)
	if err != nil {
		return "", err
	}
	return encode(doc)
}

// helmConfig is configObject plus nulls for the chart defaults that must not be merged in (helmChartDefaults).
func (r *renderer) helmConfig(name string) (string, error) {
	doc, err := r.parse(name)
	if err != nil {
		return "", err
	}
	root := doc.Content[0]
	for _, d := range helmChartDefaults {
		parent := d.parent
		m := mappingAt(root, strings.Split(parent, "/"))
		for _, k := range d.keys {
			if lookup(m, k) != nil {
				return "", fmt.Errorf("distro/config/%s.yaml sets %s/%s, which the Helm values would delete (a chart default nulled on purpose); update helmChartDefaults in %s", name, parent, k, "deploy/internal/render/render.go")
			}
			m.Content = append(m.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, LineComment: "chart default, not part of otelcol-ready"},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"})
		}
	}
	return encode(doc)
}

func (r *renderer) parse(name string) (*yaml.Node, error) {
	b, err := r.source(name)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing distro/config/%s.yaml: %w", name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("distro/config/%s.yaml is not a YAML mapping", name)
	}
	return &doc, nil
}

// mappingAt walks (and creates) nested mappings along keys.
func mappingAt(m *yaml.Node, keys []string) *yaml.Node {
	for _, k := range keys {
		next := lookup(m, k)
		if next == nil || next.Kind != yaml.MappingNode {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, next)
		}
		m = next
	}
	return m
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func encode(doc *yaml.Node) (string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("encoding YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("encoding YAML: %w", err)
	}
	return buf.String(), nil
}

// indent prefixes every non-empty line of s with n spaces.
func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
