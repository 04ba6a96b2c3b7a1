package promscrapereceiver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// The two benchmarks read the same client_golang service (Go and process collectors, 100 request counters, 20
// latency histograms of 10 buckets: about 160 data points) and report the CPU of the whole process per scrape
// (cpu-ns/op: target and scraper together), so the promscrape and prometheus receiver figures compare directly:
//   go test -run '^$' -bench . -benchtime 100x ./receiver/promscrapereceiver/

func benchService(b *testing.B) *httptest.Server {
	b.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests."}, []string{"route", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_latency_seconds", Help: "Latency.", Buckets: prometheus.DefBuckets[:10]}, []string{"route"})
	reg.MustRegister(requests, latency)
	for r := range 20 {
		route := fmt.Sprintf("/api/v1/resource%d", r)
		for _, code := range []string{"200", "201", "400", "404", "500"} {
			requests.WithLabelValues(route, code).Add(float64(r))
		}
		latency.WithLabelValues(route).Observe(float64(r) / 100)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv
}

func processCPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkScrapePromscrape(b *testing.B) {
	srv := benchService(b)
	cfg := configWithTargets(srv.URL)
	s := newPromScraper(cfg, receivertest.NewNopSettings(typ))
	require.NoError(b, s.start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, s.shutdown(context.Background())) })
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPUTime()
	for range b.N {
		md, err := s.scrape(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if md.DataPointCount() < 150 {
			b.Fatalf("only %d data points", md.DataPointCount())
		}
	}
	b.ReportMetric(float64(processCPUTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkScrapePrometheusReceiver runs the prometheus receiver against the same service. Its scrape loop runs on
// its own clock, so the benchmark waits for b.N scrapes at a 50 ms interval; ns/op is mostly that interval, the
// comparable figure is cpu-ns/op.
func BenchmarkScrapePrometheusReceiver(b *testing.B) {
	srv := benchService(b)
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
