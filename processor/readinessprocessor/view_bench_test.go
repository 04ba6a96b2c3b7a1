package readinessprocessor

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
)

// benchProcessorWithHub is the benchmarks' processor with a hub that serves the page: the view keeps its hour of
// history.
func benchProcessorWithHub(b *testing.B) *readinessProcessor {
	p, err := newReadinessProcessor(processortest.NewNopSettings(metadata.Type), benchConfig())
	if err != nil {
		b.Fatal(err)
	}
	hub, err := readinesshubextension.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(hubType), readinesshubextension.NewFactory().CreateDefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	p.hub = hub.(readinesshubextension.Hub)
	p.keepView = true // as when the hub serves the page
	return p
}

// BenchmarkConsumeMetricsWithHub is BenchmarkConsumeMetrics (annotate=true) with a hub: what the page's hour of
// history costs per point.
func BenchmarkConsumeMetricsWithHub(b *testing.B) {
	for _, withHub := range []bool{false, true} {
		b.Run(map[bool]string{false: "page=off", true: "page=on"}[withHub], func(b *testing.B) {
			p := benchProcessorWithHub(b)
			if !withHub {
				p.hub, p.keepView = nil, false
			}
			benchConsumeHour(b, p)
		})
	}
}

// benchConsumeHour fills an hour and ten minutes of history (the view's hour full), then measures.
func benchConsumeHour(b *testing.B, p *readinessProcessor) {
	const services = 100
	step := 10 * time.Second
	at := time.Duration(0)
	for ; at < 70*time.Minute; at += step {
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

// BenchmarkMemoryPerSeriesWithHub is BenchmarkMemoryPerSeries with a hub, after an hour and ten minutes of data.
func BenchmarkMemoryPerSeriesWithHub(b *testing.B) {
	const services = 200
	var perSeries float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p := benchProcessorWithHub(b)
		for at := time.Duration(0); at < 70*time.Minute; at += 10 * time.Second {
			if _, err := p.processMetrics(context.Background(), scrapeBatch(services, at, 100)); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSeries = float64(after.HeapAlloc-before.HeapAlloc) / services
		runtime.KeepAlive(p)
	}
	b.ReportMetric(perSeries, "bytes/series")
}
