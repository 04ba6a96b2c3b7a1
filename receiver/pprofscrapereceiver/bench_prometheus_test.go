package pprofscrapereceiver

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// BenchmarkScrape10kPrometheusReceiver runs the prometheus receiver itself against the same service's /metrics.
// Its scrape loop runs on its own clock, so the benchmark waits for b.N scrapes (one ConsumeMetrics each) at a
// 50 ms interval and divides the process CPU time by b.N; ns/op is therefore mostly the interval.
func BenchmarkScrape10kPrometheusReceiver(b *testing.B) {
	srv := benchTarget(b)
	u, err := url.Parse(srv.URL)
	require.NoError(b, err)
	factory := prometheusreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig()
	require.NoError(b, confmap.NewFromStringMap(map[string]any{
		"config": map[string]any{"scrape_configs": []any{map[string]any{
			"job_name": "bench", "scrape_interval": "50ms", "scrape_timeout": "50ms",
			"static_configs": []any{map[string]any{"targets": []any{u.Host}}},
		}}},
	}).Unmarshal(cfg))
	sink := new(consumertest.MetricsSink)
	rcv, err := factory.CreateMetrics(context.Background(), receivertest.NewNopSettings(component.MustNewType("prometheus")), cfg, sink)
	require.NoError(b, err)
	require.NoError(b, rcv.Start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, rcv.Shutdown(context.Background())) })

	scrapes := func() int { return len(sink.AllMetrics()) }
	waitFor := func(n int) {
		deadline := time.Now().Add(time.Duration(n)*time.Second + 30*time.Second)
		for scrapes() < n {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d scrapes", scrapes(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(2) // warm up
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := scrapes(), processCPUTime()
	waitFor(start + b.N)
	b.ReportMetric(float64(processCPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}
