package scenarios

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// footprint is one sidecar binary's measurement on the footprint load.
type footprint struct {
	binary     string
	cpuShare   float64
	peakRSS    float64
	peakAnon   float64
	scraped    int64
	binarySize float64
}

// TestSidecarFootprint (scenario 5) runs the shipped sidecar config (distro/config/sidecar.yaml, unchanged, through
// its ${env:} variables) next to one Go service (demoapp) scraped every 10 s, plus 1,000 items/s of application
// telemetry over OTLP/gRPC; the gateway is the mock backend's OTLP-TX endpoint (the shipped sidecar exports with
// otlptx). It prints each binary's CPU share and peak RSS and asserts that the telemetry and the scraped metrics
// arrive. The short mode (make test) runs the slim otelcol-ready-sidecar only; the full mode runs it and the full
// otelcol-ready one after the other on the same load and prints them side by side.
func TestSidecarFootprint(t *testing.T) {
	type sidecarBinary struct{ name, path string }
	runs := []sidecarBinary{{"otelcol-ready-sidecar", binaries.SidecarCollectorForTest(t)}}
	if testbed.Full() {
		runs = append(runs, sidecarBinary{"otelcol-ready", scenarioSetup(t)})
	}
	var results []footprint
	for _, b := range runs {
		t.Run(b.name, func(t *testing.T) { results = append(results, runSidecarFootprint(t, b.name, b.path)) })
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-22s %10s %14s %14s %12s %8s\n", "binary", "CPU share", "peak RSS MiB", "peak anon MiB", "binary MiB", "scraped")
	for _, r := range results {
		fmt.Fprintf(&table, "%-22s %9.2f%% %14.1f %14.1f %12.1f %8d\n", r.binary, 100*r.cpuShare, r.peakRSS, r.peakAnon, r.binarySize, r.scraped)
	}
	t.Logf("sidecar footprint, same load (1,000 items/s OTLP + one Go service scraped every 10 s):\n%s", table.String())
}

func runSidecarFootprint(t *testing.T, binaryName, bin string) footprint {
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
	size := fileMiB(t, bin)
	t.Logf("%s: %.2f CPU s over %.1f s wall = %.1f%% of one core; peak RSS %.1f MiB (anonymous %.1f MiB); "+
		"binary %.1f MiB; demoapp peak RSS %.1f MiB; %d scraped data points", binaryName, cpu, wall.Seconds(),
		100*cpu/wall.Seconds(), mib(usage.PeakRSSBytes), mib(usage.PeakAnonRSSBytes), size, mib(demo.PeakRSSBytes),
		backend.Untracked())
	recordRow(t, testbed.Row{
		Scenario:   "5-sidecar-footprint",
		Transport:  "otlp-grpc + promscrape/pprofscrape -> " + binaryName + " sidecar.yaml -> otlptx",
		Items:      st.Sent,
		Seconds:    wall.Seconds(),
		CPUSeconds: cpu,
		PeakRSSMiB: mib(usage.PeakRSSBytes),
		BytesIn:    st.WireBytes,
		BytesOut:   backend.WireBytes(),
		Lost:       int64(res.Lost()),
		Duplicated: res.Duplicated(),
		Notes: fmt.Sprintf("%s (%.0f MiB binary); %.0f items/s + one Go service scraped every 10 s; peak anon RSS %.0f MiB; %d scraped points",
			binaryName, size, rate, mib(usage.PeakAnonRSSBytes), backend.Untracked()),
	})
	if err := sidecar.Stop(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	return footprint{
		binary: binaryName, cpuShare: cpu / wall.Seconds(), peakRSS: mib(usage.PeakRSSBytes),
		peakAnon: mib(usage.PeakAnonRSSBytes), scraped: backend.Untracked(), binarySize: size,
	}
}

// fileMiB is the size of a file (here the binary the sidecar runs) in MiB.
func fileMiB(t *testing.T, path string) float64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("binary size: %v", err)
	}
	return mib(st.Size())
}
