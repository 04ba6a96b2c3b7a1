package scenarios

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// TestSidecarGateway (scenario 2): N load sources send to a sidecar, the sidecar exports to a gateway, the gateway
// to the mock backend; both tiers use a persistent sending queue (file_storage). During the load the gateway is
// killed with SIGKILL and restarted, then the sidecar. Zero loss of acknowledged items is asserted in every
// variant. Variants:
//   - testbed-configs: OTLP/gRPC between the tiers (configs/tier.yaml.tmpl); duplicates are counted and reported
//     (upstream exporterhelper's persistent queue is at-least-once).
//   - shipped-configs: distro/config/sidecar.yaml and gateway.yaml unchanged (OTLP-TX between the tiers, plain
//     HTTP; OTLP/gRPC from the gateway to the backend), the sidecar on the slim otelcol-ready-sidecar; duplicates
//     are counted and reported.
//   - otlptx-tls: the shipped configs plus overlays (configs/otlptx-tls-*.overlay.yaml.tmpl): TLS on the OTLP-TX
//     hop with a CA generated for the test, and OTLP-TX from the gateway to the backend too. Zero duplicates is
//     asserted as well: every item arrives exactly once, count and identity (issue 6's acceptance).
func TestSidecarGateway(t *testing.T) {
	bin := scenarioSetup(t)
	t.Run("testbed-configs", func(t *testing.T) { runSidecarGateway(t, bin, testbedTiers, false) })
	t.Run("shipped-configs", func(t *testing.T) { runSidecarGateway(t, bin, shippedTiers, false) })
	t.Run("otlptx-tls", func(t *testing.T) { runSidecarGateway(t, bin, otlptxTLSTiers, true) })
}

// tierSetup creates the gateway (exporting to backend) and the sidecar (exporting to the gateway); it returns them
// with the sidecar's OTLP/gRPC and OTLP/HTTP endpoints.
type tierSetup func(t *testing.T, bin string, mon *testbed.ResourceMonitor, backend *testbed.MockBackend) (sidecar, gateway *testbed.Collector, grpcIn, httpIn string)

// testbedTiers uses testbed/configs/tier.yaml.tmpl: persistent queues, no batch processor.
func testbedTiers(t *testing.T, bin string, mon *testbed.ResourceMonitor, backend *testbed.MockBackend) (*testbed.Collector, *testbed.Collector, string, string) {
	gatewayGRPC := testbed.FreeEndpoint(t)
	gateway := testbed.NewCollector(t, bin, testbed.CollectorConfig{
		Name: "gateway", Template: "tier.yaml.tmpl", Monitor: mon,
		Vars: map[string]any{
			"Tier": "gateway", "GRPCEndpoint": gatewayGRPC, "HTTPEndpoint": testbed.FreeEndpoint(t),
			"NextEndpoint": backend.GRPCEndpoint(), "QueueSize": 20000,
			"MemoryLimitMiB": 800, "SpikeLimitMiB": 160,
		},
	})
	sidecarGRPC, sidecarHTTP := testbed.FreeEndpoint(t), testbed.FreeEndpoint(t)
	sidecar := testbed.NewCollector(t, bin, testbed.CollectorConfig{
		Name: "sidecar", Template: "tier.yaml.tmpl", Monitor: mon,
		Vars: map[string]any{
			"Tier": "sidecar", "GRPCEndpoint": sidecarGRPC, "HTTPEndpoint": sidecarHTTP,
			"NextEndpoint": gatewayGRPC, "QueueSize": 10000,
			"MemoryLimitMiB": 400, "SpikeLimitMiB": 80,
		},
	})
	return sidecar, gateway, sidecarGRPC, sidecarHTTP
}

// shippedTiers runs distro/config/sidecar.yaml and gateway.yaml unchanged, through their ${env:} variables
// ($TESTBED_DISTRO_CONFIG_DIR points at candidate versions of those two files instead).
func shippedTiers(t *testing.T, bin string, mon *testbed.ResourceMonitor, backend *testbed.MockBackend) (*testbed.Collector, *testbed.Collector, string, string) {
	return shippedTiersWith(t, bin, mon, backend, nil)
}

// otlptxTLSTiers runs the shipped configs with TLS on the OTLP-TX hop and OTLP-TX from the gateway to the backend
// (see configs/otlptx-tls-gateway.overlay.yaml.tmpl for why).
func otlptxTLSTiers(t *testing.T, bin string, mon *testbed.ResourceMonitor, backend *testbed.MockBackend) (*testbed.Collector, *testbed.Collector, string, string) {
	return shippedTiersWith(t, bin, mon, backend, &tlsOverlay{files: testbed.WriteTestTLS(t)})
}

// tlsOverlay selects the otlptx-tls variant of the shipped tiers.
type tlsOverlay struct{ files testbed.TLSFiles }

func shippedTiersWith(t *testing.T, bin string, mon *testbed.ResourceMonitor, backend *testbed.MockBackend, tls *tlsOverlay) (*testbed.Collector, *testbed.Collector, string, string) {
	gatewayConfig, sidecarConfig := distroConfig(t, "gateway.yaml"), distroConfig(t, "sidecar.yaml")
	gatewayOTLPTX := testbed.FreeEndpoint(t)
	gatewayURL := "http://" + gatewayOTLPTX
	var gatewayOverlays, sidecarOverlays []string
	vars := map[string]any{}
	if tls != nil {
		gatewayURL = "https://" + gatewayOTLPTX
		gatewayOverlays = []string{"otlptx-tls-gateway.overlay.yaml.tmpl"}
		sidecarOverlays = []string{"otlptx-tls-sidecar.overlay.yaml.tmpl"}
		vars = map[string]any{
			"CAFile": tls.files.CAFile, "CertFile": tls.files.CertFile, "KeyFile": tls.files.KeyFile,
			"BackendURL": backend.OTLPTXURL(),
		}
	}
	gateway := testbed.NewCollector(t, bin, testbed.CollectorConfig{
		Name: "gateway", Template: gatewayConfig, Overlays: gatewayOverlays, Vars: vars, Monitor: mon,
		Env: []string{
			"OTELCOL_READY_OTLPTX_ENDPOINT=" + gatewayOTLPTX,
			"OTELCOL_READY_OTLP_GRPC_ENDPOINT=" + testbed.FreeEndpoint(t),
			"OTELCOL_READY_OTLP_HTTP_ENDPOINT=" + testbed.FreeEndpoint(t),
			"OTELCOL_READY_BACKEND_ENDPOINT=" + backend.GRPCEndpoint(),
			"OTELCOL_READY_BACKEND_INSECURE=true",
		},
	})
	sidecarGRPC, sidecarHTTP := testbed.FreeEndpoint(t), testbed.FreeEndpoint(t)
	// The shipped sidecar config runs on the slim otelcol-ready-sidecar, as the deploy manifests run it.
	sidecar := testbed.NewCollector(t, binaries.SidecarCollectorForTest(t), testbed.CollectorConfig{
		Name: "sidecar", Template: sidecarConfig, Overlays: sidecarOverlays, Vars: vars, Monitor: mon,
		Env: append(sidecarServiceEnv(t, testbed.FreeEndpoint(t)),
			"OTELCOL_READY_OTLP_GRPC_ENDPOINT="+sidecarGRPC,
			"OTELCOL_READY_OTLP_HTTP_ENDPOINT="+sidecarHTTP,
			"OTELCOL_READY_GATEWAY_ENDPOINT="+gatewayURL,
		),
	})
	return sidecar, gateway, sidecarGRPC, sidecarHTTP
}

// sidecarServiceEnv points the shipped sidecar's scrapers (promscrape, pprofscrape) at goService and keeps its
// capture files in the test's temp dir. When nothing listens at goService, the scrapes fail and only add series
// without a testbed.id ("up", pprofscrape.target.up).
func sidecarServiceEnv(t *testing.T, goService string) []string {
	return []string{
		"OTELCOL_READY_GO_SERVICE=" + goService,
		"OTELCOL_READY_CAPTURES_DIR=" + t.TempDir(),
	}
}

func runSidecarGateway(t *testing.T, bin string, setup tierSetup, exactlyOnce bool) {
	backend := testbed.StartMockBackend(t)
	mon := newMonitor(t)
	sidecar, gateway, sidecarGRPC, sidecarHTTP := setup(t, bin, mon, backend)
	gateway.MustStart()
	sidecar.MustStart()

	const sources = 3
	ratePerSource := pick(700.0, 2000.0)
	loadFor := pick(14*time.Second, 60*time.Second)
	gens := make([]*testbed.LoadGenerator, sources)
	for i := range gens {
		// Sources 1 and 2 use OTLP/gRPC, source 3 OTLP/HTTP with gzip: a sidecar sees both.
		f, endpoint := testbed.GRPCSenderFactory(""), sidecarGRPC
		if i == 2 {
			f, endpoint = testbed.HTTPSenderFactory("gzip"), sidecarHTTP
		}
		// Several requests in flight per source: the worker counts date from when the shipped sidecar's otlptx
		// exporter answered a request only once its batch was queued (up to 200 ms later); since issue 12 it answers
		// after one storage write, and the counts are kept so the figures stay comparable.
		gens[i] = newGenerator(t, newSender(t, f, endpoint), testbed.LoadOptions{
			Source: i + 1, BatchSize: 50, Rate: ratePerSource, Duration: loadFor,
			Workers: pick(4, 12), AttemptTimeout: 5 * time.Second, RetryFor: 90 * time.Second,
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), loadFor+2*time.Minute)
	defer cancel()
	start := time.Now()
	stats := make([]testbed.LoadStats, sources)
	var wg sync.WaitGroup
	for i, g := range gens {
		wg.Add(1)
		go func() { defer wg.Done(); stats[i] = g.Run(ctx) }()
	}

	// Fault schedule, relative to the start of the load: each cycle crashes the gateway, then the sidecar.
	cycles := pick(1, 3)
	cycleLen := loadFor / time.Duration(cycles)
	restarts := 0
	for c := range cycles {
		sleepUntil(start.Add(time.Duration(c)*cycleLen + cycleLen/5))
		crashAndRestart(t, mon, gateway, 2*time.Second)
		restarts++
		sleepUntil(start.Add(time.Duration(c)*cycleLen + cycleLen*3/5))
		crashAndRestart(t, mon, sidecar, time.Second)
		restarts++
	}
	wg.Wait()
	loadElapsed := time.Since(start)

	var sent, retries, failed, wire int64
	for i, st := range stats {
		t.Logf("source %d: %+v", i+1, st)
		sent += st.Sent
		retries += st.Retries
		failed += st.Failed
		wire += st.WireBytes
		if err := gens[i].LastError(); err != nil {
			t.Logf("source %d last error: %v", i+1, err)
		}
	}
	if sent == 0 {
		t.Fatal("no source got anything acknowledged")
	}
	if failed > 0 {
		t.Logf("%d items were given up on by the sources (not acknowledged, not counted as sent)", failed)
	}
	// The row is written even when items were lost: the table must show it.
	res := waitDelivered(t, testbed.MergeSent(gens...), backend, pick(90*time.Second, 3*time.Minute))
	if res.Duplicated() > 0 {
		// Duplicates of items whose source needed a retry come from the source-to-sidecar hop (OTLP has no
		// request identity: an attempt stored just before a kill -9 whose answer was lost is stored again by the
		// retry); the others were sent twice behind the sidecar.
		dupRetried, dupOther := 0, 0
		for sig, received := range backend.ReceivedBySignal() {
			for id, n := range received.Snapshot() {
				if n < 2 {
					continue
				}
				retried := false
				for _, g := range gens {
					if g.Retried(sig).Count(id) > 0 {
						retried = true
					}
				}
				if retried {
					dupRetried++
				} else {
					dupOther++
				}
			}
		}
		t.Logf("duplicated ids: %d of items the source retried, %d of items acknowledged at the first attempt", dupRetried, dupOther)
	}
	if exactlyOnce && res.Duplicated() > 0 {
		t.Errorf("%d duplicated item copies reached the backend; this variant must deliver every item exactly once", res.Duplicated())
	}
	if n := backend.OTLPTXDuplicateBatches(); n > 0 {
		t.Logf("the backend acknowledged %d re-sent OTLP-TX batches without recording them again", n)
	}
	if n := backend.OTLPTXRequests(); n > 0 {
		t.Logf("backend OTLP-TX envelopes: v1 %d, v2 %d", backend.OTLPTXRequestsByVersion(1), backend.OTLPTXRequestsByVersion(2))
	}
	mon.SampleNow()
	sc, gw := mon.Usage("sidecar"), mon.Usage("gateway")
	recordRow(t, testbed.Row{
		Scenario:   "2-sidecar-gateway",
		Transport:  strings.TrimPrefix(t.Name(), "TestSidecarGateway/"),
		Items:      sent,
		Seconds:    loadElapsed.Seconds(),
		CPUSeconds: sc.CPUSeconds + gw.CPUSeconds,
		PeakRSSMiB: mib(max(sc.PeakRSSBytes, gw.PeakRSSBytes)),
		BytesIn:    wire,
		BytesOut:   backend.WireBytes(),
		Lost:       int64(res.Lost()),
		Duplicated: res.Duplicated(),
		Notes: fmt.Sprintf("%d sources x %.0f items/s; %d kill -9 + restarts (gateway, sidecar); source retries %d; "+
			"sidecar %.1f CPU s / %.0f MiB, gateway %.1f CPU s / %.0f MiB", sources, ratePerSource, restarts, retries,
			sc.CPUSeconds, mib(sc.PeakRSSBytes), gw.CPUSeconds, mib(gw.PeakRSSBytes)),
	})
	for _, c := range []*testbed.Collector{sidecar, gateway} {
		if err := c.Stop(); err != nil {
			t.Errorf("graceful stop of %s: %v", c.Name(), err)
		}
	}
}

// crashAndRestart kills c with SIGKILL, waits down, and starts it again on the same state directory.
func crashAndRestart(t *testing.T, mon *testbed.ResourceMonitor, c *testbed.Collector, down time.Duration) {
	t.Helper()
	mon.SampleNow() // count the CPU of the run that is about to end
	t.Logf("kill -9 %s (pid %d)", c.Name(), c.PID())
	c.Kill()
	time.Sleep(down)
	c.MustStart()
	t.Logf("%s restarted (pid %d)", c.Name(), c.PID())
}

func sleepUntil(when time.Time) {
	if d := time.Until(when); d > 0 {
		time.Sleep(d)
	}
}
