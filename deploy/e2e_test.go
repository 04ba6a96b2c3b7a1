package deploy

import (
	"bufio"
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// runnerOwnedEnv are the variables testbed.Collector sets itself (health, telemetry, file_storage directory). All
// other variables keep the manifest's value (memory limits, service name) unless they hold an address or a path.
var runnerOwnedEnv = map[string]bool{
	"OTELCOL_READY_HEALTH_ENDPOINT": true,
	"OTELCOL_READY_TELEMETRY_HOST":  true,
	"OTELCOL_READY_TELEMETRY_PORT":  true,
	"OTELCOL_READY_STORAGE_DIR":     true,
}

// tier is one collector container of a plain Deployment, running on loopback.
type tier struct {
	*testbed.Collector
	run collectorRun
	// listeners maps a port the manifest's config listens on ("4317") to the loopback endpoint it got here.
	listeners map[string]string
	// pathVars are the env variables that make up a directory or file the collector writes to.
	pathVars map[string]bool
}

// loopbackWorld says where the addresses in a manifest point to when it runs on loopback.
type loopbackWorld struct {
	// peers maps containerPorts of the pod's other containers (the Go service) to their loopback addresses.
	peers map[string]string
	// gateway is the running gateway tier, the target of every endpoint naming a gateway Service.
	gateway  *tier
	services map[string]*corev1.Service
	// external is where endpoints outside the cluster manifests (the backend) point.
	external string
	// overrides set variables outright (short scrape intervals for the test).
	overrides map[string]string
}

// deploymentRun returns the collector container of the plain Deployment in file.
func deploymentRun(t *testing.T, file string) collectorRun {
	t.Helper()
	for _, run := range collectorRuns(t) {
		if strings.HasPrefix(run.Source, file+" ") {
			return run
		}
	}
	t.Fatalf("no otelcol-ready container in %s", file)
	return collectorRun{}
}

func gatewayServices(t *testing.T) map[string]*corev1.Service {
	t.Helper()
	out := map[string]*corev1.Service{}
	for _, m := range loadManifests(t) {
		if s, ok := m.Object.(*corev1.Service); ok {
			out[s.Name] = s
		}
	}
	return out
}

// configDefaults returns every ${env:NAME:-default} of a config as NAME -> default.
func configDefaults(cfg []byte) map[string]string {
	out := map[string]string{}
	for _, m := range envRef.FindAllSubmatch(cfg, -1) {
		out[string(m[1])] = string(m[2])
	}
	return out
}

// newTier prepares the container's config from the manifest with every address rewritten to loopback: listeners
// get free ports, endpoints of the pod's other containers point at their test processes, endpoints naming a gateway
// Service point at the gateway tier's listener behind that Service port, anything else at w.external; absolute
// directories move under the tier's state directory. Other values come from the manifest unchanged.
func newTier(t *testing.T, bin, name string, run collectorRun, w loopbackWorld) *tier {
	t.Helper()
	dir := t.TempDir()
	configPath := filepath.Join(dir, name+"-config.yaml")
	if err := os.WriteFile(configPath, run.Config, 0o600); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(dir, "state")
	tr := &tier{run: run, listeners: map[string]string{}, pathVars: map[string]bool{}}
	for _, p := range parseConfig(t, run.Source, run.Config, run.Env).writtenPaths() {
		for n := range envNames([]byte(p.raw)) {
			tr.pathVars[n] = true
		}
	}
	var env []string
	defaults := configDefaults(run.Config)
	names := make([]string, 0, len(defaults))
	for n := range defaults {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if runnerOwnedEnv[n] {
			continue
		}
		if v, ok := w.overrides[n]; ok {
			env = append(env, n+"="+v)
			continue
		}
		value, fromManifest := run.Env[n]
		if !fromManifest {
			value = defaults[n]
		}
		local, changed := tr.localize(t, n, value, stateDir, w)
		if changed || fromManifest {
			env = append(env, n+"="+local)
		}
	}
	for k, v := range run.Env {
		if !strings.HasPrefix(k, "OTELCOL_READY_") {
			env = append(env, k+"="+v) // GOMEMLIMIT and friends, as deployed
		}
	}
	// A path written into the config without an env variable would make this test write outside its temp dirs.
	local := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		local[k] = v
	}
	local["OTELCOL_READY_STORAGE_DIR"] = stateDir
	for _, p := range parseConfig(t, run.Source, run.Config, local).writtenPaths() {
		if !strings.HasPrefix(p.value, dir) {
			t.Fatalf("%s: %s = %s cannot be moved into the test's directory; make it an ${env:...} variable in the shipped config", run.Source, p.key, p.value)
		}
	}
	t.Logf("%s (%s) env: %v", name, run.Source, env)
	tr.Collector = testbed.NewCollector(t, bin, testbed.CollectorConfig{
		Name:        name,
		Template:    configPath,
		StateDir:    stateDir,
		Env:         env,
		StopTimeout: time.Duration(run.GraceAfterSIGTERM) * time.Second,
	})
	return tr
}

func (tr *tier) localize(t *testing.T, name, value, stateDir string, w loopbackWorld) (string, bool) {
	t.Helper()
	if tr.pathVars[name] {
		return filepath.Join(stateDir, strings.ToLower(strings.TrimPrefix(name, "OTELCOL_READY_"))), true
	}
	ep, ok := parseEndpoint(value)
	if !ok {
		return value, false
	}
	host, port := ep.Host, ep.Port
	switch {
	case host == "localhost" || host == "127.0.0.1" || host == "0.0.0.0" || host == "":
		if peer, ok := w.peers[port]; ok {
			return ep.With(peer), true
		}
		addr, ok := tr.listeners[port]
		if !ok {
			addr = testbed.FreeEndpoint(t)
			tr.listeners[port] = addr
		}
		return ep.With(addr), true
	case strings.HasPrefix(host, "otelcol-ready-gateway"):
		if w.gateway == nil {
			t.Fatalf("%s=%s names the gateway, but no gateway runs in this test", name, value)
		}
		svcName, _, _ := strings.Cut(host, ".")
		svc := w.services[svcName]
		if svc == nil {
			t.Fatalf("%s=%s: no Service %s", name, value, svcName)
		}
		for _, p := range svc.Spec.Ports {
			if strconv.Itoa(int(p.Port)) != port {
				continue
			}
			target := strconv.Itoa(int(containerPort(w.gateway.run.Container, p.TargetPort.String())))
			if p.TargetPort.IntValue() != 0 {
				target = p.TargetPort.String()
			}
			addr, ok := w.gateway.listeners[target]
			if !ok {
				t.Fatalf("%s=%s: Service %s port %s targets gateway port %s, on which the gateway config listens nowhere (listeners %v)", name, value, svcName, port, target, w.gateway.listeners)
			}
			return ep.With(addr), true
		}
		t.Fatalf("%s=%s: Service %s has no port %s", name, value, svcName, port)
	}
	if w.external == "" {
		t.Fatalf("%s=%s points outside the manifests and the test gave no external endpoint", name, value)
	}
	return ep.With(w.external), true
}

// peersOf maps the containerPorts of the pod's containers other than the collector to addr.
func peersOf(run collectorRun, addr string) map[string]string {
	peers := map[string]string{}
	for _, c := range allContainers(run.Pod) {
		if c == run.Container {
			continue
		}
		for _, p := range c.Ports {
			peers[strconv.Itoa(int(p.ContainerPort))] = addr
		}
	}
	return peers
}

// startPair starts the gateway Deployment's collector (exporting to backendEndpoint) and the sidecar Deployment's
// collector next to a Go service at serviceAddr, each with the binary its image holds (the sidecar the slim one).
func startPair(t *testing.T, backendEndpoint, serviceAddr string, overrides map[string]string) (gateway, sidecar *tier) {
	t.Helper()
	services := gatewayServices(t)
	// The mock backend speaks plaintext; the manifests keep TLS towards a real backend.
	overrides = maps.Clone(overrides)
	overrides["OTELCOL_READY_BACKEND_INSECURE"] = "true"
	gwRun := deploymentRun(t, "deploy/kubernetes/gateway/deployment.yaml")
	gateway = newTier(t, binaryFor(t, gwRun), "gateway", gwRun, loopbackWorld{
		services: services, external: backendEndpoint, overrides: overrides,
	})
	gateway.MustStart()
	scRun := deploymentRun(t, "deploy/kubernetes/sidecar/deployment.yaml")
	sidecar = newTier(t, binaryFor(t, scRun), "sidecar", scRun, loopbackWorld{
		peers: peersOf(scRun, serviceAddr), gateway: gateway, services: services, overrides: overrides,
	})
	sidecar.MustStart()
	return gateway, sidecar
}

// otlpGRPCListener is where the sidecar receives the service's OTLP/gRPC (OTEL_EXPORTER_OTLP_ENDPOINT's port).
func (tr *tier) otlpGRPCListener(t *testing.T) string {
	t.Helper()
	ep, ok := tr.listeners["4317"]
	if !ok {
		t.Fatalf("%s listens on %v, no OTLP/gRPC port 4317", tr.Name(), tr.listeners)
	}
	return ep
}

func sendLoad(t *testing.T, ctx context.Context, endpoint string, source int, items int64) *testbed.LoadGenerator {
	t.Helper()
	sender, err := testbed.NewGRPCSender(endpoint, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	gen, err := testbed.NewLoadGenerator(sender, testbed.LoadOptions{
		Source: source, BatchSize: 50, MaxItems: items, Rate: 2000, Workers: 2,
		AttemptTimeout: 5 * time.Second, RetryFor: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	st := gen.Run(ctx)
	if st.Sent != items {
		t.Fatalf("load source %d: %d of %d items acknowledged (%+v, last error %v)", source, st.Sent, items, st, gen.LastError())
	}
	return gen
}

// waitDelivered waits until every acknowledged id reached the backend and asserts none was lost.
func waitDelivered(t *testing.T, backend *testbed.MockBackend, timeout time.Duration, gens ...*testbed.LoadGenerator) testbed.Result {
	t.Helper()
	sent := testbed.MergeSent(gens...)
	testbed.WaitUntil(context.Background(), timeout, 200*time.Millisecond, func() bool {
		return testbed.AllReceived(sent, backend.ReceivedBySignal())
	})
	res := testbed.Validate(sent, backend.ReceivedBySignal())
	if res.Lost() > 0 {
		t.Fatalf("items lost on the way to the backend:\n%s", res)
	}
	return res
}

// TestSidecarGatewayFromManifests runs the demo Go service, the sidecar and the gateway exactly as the Kubernetes
// manifests configure them (configs from the ConfigMaps, env from the containers, addresses moved to loopback):
// the sidecar scrapes the service and receives its OTLP, the gateway forwards everything to the backend.
func TestSidecarGatewayFromManifests(t *testing.T) {
	demo := testbed.StartDemoApp(t, demoAppBinary(t), testbed.DemoAppOptions{Args: []string{"-duration", "2m"}})
	backend := testbed.StartMockBackend(t)
	gateway, sidecar := startPair(t, backend.GRPCEndpoint(), demo.Addr(),
		map[string]string{"OTELCOL_READY_SCRAPE_INTERVAL": "1s"})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The service's own OTLP telemetry, stood in for by the load generator on the sidecar's OTLP port.
	gen := sendLoad(t, ctx, sidecar.otlpGRPCListener(t), 1, 1500)
	res := waitDelivered(t, backend, 60*time.Second, gen)
	t.Logf("OTLP through sidecar and gateway: %s", res)

	// The demo service's own metrics, scraped by the sidecar, under the service name the manifest gives it.
	service := sidecar.run.Env["OTELCOL_READY_SERVICE_NAME"]
	if !testbed.WaitUntil(ctx, 30*time.Second, 200*time.Millisecond, func() bool {
		return backend.HasMetric(service, "demoapp_info") && backend.HasMetric(service, "go_goroutines")
	}) {
		t.Fatalf("the demo service's metrics (demoapp_info, go_goroutines with service.name %q) did not reach the backend", service)
	}
	for _, c := range []*tier{sidecar, gateway} {
		if err := c.Stop(); err != nil {
			t.Errorf("graceful stop of %s: %v", c.Name(), err)
		}
	}
}

// TestGracefulShutdownKeepsQueues: with the backend refusing, the gateway holds what the sidecar forwarded; it gets
// SIGTERM and must exit within the grace period the Deployment leaves after its preStop sleep. More load then
// piles up in the sidecar (gateway down), which gets SIGTERM and must exit within its pod's grace period. After
// both restart on their state directories (the emptyDir in the pod) and the backend recovers, every acknowledged
// item arrives.
func TestGracefulShutdownKeepsQueues(t *testing.T) {
	backend := testbed.StartMockBackend(t)
	backend.SetFailure(&testbed.Failure{GRPCCode: codes.Unavailable, HTTPStatus: http.StatusServiceUnavailable})
	// No Go service in this test: the sidecar's scrape target is a closed port.
	gateway, sidecar := startPair(t, backend.GRPCEndpoint(), testbed.FreeEndpoint(t),
		map[string]string{"OTELCOL_READY_SCRAPE_INTERVAL": "1s"})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	const perPhase = 1500
	held := sendLoad(t, ctx, sidecar.otlpGRPCListener(t), 1, perPhase)
	// The gateway holds the first load once it accepted all of it and tried the backend (a receiver that does not
	// report otelcol_receiver_accepted_* is taken at the backend's refusals of all three signals).
	if !testbed.WaitUntil(ctx, 30*time.Second, 200*time.Millisecond, func() bool {
		accepted, reported := telemetrySum(t, gateway.TelemetryURL(), "otelcol_receiver_accepted_")
		if !reported {
			return backend.Refused() >= int64(len(testbed.AllSignals))
		}
		return accepted >= perPhase && backend.Refused() > 0
	}) {
		t.Fatal("the gateway did not receive the first load while the backend refused")
	}

	stopWithin(t, gateway)
	queued := sendLoad(t, ctx, sidecar.otlpGRPCListener(t), 2, perPhase)
	// The batch processor hands the second load to the exporter's queue within its timeout; on SIGTERM it would
	// flush anyway. Where the exporter reports its queue, wait until the load is visibly queued.
	if !testbed.WaitUntil(ctx, 30*time.Second, 200*time.Millisecond, func() bool {
		queued, reported := telemetrySum(t, sidecar.TelemetryURL(), "otelcol_exporter_queue_size")
		return !reported || queued > 0
	}) {
		t.Fatal("the sidecar's sending queue stayed empty while the gateway was down")
	}
	stopWithin(t, sidecar)
	if got := backend.Received(testbed.Traces).Unique() + backend.Received(testbed.Logs).Unique(); got != 0 {
		t.Fatalf("the refusing backend recorded %d items", got)
	}

	backend.SetFailure(nil)
	gateway.MustStart()
	sidecar.MustStart()
	res := waitDelivered(t, backend, 60*time.Second, held, queued)
	t.Logf("after SIGTERM and restart of both tiers: %s (duplicates are allowed: the persistent queue is at-least-once)", res)
	for _, c := range []*tier{sidecar, gateway} {
		if err := c.Stop(); err != nil {
			t.Errorf("graceful stop of %s: %v", c.Name(), err)
		}
	}
}

// TestGracefulShutdownSlowBackend: the backend answers, but slowly, so the gateway has requests in flight and a
// backlog when it gets SIGTERM. It must finish or give up its in-flight requests and exit within the grace period
// left after preStop; whatever it did not deliver stays in its queue and arrives after the restart.
func TestGracefulShutdownSlowBackend(t *testing.T) {
	backend := testbed.StartMockBackend(t)
	backend.SetDelay(3 * time.Second)
	gateway, sidecar := startPair(t, backend.GRPCEndpoint(), testbed.FreeEndpoint(t),
		map[string]string{"OTELCOL_READY_SCRAPE_INTERVAL": "1s"})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	// Small loads spread over a few seconds: one request per signal and batch timeout, more than the exporter's
	// consumers can have in flight against a 3 s backend.
	var gens []*testbed.LoadGenerator
	for source := 1; source <= 16; source++ {
		gens = append(gens, sendLoad(t, ctx, sidecar.otlpGRPCListener(t), source, 150))
		time.Sleep(200 * time.Millisecond)
	}
	queued, reported := telemetrySum(t, gateway.TelemetryURL(), "otelcol_exporter_queue_size")
	t.Logf("gateway queue at SIGTERM: %v requests (reported %v); backend has %d requests so far", queued, reported, backend.Requests())
	stopWithin(t, gateway)

	backend.SetDelay(0)
	gateway.MustStart()
	res := waitDelivered(t, backend, 60*time.Second, gens...)
	t.Logf("after SIGTERM with requests in flight and a restart: %s", res)
	for _, c := range []*tier{sidecar, gateway} {
		if err := c.Stop(); err != nil {
			t.Errorf("graceful stop of %s: %v", c.Name(), err)
		}
	}
}

// stopWithin sends SIGTERM and fails unless the process exits cleanly within the time the manifest gives it between
// SIGTERM and SIGKILL (testbed.Collector kills it after StopTimeout, which newTier sets to exactly that).
func stopWithin(t *testing.T, c *tier) {
	t.Helper()
	start := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatalf("%s after SIGTERM (grace %ds): %v\n%s", c.Name(), c.run.GraceAfterSIGTERM, err, c.LogTail(8<<10))
	}
	t.Logf("%s exited %s after SIGTERM (grace after preStop: %ds)", c.Name(), time.Since(start).Round(time.Millisecond), c.run.GraceAfterSIGTERM)
}

// telemetrySum adds up the values of every series of the collector's own Prometheus metrics whose name starts with
// prefix; reported is false when no such series exists (or the endpoint does not answer).
func telemetrySum(t *testing.T, url, prefix string) (sum float64, reported bool) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
			reported = true
		}
	}
	return sum, reported
}
