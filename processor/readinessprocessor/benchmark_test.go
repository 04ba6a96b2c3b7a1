package readinessprocessor

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
)

// benchConfig is `readiness: {}` (the three default rules) with annotate only.
func benchConfig() *Config {
	return testConfig(goroutineRule(), heapRule(), gcRule(RuleParams{}))
}

// scrapeBatch is one scrape of many services under pprofscrape's names.
func scrapeBatch(services int, at time.Duration, goroutines float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i := range services {
		one := toMetrics(namingPprofscrape, serviceResource("svc", fmt.Sprint(i)), epoch, runtimeSample{
			OffsetMillis: at.Milliseconds(), Goroutines: goroutines + float64(i%7), GCCycles: at.Minutes() * 20,
			GCPauseSeconds: at.Minutes() * 0.01, HeapInuse: 50e6, HeapAlloc: 40e6, NextGC: 80e6, Leaked: -1,
			TotalAlloc: at.Minutes() * 20 * 40e6,
		})
		one.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	}
	return md
}

// BenchmarkConsumeMetrics measures the processor's cost per data point: 100 services, a scrape every 10 s, all
// three windowed rules evaluated on every scrape (data time), history full (16 minutes).
// With annotate, most of the cost is building the added pdata (2 metrics x 3 rules per service and batch).
func BenchmarkConsumeMetrics(b *testing.B) {
	for _, annotate := range []bool{true, false} {
		b.Run(fmt.Sprintf("annotate=%v", annotate), func(b *testing.B) {
			cfg := benchConfig()
			if !annotate {
				for i := range cfg.Rules {
					cfg.Rules[i].Actions = []string{ActionCapture}
				}
			}
			benchmarkConsume(b, cfg)
		})
	}
}

func benchmarkConsume(b *testing.B, cfg *Config) {
	const services = 100
	p, err := newReadinessProcessor(processortest.NewNopSettings(metadata.Type), cfg)
	if err != nil {
		b.Fatal(err)
	}
	// Fill the history first.
	step := 10 * time.Second
	at := time.Duration(0)
	for ; at < 20*time.Minute; at += step {
		if _, err := p.processMetrics(context.Background(), scrapeBatch(services, at, 100)); err != nil {
			b.Fatal(err)
		}
	}
	points := scrapeBatch(services, 0, 100).DataPointCount()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		md := scrapeBatch(services, at, 100)
		at += step
		b.StartTimer()
		if _, err := p.processMetrics(context.Background(), md); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*points), "ns/point")
}

// BenchmarkMemoryPerSeries reports the heap a tracked series costs with its history full (default
// max_history_points and the three windowed rules).
func BenchmarkMemoryPerSeries(b *testing.B) {
	const services = 200
	b.ReportAllocs()
	var perSeries float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p, err := newReadinessProcessor(processortest.NewNopSettings(metadata.Type), benchConfig())
		if err != nil {
			b.Fatal(err)
		}
		for at := time.Duration(0); at < 20*time.Minute; at += 10 * time.Second {
			if _, err := p.processMetrics(context.Background(), scrapeBatch(services, at, 100)); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(p.series) != services {
			b.Fatalf("tracked %d series", len(p.series))
		}
		perSeries = float64(after.HeapAlloc-before.HeapAlloc) / services
		runtime.KeepAlive(p)
	}
	b.ReportMetric(perSeries, "bytes/series")
}
