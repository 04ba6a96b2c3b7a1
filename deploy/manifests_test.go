package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// configMountDir is where the image and every manifest expect the collector config (config.yaml inside it).
const configMountDir = "/etc/otelcol-ready"

// collectorImage names the full otelcol-ready image (the gateway's) in the manifests.
const collectorImage = "ghcr.io/otelcol-ready/otelcol-ready"

// sidecarImage names the slim otelcol-ready-sidecar image (deploy/Dockerfile with DISTRO=distro-sidecar) that every
// manifest running the sidecar config uses: a sidecar's memory is paid once per pod.
const sidecarImage = "ghcr.io/otelcol-ready/otelcol-ready-sidecar"

// imageRepository is an image reference without its tag ("" unless it names one of our two images with a tag).
func imageRepository(image string) string {
	for _, repo := range []string{collectorImage, sidecarImage} {
		if strings.HasPrefix(image, repo+":") {
			return repo
		}
	}
	return ""
}

// manifest is one YAML document of a file under deploy/kubernetes, decoded into its typed object.
type manifest struct {
	File   string // slash path relative to the repository root
	Kind   string
	Name   string
	Object any
}

func (m manifest) String() string { return fmt.Sprintf("%s (%s %s)", m.File, m.Kind, m.Name) }

// openTelemetryCollector is the part of the operator's opentelemetry.io/v1beta1 OpenTelemetryCollector that these
// manifests use. Decoding is strict: a field not modelled here fails, so a typo cannot hide.
type openTelemetryCollector struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Mode            string                      `json:"mode"`
		Image           string                      `json:"image"`
		ImagePullPolicy corev1.PullPolicy           `json:"imagePullPolicy"`
		Env             []corev1.EnvVar             `json:"env"`
		Resources       corev1.ResourceRequirements `json:"resources"`
		SecurityContext *corev1.SecurityContext     `json:"securityContext"`
		VolumeMounts    []corev1.VolumeMount        `json:"volumeMounts"`
		Volumes         []corev1.Volume             `json:"volumes"`
		Config          map[string]any              `json:"config"`
	} `json:"spec"`
}

// kustomization is the part of kustomize.config.k8s.io/v1beta1 Kustomization these directories use.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Resources []string `json:"resources"`
}

// helmValues are the keys of the upstream opentelemetry-collector chart's values.yaml that deploy/helm sets.
type helmValues struct {
	Mode  string `json:"mode"`
	Image struct {
		Repository string            `json:"repository"`
		Tag        string            `json:"tag"`
		PullPolicy corev1.PullPolicy `json:"pullPolicy"`
	} `json:"image"`
	Command struct {
		Name string `json:"name"`
	} `json:"command"`
	ReplicaCount      *int32                      `json:"replicaCount"`
	UseGOMEMLIMIT     bool                        `json:"useGOMEMLIMIT"`
	Resources         corev1.ResourceRequirements `json:"resources"`
	ExtraEnvs         []corev1.EnvVar             `json:"extraEnvs"`
	ExtraVolumes      []corev1.Volume             `json:"extraVolumes"`
	ExtraVolumeMounts []corev1.VolumeMount        `json:"extraVolumeMounts"`
	Ports             map[string]struct {
		Enabled bool `json:"enabled"`
	} `json:"ports"`
	LifecycleHooks *corev1.Lifecycle `json:"lifecycleHooks"`
	Autoscaling    *struct {
		Enabled                        bool  `json:"enabled"`
		MinReplicas                    int32 `json:"minReplicas"`
		MaxReplicas                    int32 `json:"maxReplicas"`
		TargetCPUUtilizationPercentage int32 `json:"targetCPUUtilizationPercentage"`
	} `json:"autoscaling"`
	PodDisruptionBudget *struct {
		Enabled        bool  `json:"enabled"`
		MaxUnavailable int32 `json:"maxUnavailable"`
	} `json:"podDisruptionBudget"`
	Config map[string]any `json:"config"`
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := testbed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readRepoFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// splitDocuments splits a multi-document YAML file on its `---` lines and drops documents that hold only comments.
func splitDocuments(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(b), -1) {
		var probe any
		if err := yaml.Unmarshal([]byte(d), &probe); err == nil && probe == nil {
			continue
		}
		docs = append(docs, []byte(d))
	}
	return docs
}

// decodeStrict decodes YAML into obj, failing on unknown and duplicate fields.
func decodeStrict(doc []byte, obj any) error {
	return sigsyaml.UnmarshalStrict(doc, obj)
}

// newObject returns the typed object for an apiVersion and kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, nil
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "opentelemetry.io/v1beta1/OpenTelemetryCollector":
		return &openTelemetryCollector{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q is not one the deploy tests know; add it to newObject", apiVersion, kind)
}

// loadManifests decodes every document of every file a kustomization under deploy/kubernetes lists, and checks
// that the kustomizations list every YAML file of their directory.
func loadManifests(t testing.TB) []manifest {
	t.Helper()
	root := repoRoot(t)
	kdirs, err := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "*", "kustomization.yaml"))
	if err != nil || len(kdirs) == 0 {
		t.Fatalf("no deploy/kubernetes/*/kustomization.yaml (err %v)", err)
	}
	var out []manifest
	for _, kpath := range kdirs {
		dir := filepath.Dir(kpath)
		relDir, _ := filepath.Rel(root, dir)
		relDir = filepath.ToSlash(relDir)
		var k kustomization
		if err := decodeStrict(readRepoFile(t, relDir+"/kustomization.yaml"), &k); err != nil {
			t.Fatalf("%s/kustomization.yaml: %v", relDir, err)
		}
		if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
			t.Errorf("%s/kustomization.yaml: apiVersion %q kind %q", relDir, k.APIVersion, k.Kind)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		var present []string
		for _, f := range files {
			if b := filepath.Base(f); b != "kustomization.yaml" {
				present = append(present, b)
			}
		}
		listed := slices.Clone(k.Resources)
		sort.Strings(listed)
		if !slices.Equal(present, listed) {
			t.Errorf("%s/kustomization.yaml lists %v, the directory holds %v", relDir, listed, present)
		}
		for _, res := range k.Resources {
			rel := relDir + "/" + res
			b := readRepoFile(t, rel)
			for i, doc := range splitDocuments(b) {
				var tm metav1.TypeMeta
				if err := sigsyaml.Unmarshal(doc, &tm); err != nil {
					t.Fatalf("%s document %d: %v", rel, i, err)
				}
				obj, err := newObject(tm.APIVersion, tm.Kind)
				if err != nil {
					t.Fatalf("%s document %d: %v", rel, i, err)
				}
				if err := decodeStrict(doc, obj); err != nil {
					t.Fatalf("%s document %d (%s): strict decode: %v", rel, i, tm.Kind, err)
				}
				out = append(out, manifest{File: rel, Kind: tm.Kind, Name: objectName(obj), Object: obj})
			}
		}
	}
	return out
}

func objectName(obj any) string {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetName()
	}
	if o, ok := obj.(*openTelemetryCollector); ok {
		return o.Metadata.Name
	}
	return ""
}

func loadHelmValues(t testing.TB) map[string]*helmValues {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "helm", "values-*.yaml"))
	if len(files) == 0 {
		t.Fatal("no deploy/helm/values-*.yaml")
	}
	out := map[string]*helmValues{}
	for _, f := range files {
		rel := "deploy/helm/" + filepath.Base(f)
		var v helmValues
		if err := decodeStrict(readRepoFile(t, rel), &v); err != nil {
			t.Fatalf("%s: strict decode: %v", rel, err)
		}
		out[rel] = &v
	}
	return out
}

// collectorRun is one otelcol-ready container described by a manifest, reduced to what running it needs.
type collectorRun struct {
	Source      string            // where it is described
	Image       string            // collectorImage or sidecarImage: which binary runs the config
	Config      []byte            // the collector config the container reads
	Env         map[string]string // literal environment of the container
	MemoryLimit *resource.Quantity
	// GracePeriod is terminationGracePeriodSeconds minus the preStop sleep: what the process has after SIGTERM.
	GraceAfterSIGTERM int64
	// Pod gives access to the rest of the pod (other containers' ports) for plain Deployments.
	Pod       *corev1.PodSpec
	Container *corev1.Container
}

func envMap(t testing.TB, source string, env []corev1.EnvVar) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, e := range env {
		if e.ValueFrom != nil {
			t.Errorf("%s: env %s uses valueFrom; the deploy tests need literal values", source, e.Name)
			continue
		}
		if strings.Contains(e.Value, "$(") {
			t.Errorf("%s: env %s=%q refers to another variable; keep collector env literal", source, e.Name, e.Value)
		}
		m[e.Name] = e.Value
	}
	return m
}

// collectorRuns finds every otelcol-ready container: in plain Deployments (config from the mounted ConfigMap),
// in the OpenTelemetryCollector resource and in the Helm values.
func collectorRuns(t testing.TB) []collectorRun {
	t.Helper()
	ms := loadManifests(t)
	configMaps := map[string]*corev1.ConfigMap{}
	for _, m := range ms {
		if cm, ok := m.Object.(*corev1.ConfigMap); ok {
			configMaps[cm.Name] = cm
		}
	}
	var runs []collectorRun
	for _, m := range ms {
		switch o := m.Object.(type) {
		case *appsv1.Deployment:
			pod := &o.Spec.Template.Spec
			for _, c := range allContainers(pod) {
				image := imageRepository(c.Image)
				if image == "" {
					continue
				}
				src := fmt.Sprintf("%s container %s", m.File, c.Name)
				cfg := mountedConfig(t, src, pod, c, configMaps)
				run := collectorRun{Source: src, Image: image, Config: cfg, Env: envMap(t, src, c.Env), Pod: pod, Container: c}
				if l := c.Resources.Limits.Memory(); !l.IsZero() {
					run.MemoryLimit = l
				}
				grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
				if pod.TerminationGracePeriodSeconds != nil {
					grace = *pod.TerminationGracePeriodSeconds
				}
				if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
					grace -= c.Lifecycle.PreStop.Sleep.Seconds
				}
				run.GraceAfterSIGTERM = grace
				runs = append(runs, run)
			}
		case *openTelemetryCollector:
			src := fmt.Sprintf("%s spec.config", m.File)
			cfg, err := yaml.Marshal(o.Spec.Config)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			run := collectorRun{Source: src, Image: imageRepository(o.Spec.Image), Config: cfg, Env: envMap(t, src, o.Spec.Env)}
			if l := o.Spec.Resources.Limits.Memory(); !l.IsZero() {
				run.MemoryLimit = l
			}
			runs = append(runs, run)
		}
	}
	for rel, v := range loadHelmValues(t) {
		src := rel + " config"
		cfg, err := yaml.Marshal(dropNulls(v.Config))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		run := collectorRun{Source: src, Image: v.Image.Repository, Config: cfg, Env: envMap(t, src, v.ExtraEnvs)}
		if l := v.Resources.Limits.Memory(); !l.IsZero() {
			run.MemoryLimit = l
		}
		runs = append(runs, run)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Source < runs[j].Source })
	return runs
}

// dropNulls removes keys whose value is null, as Helm does when it merges values into the chart's defaults.
func dropNulls(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch vv := v.(type) {
		case nil:
			continue
		case map[string]any:
			out[k] = dropNulls(vv)
		default:
			out[k] = v
		}
	}
	return out
}

func allContainers(pod *corev1.PodSpec) []*corev1.Container {
	var cs []*corev1.Container
	for i := range pod.InitContainers {
		cs = append(cs, &pod.InitContainers[i])
	}
	for i := range pod.Containers {
		cs = append(cs, &pod.Containers[i])
	}
	return cs
}

// mountedConfig returns config.yaml of the ConfigMap mounted at configMountDir in c, after checking that the
// container's args point at it.
func mountedConfig(t testing.TB, src string, pod *corev1.PodSpec, c *corev1.Container, cms map[string]*corev1.ConfigMap) []byte {
	t.Helper()
	want := configMountDir + "/config.yaml"
	if !slices.Equal(c.Args, []string{"--config", want}) {
		t.Errorf("%s: args %q, want [--config %s]", src, c.Args, want)
	}
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != configMountDir {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name {
				continue
			}
			if v.ConfigMap == nil {
				t.Fatalf("%s: volume %s at %s is not a ConfigMap", src, v.Name, configMountDir)
			}
			cm := cms[v.ConfigMap.Name]
			if cm == nil {
				t.Fatalf("%s: ConfigMap %s is not in the same kustomization", src, v.ConfigMap.Name)
			}
			cfg, ok := cm.Data["config.yaml"]
			if !ok {
				t.Fatalf("%s: ConfigMap %s has no config.yaml", src, cm.Name)
			}
			return []byte(cfg)
		}
		t.Fatalf("%s: no volume %s", src, vm.Name)
	}
	t.Fatalf("%s: nothing mounted at %s", src, configMountDir)
	return nil
}

// envRef matches ${env:NAME} and ${env:NAME:-default} in a collector config.
var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// resolveEnv expands ${env:...} references the way the collector's env provider does for the container's env.
func resolveEnv(s string, env map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		if v, ok := env[m[1]]; ok && v != "" {
			return v
		}
		return m[2]
	})
}

// parsedConfig is a collector config decoded into maps, with lookups that resolve env references.
type parsedConfig struct {
	raw map[string]any
	env map[string]string
}

func parseConfig(t testing.TB, src string, cfg []byte, env map[string]string) parsedConfig {
	t.Helper()
	var raw map[string]any
	if err := yaml.Unmarshal(cfg, &raw); err != nil {
		t.Fatalf("%s: collector config: %v", src, err)
	}
	return parsedConfig{raw: raw, env: env}
}

// component returns the config of the component of type typ (key "typ" or "typ/name") in section.
func (p parsedConfig) component(section, typ string) (map[string]any, bool) {
	sec, _ := p.raw[section].(map[string]any)
	for k, v := range sec {
		if k == typ || strings.HasPrefix(k, typ+"/") {
			m, _ := v.(map[string]any)
			return m, true
		}
	}
	return nil, false
}

// value returns a component field with env references resolved.
func (p parsedConfig) value(section, typ, field string) (string, bool) {
	c, ok := p.component(section, typ)
	if !ok {
		return "", false
	}
	v, ok := c[field]
	if !ok {
		return "", false
	}
	return resolveEnv(fmt.Sprint(v), p.env), true
}

type configPath struct{ key, raw, value string }

// writtenPaths returns every filesystem location the collector writes to: each `directory` setting (file_storage,
// capture directories) and the `path` of file exporters, with env references resolved. URL paths (health_check
// `path`, pprof path prefixes) are not filesystem locations and are left out.
func (p parsedConfig) writtenPaths() []configPath {
	var out []configPath
	var walk func(key []string, v any)
	walk = func(key []string, v any) {
		switch vv := v.(type) {
		case map[string]any:
			for k, child := range vv {
				walk(append(slices.Clone(key), k), child)
			}
		case []any:
			for i, child := range vv {
				walk(append(slices.Clone(key), fmt.Sprintf("[%d]", i)), child)
			}
		case string:
			last := key[len(key)-1]
			fileExporterPath := len(key) == 3 && key[0] == "exporters" && (key[1] == "file" || strings.HasPrefix(key[1], "file/")) && last == "path"
			if last == "directory" || fileExporterPath {
				out = append(out, configPath{key: strings.Join(key, "::"), raw: vv, value: resolveEnv(vv, p.env)})
			}
		}
	}
	walk(nil, p.raw)
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// envNames returns every variable the config reads.
func envNames(cfg []byte) map[string]bool {
	names := map[string]bool{}
	for _, m := range envRef.FindAllSubmatch(cfg, -1) {
		names[string(m[1])] = true
	}
	return names
}

// parseGoMemLimit parses GOMEMLIMIT values such as 1750MiB.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			var v int64
			if _, err := fmt.Sscanf(n, "%d", &v); err != nil {
				return 0, fmt.Errorf("GOMEMLIMIT %q: %w", s, err)
			}
			return v * u.mult, nil
		}
	}
	return 0, fmt.Errorf("GOMEMLIMIT %q: use a B/KiB/MiB/GiB suffix", s)
}

func TestManifestsDecodeStrictly(t *testing.T) {
	ms := loadManifests(t)
	kinds := map[string]int{}
	for _, m := range ms {
		kinds[m.Kind]++
	}
	for _, want := range []string{"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "OpenTelemetryCollector"} {
		if kinds[want] == 0 {
			t.Errorf("no %s under deploy/kubernetes (found %v)", want, kinds)
		}
	}
	loadHelmValues(t)
}

func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	// The strictness the other tests rely on: a misspelled field must fail, not vanish.
	doc := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n")
	if err := decodeStrict(doc, &appsv1.Deployment{}); err == nil {
		t.Fatal("a Deployment with spec.replica decoded without error")
	}
	if err := decodeStrict([]byte("mode: deployment\nimage: {repo: x}\n"), &helmValues{}); err == nil {
		t.Fatal("Helm values with image.repo decoded without error")
	}
}

func TestRenderedFilesUpToDate(t *testing.T) {
	stale, err := renderStale(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("generated deployment files are out of date with distro/config: %v\nregenerate: go run ./deploy/gen", stale)
	}
}

func TestCollectorContainers(t *testing.T) {
	for _, run := range collectorRuns(t) {
		t.Run(run.Source, func(t *testing.T) {
			cfg := parseConfig(t, run.Source, run.Config, run.Env)
			checkMemory(t, run, cfg)
			// Every OTELCOL_READY_* variable the manifest sets must be read by the config: a renamed variable in
			// distro/config would otherwise silently fall back to its default.
			read := envNames(run.Config)
			for name := range run.Env {
				if strings.HasPrefix(name, "OTELCOL_READY_") && !read[name] {
					t.Errorf("sets %s, which the collector config does not read", name)
				}
			}
			if run.Container == nil {
				return
			}
			checkPodContainer(t, run, cfg)
		})
	}
}

// checkMemory: memory_limiter's limit_mib must leave headroom below the container's memory limit (the Go runtime,
// stacks and the file_storage page cache live outside what the limiter measures), and GOMEMLIMIT must sit between.
func checkMemory(t *testing.T, run collectorRun, cfg parsedConfig) {
	t.Helper()
	const maxLimiterShare = 0.85
	limit, ok := cfg.value("processors", "memory_limiter", "limit_mib")
	if !ok {
		t.Fatal("no memory_limiter limit_mib in the config")
	}
	var limitMiB int64
	if _, err := fmt.Sscanf(limit, "%d", &limitMiB); err != nil || limitMiB <= 0 {
		t.Fatalf("memory_limiter limit_mib %q is not a positive number", limit)
	}
	if run.MemoryLimit == nil {
		t.Fatal("no memory limit on the container: memory_limiter cannot be matched to it")
	}
	containerMiB := run.MemoryLimit.Value() >> 20
	if float64(limitMiB) > maxLimiterShare*float64(containerMiB) {
		t.Errorf("memory_limiter limit_mib %d is more than %.0f%% of the container limit %dMiB: raise the limit or lower limit_mib", limitMiB, maxLimiterShare*100, containerMiB)
	}
	if spike, ok := cfg.value("processors", "memory_limiter", "spike_limit_mib"); ok {
		var spikeMiB int64
		if _, err := fmt.Sscanf(spike, "%d", &spikeMiB); err != nil || spikeMiB <= 0 || spikeMiB >= limitMiB {
			t.Errorf("memory_limiter spike_limit_mib %q must be a positive number below limit_mib %d", spike, limitMiB)
		}
	}
	if s, ok := run.Env["GOMEMLIMIT"]; ok {
		b, err := parseGoMemLimit(s)
		if err != nil {
			t.Fatal(err)
		}
		if b < limitMiB<<20 || b >= run.MemoryLimit.Value() {
			t.Errorf("GOMEMLIMIT %s should lie between limit_mib (%dMiB) and the container limit (%dMiB)", s, limitMiB, containerMiB)
		}
	}
}

func checkPodContainer(t *testing.T, run collectorRun, cfg parsedConfig) {
	t.Helper()
	c, pod := run.Container, run.Pod

	// health_check: reachable by the kubelet on the pod IP, and every probe points at it.
	endpoint, ok := cfg.value("extensions", "health_check", "endpoint")
	if !ok {
		t.Fatal("no health_check endpoint")
	}
	host, port, found := strings.Cut(endpoint, ":")
	if !found || (host != "0.0.0.0" && host != "" && host != "[::]") {
		t.Errorf("health_check listens on %q; the kubelet probes the pod IP, so set OTELCOL_READY_HEALTH_ENDPOINT=0.0.0.0:13133", endpoint)
	}
	healthPort := containerPort(c, "health")
	if fmt.Sprint(healthPort) != port || healthPort != 13133 {
		t.Errorf("container port health=%d, health_check endpoint port %s, want 13133", healthPort, port)
	}
	probes := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
	for _, name := range []string{"readiness", "liveness"} {
		if probes[name] == nil {
			t.Errorf("no %s probe", name)
		}
	}
	for name, p := range probes {
		if p == nil {
			continue
		}
		if p.HTTPGet == nil || p.HTTPGet.Path != "/" || (p.HTTPGet.Port.String() != "health" && p.HTTPGet.Port.IntValue() != 13133) {
			t.Errorf("%s probe %+v: want httpGet / on the health_check port", name, p.ProbeHandler)
		}
	}

	// Every place the config writes to (file_storage, capture directories, file exporters) must be an absolute path
	// on a writable volume: the root filesystem is read-only, and a relative path would resolve against "/".
	for _, p := range cfg.writtenPaths() {
		if !strings.HasPrefix(p.value, "/") {
			t.Errorf("%s = %q is relative; in the container it resolves against / (read-only): use an absolute path under a mounted volume", p.key, p.value)
			continue
		}
		vol := volumeFor(pod, c, p.value)
		switch {
		case vol == nil:
			t.Errorf("%s = %s is not on a writable mounted volume (the root filesystem is read-only)", p.key, p.value)
		case vol.EmptyDir == nil && vol.PersistentVolumeClaim == nil && vol.Ephemeral == nil:
			t.Errorf("%s = %s is on volume %s, which is neither emptyDir nor a PVC", p.key, p.value, vol.Name)
		}
	}
	if _, ok := cfg.value("extensions", "file_storage", "directory"); !ok {
		t.Error("no file_storage directory: the persistent sending queues need one")
	}

	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("securityContext %+v: want readOnlyRootFilesystem and no privilege escalation", sc)
	}
	nonRoot := (pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot) ||
		(sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
	uid := int64(-1)
	for _, s := range []*int64{podUID(pod), containerUID(sc)} {
		if s != nil {
			uid = *s
		}
	}
	if !nonRoot || uid != 65532 {
		t.Errorf("collector must run as non-root uid 65532 (the image's user); runAsNonRoot=%v uid=%d", nonRoot, uid)
	}
	if run.GraceAfterSIGTERM < 10 {
		t.Errorf("only %ds between SIGTERM and SIGKILL: too little to drain or persist the sending queue", run.GraceAfterSIGTERM)
	}
}

func podUID(pod *corev1.PodSpec) *int64 {
	if pod.SecurityContext == nil {
		return nil
	}
	return pod.SecurityContext.RunAsUser
}

func containerUID(sc *corev1.SecurityContext) *int64 {
	if sc == nil {
		return nil
	}
	return sc.RunAsUser
}

func containerPort(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// volumeFor returns the pod volume mounted at the longest mount path that contains dir.
func volumeFor(pod *corev1.PodSpec, c *corev1.Container, dir string) *corev1.Volume {
	var best *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		if (dir == vm.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(vm.MountPath, "/")+"/")) && (best == nil || len(vm.MountPath) > len(best.MountPath)) {
			best = &c.VolumeMounts[i]
		}
	}
	if best == nil || best.ReadOnly {
		return nil
	}
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == best.Name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

// TestGatewayWiring checks that the gateway's Services, HPA and PDB select the gateway pods, that the HPA owns the
// replica count, and that every collector endpoint pointing at a gateway Service names an existing Service port.
func TestGatewayWiring(t *testing.T) {
	ms := loadManifests(t)
	var gateway *appsv1.Deployment
	services := map[string]*corev1.Service{}
	for _, m := range ms {
		switch o := m.Object.(type) {
		case *appsv1.Deployment:
			if o.Name == "otelcol-ready-gateway" {
				gateway = o
			}
		case *corev1.Service:
			services[o.Name] = o
		}
	}
	if gateway == nil {
		t.Fatal("no Deployment otelcol-ready-gateway")
	}
	podLabels := gateway.Spec.Template.Labels
	selects := func(sel map[string]string) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return true
	}
	if gateway.Spec.Replicas != nil {
		t.Error("the gateway Deployment sets replicas; the HorizontalPodAutoscaler owns the count (kubectl apply would reset it)")
	}
	var hpa, pdb bool
	for _, m := range ms {
		switch o := m.Object.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpa = true
			if o.Spec.ScaleTargetRef.Kind != "Deployment" || o.Spec.ScaleTargetRef.Name != gateway.Name {
				t.Errorf("HPA %s targets %+v", o.Name, o.Spec.ScaleTargetRef)
			}
			if o.Spec.MinReplicas == nil || *o.Spec.MinReplicas < 2 {
				t.Errorf("HPA %s minReplicas must be at least 2 so the PDB allows voluntary disruptions", o.Name)
			}
			checkHPAMemoryBelowSoftLimit(t, o, gateway)
		case *policyv1.PodDisruptionBudget:
			pdb = true
			if o.Spec.Selector == nil || !selects(o.Spec.Selector.MatchLabels) {
				t.Errorf("PDB %s does not select the gateway pods", o.Name)
			}
		}
	}
	if !hpa || !pdb {
		t.Errorf("HPA present %v, PDB present %v; want both", hpa, pdb)
	}
	gwContainer := &gateway.Spec.Template.Spec.Containers[0]
	for name, svc := range services {
		if !strings.HasPrefix(name, "otelcol-ready-gateway") {
			continue
		}
		if !selects(svc.Spec.Selector) {
			t.Errorf("Service %s does not select the gateway pods", name)
		}
		// OTLP-TX's duplicate suppression is per gateway: a sidecar must keep reaching the same one.
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.String() == "otlptx" && svc.Spec.ClusterIP != corev1.ClusterIPNone && svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
				t.Errorf("Service %s routes OTLP-TX without sessionAffinity ClientIP: retried batches could reach a gateway that does not know them", name)
			}
		}
		for _, p := range svc.Spec.Ports {
			if containerPort(gwContainer, p.TargetPort.String()) == 0 {
				t.Errorf("Service %s port %s targets %q, not a named port of the gateway container", name, p.Name, p.TargetPort.String())
			}
		}
	}
	for _, run := range collectorRuns(t) {
		for name, value := range run.Env {
			host, port, ok := splitEndpoint(value)
			if !ok || !strings.HasPrefix(host, "otelcol-ready-gateway") {
				continue
			}
			svcName, _, _ := strings.Cut(host, ".")
			svc := services[svcName]
			if svc == nil {
				t.Errorf("%s: %s=%s names Service %s, which is not in deploy/kubernetes/gateway", run.Source, name, value, svcName)
				continue
			}
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return fmt.Sprint(p.Port) == port }) {
				t.Errorf("%s: %s=%s: Service %s has no port %s", run.Source, name, value, svcName, port)
			}
		}
	}
}

// checkHPAMemoryBelowSoftLimit: a memory utilization target must make the HPA add pods before memory_limiter's soft
// limit (limit_mib - spike_limit_mib), where the gateway starts refusing data.
func checkHPAMemoryBelowSoftLimit(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler, gateway *appsv1.Deployment) {
	t.Helper()
	var run *collectorRun
	for _, r := range collectorRuns(t) {
		if r.Container != nil && r.Container.Name == gateway.Spec.Template.Spec.Containers[0].Name && strings.Contains(r.Source, "/gateway/") {
			run = &r
		}
	}
	if run == nil {
		t.Fatal("no gateway collector container")
	}
	cfg := parseConfig(t, run.Source, run.Config, run.Env)
	limit, _ := cfg.value("processors", "memory_limiter", "limit_mib")
	spike, _ := cfg.value("processors", "memory_limiter", "spike_limit_mib")
	var limitMiB, spikeMiB int64
	fmt.Sscanf(limit, "%d", &limitMiB)
	fmt.Sscanf(spike, "%d", &spikeMiB)
	request := run.Container.Resources.Requests.Memory().Value() >> 20
	for _, m := range hpa.Spec.Metrics {
		if m.Resource == nil || m.Resource.Name != corev1.ResourceMemory || m.Resource.Target.AverageUtilization == nil {
			continue
		}
		at := request * int64(*m.Resource.Target.AverageUtilization) / 100
		if at > limitMiB-spikeMiB {
			t.Errorf("HPA %s scales out at %dMiB (%d%% of %dMiB), above memory_limiter's soft limit %dMiB where the gateway already refuses data",
				hpa.Name, at, *m.Resource.Target.AverageUtilization, request, limitMiB-spikeMiB)
		}
	}
}

// endpoint is a network address found in a config or manifest: "host:port", "dns:///host:port", or a URL
// "http://host:port/path". Prefix and Suffix are what surrounds host:port, so it can be replaced.
type endpoint struct {
	Prefix, Host, Port, Suffix string
}

// With returns the endpoint with host:port replaced by hostPort.
func (e endpoint) With(hostPort string) string { return e.Prefix + hostPort + e.Suffix }

// splitEndpoint parses v as an endpoint; ok is false for anything else (paths, names, numbers).
func splitEndpoint(v string) (host, port string, ok bool) {
	e, ok := parseEndpoint(v)
	return e.Host, e.Port, ok
}

func parseEndpoint(v string) (endpoint, bool) {
	var e endpoint
	rest := v
	if scheme, after, found := strings.Cut(v, "://"); found {
		if strings.ContainsAny(scheme, "/:") {
			return e, false
		}
		e.Prefix = scheme + "://"
		if scheme == "dns" {
			// gRPC's dns:///host:port (an empty authority).
			after = strings.TrimPrefix(after, "/")
			e.Prefix += "/"
		}
		rest = after
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			rest, e.Suffix = rest[:i], rest[i:]
		}
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 || i == len(rest)-1 || strings.ContainsAny(rest, "/ ") {
		return e, false
	}
	e.Host, e.Port = rest[:i], rest[i+1:]
	for _, r := range e.Port {
		if r < '0' || r > '9' {
			return e, false
		}
	}
	return e, true
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in, host, port, replaced string
		ok                       bool
	}{
		{"localhost:6060", "localhost", "6060", "127.0.0.1:1", true},
		{"0.0.0.0:4317", "0.0.0.0", "4317", "127.0.0.1:1", true},
		{"dns:///otelcol-ready-gateway-headless:4317", "otelcol-ready-gateway-headless", "4317", "dns:///127.0.0.1:1", true},
		{"http://otelcol-ready-gateway:4320", "otelcol-ready-gateway", "4320", "http://127.0.0.1:1", true},
		{"http://localhost:6060/debug/pprof", "localhost", "6060", "http://127.0.0.1:1/debug/pprof", true},
		{"/var/lib/otelcol-ready/storage", "", "", "", false},
		{"1s", "", "", "", false},
		{"demo-go-service", "", "", "", false},
		{"host:port", "", "", "", false},
	}
	for _, tt := range tests {
		e, ok := parseEndpoint(tt.in)
		if ok != tt.ok || (ok && (e.Host != tt.host || e.Port != tt.port || e.With("127.0.0.1:1") != tt.replaced)) {
			t.Errorf("parseEndpoint(%q) = %+v, %v; want host %q port %q replaced %q, %v", tt.in, e, ok, tt.host, tt.port, tt.replaced, tt.ok)
		}
	}
}

func TestSidecarOperatorInjection(t *testing.T) {
	var crs []*openTelemetryCollector
	var annotated []string
	for _, m := range loadManifests(t) {
		switch o := m.Object.(type) {
		case *openTelemetryCollector:
			crs = append(crs, o)
			if o.APIVersion != "opentelemetry.io/v1beta1" || o.Spec.Mode != "sidecar" {
				t.Errorf("%s: apiVersion %s mode %q, want opentelemetry.io/v1beta1 in sidecar mode", m, o.APIVersion, o.Spec.Mode)
			}
			if !strings.HasPrefix(o.Spec.Image, sidecarImage+":") {
				t.Errorf("%s: image %s, want the slim %s with a tag", m, o.Spec.Image, sidecarImage)
			}
		case *appsv1.Deployment:
			if v, ok := o.Spec.Template.Annotations["sidecar.opentelemetry.io/inject"]; ok {
				annotated = append(annotated, v)
			}
		}
	}
	if len(crs) == 0 || len(annotated) == 0 {
		t.Fatalf("want an OpenTelemetryCollector and a Deployment annotated for injection; got %d and %v", len(crs), annotated)
	}
	for _, a := range annotated {
		if !slices.ContainsFunc(crs, func(c *openTelemetryCollector) bool { return c.Metadata.Name == a }) {
			t.Errorf("pod annotation sidecar.opentelemetry.io/inject=%q names no OpenTelemetryCollector", a)
		}
	}
}

func TestHelmValues(t *testing.T) {
	modes := map[string]bool{}
	for rel, v := range loadHelmValues(t) {
		modes[v.Mode] = true
		// The node agent runs the sidecar config, so the slim image; the gateway tier the full one.
		want := map[string]string{"daemonset": sidecarImage, "deployment": collectorImage}[v.Mode]
		if v.Image.Repository != want || v.Image.Tag == "" {
			t.Errorf("%s: image %+v, want %s with a tag", rel, v.Image, want)
		}
		if v.Command.Name != "otelcol-ready" {
			t.Errorf("%s: command.name %q; the chart runs /<command.name> and the image's binary is /otelcol-ready", rel, v.Command.Name)
		}
		if v.Config["service"] == nil || v.Config["extensions"] == nil {
			t.Errorf("%s: config has no service or extensions", rel)
		}
		for _, p := range []string{"jaeger-compact", "jaeger-thrift", "jaeger-grpc", "zipkin"} {
			if v.Ports[p].Enabled {
				t.Errorf("%s: chart port %s is enabled but otelcol-ready has no such receiver", rel, p)
			}
		}
	}
	if !modes["deployment"] || !modes["daemonset"] {
		t.Errorf("Helm values cover modes %v, want deployment and daemonset", modes)
	}
}

func TestDockerfile(t *testing.T) {
	df := string(readRepoFile(t, "deploy/Dockerfile"))
	lines := strings.Split(df, "\n")
	var froms []string
	var user string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			user = f[1]
		}
	}
	if len(froms) < 2 || !strings.HasPrefix(froms[0], "golang:1.26") {
		t.Errorf("want a multi-stage build starting FROM golang:1.26, got %v", froms)
	}
	runtime := froms[len(froms)-1]
	if !strings.HasPrefix(runtime, "gcr.io/distroless/static") && runtime != "scratch" {
		t.Errorf("runtime image %s: want distroless static or scratch", runtime)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("USER %q: want a non-root user (65532)", user)
	}
	for _, want := range []string{
		"CGO_ENABLED=0",
		"go build -trimpath",
		"ARG DISTRO=distro\n",
		"-o /otelcol-ready ./${DISTRO}",
		`ENTRYPOINT ["/otelcol-ready"]`,
		`"--config", "` + configMountDir + `/config.yaml"`,
		"EXPOSE 4317 4318 13133",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("deploy/Dockerfile does not contain %q", want)
		}
	}
	for _, distro := range []string{"distro", "distro-sidecar"} {
		if !bytes.Contains(readRepoFile(t, distro+"/main.go"), []byte("package main")) {
			t.Errorf("./%s is not a main package; the Dockerfile builds it with DISTRO=%s", distro, distro)
		}
	}
}
