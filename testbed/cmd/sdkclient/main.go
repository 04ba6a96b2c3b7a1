// Command sdkclient is an application's OpenTelemetry Go SDK as a new user sets it up: a TracerProvider with the
// default batch span processor (queue 2,048 spans, batches of 512, 5 s export timeout) and the OTLP/gRPC exporter
// with its default retry. It ends spans at a fixed rate, shuts the provider down (flushing what is queued) and
// prints one JSON line with its own counts: spans ended, spans the exporter reported as exported, spans whose export
// failed, and spans dropped inside the SDK (ended but never handed to the exporter, i.e. the batch processor's queue
// was full). The testbed's scenarios read that line: a sidecar that makes its application drop telemetry shows here.
//
// Every span carries testbed.id = id-base + n, so the mock backend can count spans lost and duplicated.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// Result is the line printed at exit.
type Result struct {
	Ended        int64   `json:"ended"`
	Exported     int64   `json:"exported"`
	ExportFailed int64   `json:"export_failed"`
	Dropped      int64   `json:"dropped"`
	Seconds      float64 `json:"seconds"`
	// ExportP99Ms is the 99th percentile of the duration of the SDK's export calls (one batch each).
	ExportP99Ms float64 `json:"export_p99_ms"`
	ExportCalls int     `json:"export_calls"`
}

// countingExporter counts what the batch span processor hands to the OTLP exporter and how that ends.
type countingExporter struct {
	sdktrace.SpanExporter
	exported, failed atomic.Int64
	durations        chan time.Duration
}

func (c *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	start := time.Now()
	err := c.SpanExporter.ExportSpans(ctx, spans)
	select {
	case c.durations <- time.Since(start):
	default:
	}
	if err != nil {
		c.failed.Add(int64(len(spans)))
		return err
	}
	c.exported.Add(int64(len(spans)))
	return nil
}

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:4317", "OTLP/gRPC endpoint (host:port, plaintext)")
	spans := flag.Int("spans", 10000, "spans to end")
	rate := flag.Float64("rate", 2000, "spans per second")
	idBase := flag.Int64("id-base", 1, "testbed.id of the first span")
	service := flag.String("service", "sdkclient", "service.name")
	flag.Parse()
	if err := run(*endpoint, *spans, *rate, *idBase, *service); err != nil {
		fmt.Fprintln(os.Stderr, "sdkclient:", err)
		os.Exit(1)
	}
}

func run(endpoint string, spans int, rate float64, idBase int64, service string) error {
	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		return fmt.Errorf("create OTLP/gRPC exporter: %w", err)
	}
	counting := &countingExporter{SpanExporter: exp, durations: make(chan time.Duration, 1<<16)}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(counting), // the defaults a new user gets
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
	)
	tracer := tp.Tracer("sdkclient")

	// Spans are ended in ticks of 10 ms, each tick ending its share of the rate.
	const tick = 10 * time.Millisecond
	start := time.Now()
	ended := 0
	for ended < spans {
		due := min(spans, int(rate*time.Since(start).Seconds())+1)
		for ; ended < due; ended++ {
			_, span := tracer.Start(ctx, "operation")
			span.SetAttributes(attribute.Int64("testbed.id", idBase+int64(ended)), attribute.String("http.route", "/api/items"))
			span.End()
		}
		time.Sleep(tick)
	}
	shutdownCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := tp.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintln(os.Stderr, "sdkclient: shutdown:", err)
	}
	close(counting.durations)
	var ds []time.Duration
	for d := range counting.durations {
		ds = append(ds, d)
	}
	res := Result{
		Ended: int64(ended), Exported: counting.exported.Load(), ExportFailed: counting.failed.Load(),
		Seconds: time.Since(start).Seconds(), ExportCalls: len(ds), ExportP99Ms: p99(ds),
	}
	res.Dropped = res.Ended - res.Exported - res.ExportFailed
	return json.NewEncoder(os.Stdout).Encode(res)
}

func p99(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return float64(sorted[(len(sorted)*99)/100]) / 1e6
}
