package readinessprocessor

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
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
// annotate=true is the default (a rule that never fired is reported in a series' first batch only); every-batch
// reports every rule of every series in every batch, where most of the cost is building the added pdata.
func BenchmarkConsumeMetrics(b *testing.B) {
	for _, annotate := range []string{"true", "false", "every-batch"} {
		b.Run("annotate="+annotate, func(b *testing.B) {
			cfg := benchConfig()
			switch annotate {
			case "false":
				for i := range cfg.Rules {
					cfg.Rules[i].Actions = []string{ActionCapture}
				}
			case "every-batch":
				// Every rule of every series in every batch: the worst case (annotate_interval 0).
				cfg.AnnotateInterval = 0
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
	// Batches are built outside the timer, many at a time: stopping the timer reads the memory statistics (a
	// stop-the-world pause), which per batch would add a tenth to what is measured; and a GC after building them
	// keeps the collection of the harness' own garbage (the batches) out of the timed part, which then runs only
	// the processor and what its own allocations cost.
	const chunk = 1000
	// cpu is the processing thread's CPU time while the timer runs: unlike ns/point, it does not grow when other
	// processes compete for the cores, nor with the collector's background marking of the batches built here.
	var cpu time.Duration
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	batches := make([]pmetric.Metrics, 0, chunk)
	for done := 0; done < b.N; done += len(batches) {
		b.StopTimer()
		batches = batches[:0]
		for range min(chunk, b.N-done) {
			batches = append(batches, scrapeBatch(services, at, 100))
			at += step
		}
		runtime.GC()
		b.StartTimer()
		cpuBefore := threadCPU(b)
		for _, md := range batches {
			if _, err := p.processMetrics(context.Background(), md); err != nil {
				b.Fatal(err)
			}
		}
		cpu += threadCPU(b) - cpuBefore
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*points), "ns/point")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*points), "cpu-ns/point")
}

// threadCPU is the CPU time (user and system) the calling OS thread has used (Linux RUSAGE_THREAD).
func threadCPU(b *testing.B) time.Duration {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
