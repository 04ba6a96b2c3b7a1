package scenarios

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// TestSidecarFootprint (scenario 5) runs the shipped sidecar config (distro/config/sidecar.yaml, unchanged, through
// its ${env:} variables) next to one Go service (demoapp) that the prometheus receiver scrapes every 10 s, plus
// 1,000 items/s of application telemetry over OTLP/gRPC; the gateway is the mock backend's OTLP-TX endpoint (the
// shipped sidecar exports with otlptx). It prints the sidecar's
// CPU share and peak RSS and asserts that the telemetry and the scraped metrics arrive.
func TestSidecarFootprint(t *testing.T) {
	bin := scenarioSetup(t)
	mon := newMonitor(t)
	app := testbed.StartDemoApp(t, demoAppBinary(t), testbed.DemoAppOptions{Modes: []string{"healthy"}, Monitor: mon})
	backend := testbed.StartMockBackend(t)
	sidecarConfig := distroConfig(t, "sidecar.yaml")
	grpcIn := testbed.FreeEndpoint(t)
	sidecar := testbed.NewCollector(t, bin, testbed.CollectorConfig{
		Name: "sidecar", Template: sidecarConfig, Monitor: mon,
		Env: append(sidecarServiceEnv(t, app.Addr()),
			"OTELCOL_READY_OTLP_GRPC_ENDPOINT="+grpcIn,
			"OTELCOL_READY_OTLP_HTTP_ENDPOINT="+testbed.FreeEndpoint(t),
			"OTELCOL_READY_SERVICE_NAME=demoapp",
			"OTELCOL_READY_SCRAPE_INTERVAL=10s",
			"OTELCOL_READY_GATEWAY_ENDPOINT="+backend.OTLPTXURL(),
		),
	})
	sidecar.MustStart()
	mon.SampleNow()
	cpuBefore := mon.Usage("sidecar").CPUSeconds

	const rate = 1000.0
	runFor := pick(25*time.Second, 120*time.Second)
	// The otlptx exporter answers each request once its batch is queued (up to its 200 ms flush_interval later):
	// 1,000 items/s in requests of 50 needs about 4 in flight, 8 leaves headroom.
	gen := newGenerator(t, newSender(t, testbed.GRPCSenderFactory(""), grpcIn), testbed.LoadOptions{
		BatchSize: 50, Rate: rate, Duration: runFor, Workers: 8,
	})
	ctx, cancel := context.WithTimeout(context.Background(), runFor+time.Minute)
	defer cancel()
	start := time.Now()
	st := gen.Run(ctx)
	wall := time.Since(start)
	mon.SampleNow()
	usage := mon.Usage("sidecar")
	cpu := usage.CPUSeconds - cpuBefore

	res := waitDelivered(t, testbed.MergeSent(gen), backend, time.Minute)
	if !testbed.WaitUntil(ctx, 30*time.Second, 250*time.Millisecond, func() bool { return backend.Untracked() > 0 }) {
		t.Errorf("no scraped metric of the Go service reached the backend")
	}
	app.Stop()
	demo := mon.Usage("demoapp")
	t.Logf("sidecar: %.2f CPU s over %.1f s wall = %.1f%% of one core; peak RSS %.1f MiB (anonymous %.1f MiB); "+
		"demoapp peak RSS %.1f MiB; %d scraped data points", cpu, wall.Seconds(), 100*cpu/wall.Seconds(),
		mib(usage.PeakRSSBytes), mib(usage.PeakAnonRSSBytes), mib(demo.PeakRSSBytes), backend.Untracked())
	recordRow(t, testbed.Row{
		Scenario:   "5-sidecar-footprint",
		Transport:  "otlp-grpc + prometheus/pprofscrape -> distro sidecar.yaml -> otlptx",
		Items:      st.Sent,
		Seconds:    wall.Seconds(),
		CPUSeconds: cpu,
		PeakRSSMiB: mib(usage.PeakRSSBytes),
		BytesIn:    st.WireBytes,
		BytesOut:   backend.WireBytes(),
		Lost:       int64(res.Lost()),
		Duplicated: res.Duplicated(),
		Notes: fmt.Sprintf("%.0f items/s + one Go service scraped every 10 s; peak anon RSS %.0f MiB; %d scraped points",
			rate, mib(usage.PeakAnonRSSBytes), backend.Untracked()),
	})
	if err := sidecar.Stop(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
}
