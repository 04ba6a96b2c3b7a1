package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// TestSDKClientsThroughSidecar (scenario 7) reproduces issue 12's measurement: real applications' OpenTelemetry Go
// SDKs (testbed/cmd/sdkclient: default batch span processor, OTLP/gRPC exporter) send spans to a sidecar that
// forwards to a gateway, and each client reports its own drop count. A sidecar whose exporter makes the call wait
// (for a batch to close) makes the SDK's queue overflow; one that acknowledges once the data is in its persistent
// queue does not. Variants, in the same run and printed side by side:
//   - otlptx: the shipped distro/config/sidecar.yaml (slim binary, otlptx with file_storage) -> gateway.yaml;
//   - otlp_http: the upstream otlp_http exporter with a persistent sending_queue (configs/sidecar-otlphttp.yaml.tmpl)
//     -> the same gateway's OTLP/HTTP receiver.
//
// Asserted for every variant: 0 spans dropped by the clients, 0 lost; for otlptx also 0 duplicated. `make test` runs
// one client at 2,000 spans/s for 10,000 spans and one at 5,000 spans/s for 25,000; TESTBED_FULL=1 adds three
// clients at 2,000 spans/s each (20,000 spans each).
func TestSDKClientsThroughSidecar(t *testing.T) {
	bin := scenarioSetup(t)
	client := sdkClientBinary(t)
	type load struct {
		name    string
		clients int
		rate    float64
		spans   int
	}
	// 2,000 spans/s is the measurement; at 5,000 spans/s an exporter that holds each call for up to 200 ms
	// caps the SDK at about 512 spans / 0.2 s = 2,560 spans/s, so its queue overflows.
	loads := []load{{"1x2000", 1, 2000, 10000}, {"1x5000", 1, 5000, 25000}}
	if testbed.Full() {
		loads = append(loads, load{"3x2000", 3, 2000, 20000})
	}
	var table []string
	for _, l := range loads {
		for _, variant := range []string{"otlptx", "otlp_http"} {
			t.Run(variant+"/"+l.name, func(t *testing.T) {
				row := runSDKClients(t, bin, client, variant, l.clients, l.rate, l.spans)
				table = append(table, row)
			})
		}
	}
	t.Logf("SDK clients through a sidecar (spans ended / dropped by the clients / reached the backend / duplicated / p99 SDK export call):\n%s",
		strings.Join(table, "\n"))
}

// sdkClientResult is the JSON line testbed/cmd/sdkclient prints.
type sdkClientResult struct {
	Ended        int64   `json:"ended"`
	Exported     int64   `json:"exported"`
	ExportFailed int64   `json:"export_failed"`
	Dropped      int64   `json:"dropped"`
	Seconds      float64 `json:"seconds"`
	ExportP99Ms  float64 `json:"export_p99_ms"`
	ExportCalls  int     `json:"export_calls"`
}

func runSDKClients(t *testing.T, bin, client, variant string, clients int, rate float64, spans int) string {
	backend := testbed.StartMockBackend(t)
	mon := newMonitor(t)
	gatewayOTLPTX, gatewayHTTP := testbed.FreeEndpoint(t), testbed.FreeEndpoint(t)
	gateway := testbed.NewCollector(t, bin, testbed.CollectorConfig{
		Name: "gateway", Template: distroConfig(t, "gateway.yaml"), Monitor: mon,
		Env: []string{
			"OTELCOL_READY_OTLPTX_ENDPOINT=" + gatewayOTLPTX,
			"OTELCOL_READY_OTLP_GRPC_ENDPOINT=" + testbed.FreeEndpoint(t),
			"OTELCOL_READY_OTLP_HTTP_ENDPOINT=" + gatewayHTTP,
			"OTELCOL_READY_BACKEND_ENDPOINT=" + backend.GRPCEndpoint(),
			"OTELCOL_READY_BACKEND_INSECURE=true",
		},
	})
	sidecarGRPC := testbed.FreeEndpoint(t)
	var sidecar *testbed.Collector
	if variant == "otlptx" {
		sidecar = testbed.NewCollector(t, binaries.SidecarCollectorForTest(t), testbed.CollectorConfig{
			Name: "sidecar", Template: distroConfig(t, "sidecar.yaml"), Monitor: mon,
			Env: append(sidecarServiceEnv(t, testbed.FreeEndpoint(t)),
				"OTELCOL_READY_OTLP_GRPC_ENDPOINT="+sidecarGRPC,
				"OTELCOL_READY_OTLP_HTTP_ENDPOINT="+testbed.FreeEndpoint(t),
				"OTELCOL_READY_GATEWAY_ENDPOINT=http://"+gatewayOTLPTX,
			),
		})
	} else {
		sidecar = testbed.NewCollector(t, bin, testbed.CollectorConfig{
			Name: "sidecar", Template: "sidecar-otlphttp.yaml.tmpl", Monitor: mon,
			Vars: map[string]any{"GRPCEndpoint": sidecarGRPC, "NextURL": "http://" + gatewayHTTP},
		})
	}
	gateway.MustStart()
	sidecar.MustStart()

	results := make([]sdkClientResult, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = runSDKClient(t, client, sidecarGRPC, spans, rate, int64(i+1)*1_000_000_000)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sent := map[testbed.Signal]*testbed.IDCounter{testbed.Traces: testbed.NewIDCounter()}
	var ended, dropped, failed int64
	var p99 float64
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("sdk client %d: %v", i+1, errs[i])
		}
		t.Logf("sdk client %d: %+v", i+1, r)
		ended += r.Ended
		dropped += r.Dropped
		failed += r.ExportFailed
		p99 = max(p99, r.ExportP99Ms)
		base := int64(i+1) * 1_000_000_000
		for n := range r.Ended {
			sent[testbed.Traces].Add(base + n)
		}
	}
	// Every span the clients ended is expected at the backend: a span the SDK dropped is lost too.
	res := waitDelivered(t, sent, backend, time.Minute)
	arrived := backend.Received(testbed.Traces).Unique()
	if dropped > 0 || failed > 0 {
		t.Errorf("the SDK clients dropped %d spans and failed to export %d of %d", dropped, failed, ended)
	}
	if variant == "otlptx" && res.Duplicated() > 0 {
		t.Errorf("%d duplicated span copies reached the backend", res.Duplicated())
	}
	mon.SampleNow()
	sc, gw := mon.Usage("sidecar"), mon.Usage("gateway")
	recordRow(t, testbed.Row{
		Scenario:   "7-sdk-clients-sidecar",
		Transport:  fmt.Sprintf("otel-go-sdk -> sidecar %s -> gateway", variant),
		Items:      ended,
		Seconds:    elapsed.Seconds(),
		CPUSeconds: sc.CPUSeconds + gw.CPUSeconds,
		PeakRSSMiB: mib(max(sc.PeakRSSBytes, gw.PeakRSSBytes)),
		Lost:       int64(res.Lost()),
		Duplicated: res.Duplicated(),
		Notes: fmt.Sprintf("%d clients x %.0f spans/s; dropped by the SDKs %d; p99 SDK export call %.1f ms",
			clients, rate, dropped, p99),
	})
	for _, c := range []*testbed.Collector{sidecar, gateway} {
		if err := c.Stop(); err != nil {
			t.Errorf("graceful stop of %s: %v", c.Name(), err)
		}
	}
	return fmt.Sprintf("%-10s %d x %5.0f/s: ended %6d, dropped by SDK %5d, at backend %6d, duplicated %d, p99 export call %6.1f ms",
		variant, clients, rate, ended, dropped, arrived, res.Duplicated(), p99)
}

func runSDKClient(t *testing.T, client, endpoint string, spans int, rate float64, idBase int64) (sdkClientResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(float64(spans)/rate*float64(time.Second))+90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, client, "-endpoint", endpoint, "-spans", fmt.Sprint(spans),
		"-rate", fmt.Sprint(rate), "-id-base", fmt.Sprint(idBase))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return sdkClientResult{}, fmt.Errorf("%s: %w\n%s", client, err, errOut.String())
	}
	var r sdkClientResult
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil {
		return r, fmt.Errorf("parse %q: %w (stderr: %s)", out.String(), err, errOut.String())
	}
	if errOut.Len() > 0 {
		t.Logf("sdk client stderr: %s", strings.TrimSpace(errOut.String()))
	}
	return r, nil
}

// sdkClientBinary returns $SDKCLIENT_BIN or builds testbed/cmd/sdkclient into the test's temp dir.
func sdkClientBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SDKCLIENT_BIN"); p != "" {
		return p
	}
	root, err := testbed.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sdkclient")
	cmd := exec.Command("go", "build", "-o", out, "./testbed/cmd/sdkclient")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build sdkclient: %v\n%s", err, b)
	}
	return out
}
