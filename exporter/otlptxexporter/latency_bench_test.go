package otlptxexporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

// BenchmarkPipelineCallLatency measures what a pipeline call (ConsumeTraces of 512 spans, the OTel SDK's default
// batch) spends in the exporter with file_storage, and prints p50 and p99 next to the upstream otlp_http exporter
// with a persistent sending_queue on the same storage. Both send to a gateway on loopback that answers at once.
// Calls come every 10 ms (100 calls of 512 spans a second: ten times the 5,000 spans/s of the SDK scenario), as from
// applications; back to back, the queue would only measure how fast the gateway drains it (and fill up).
//
//	go test ./exporter/otlptxexporter -run '^$' -bench BenchmarkPipelineCallLatency -benchtime 2000x
func BenchmarkPipelineCallLatency(b *testing.B) {
	td := otlptxtest.NewGenerator(1).Traces(512)
	measure := func(b *testing.B, consume func() error) {
		durations := make([]time.Duration, 0, b.N)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		b.ResetTimer()
		for range b.N {
			<-tick.C
			start := time.Now()
			if err := consume(); err != nil {
				b.Fatal(err)
			}
			durations = append(durations, time.Since(start))
		}
		b.StopTimer()
		slices.Sort(durations)
		b.ReportMetric(float64(durations[len(durations)/2])/1e6, "p50-ms")
		b.ReportMetric(float64(durations[len(durations)*99/100])/1e6, "p99-ms")
	}

	b.Run("otlptx", func(b *testing.B) {
		gw := startGateway(b, "")
		host, stopStorage := otlptxtest.StartFileStorage(b, b.TempDir())
		defer stopStorage()
		p := startPipelines(b, persistentConfig(gw.endpoint), host)
		defer p.shutdown(b)
		measure(b, func() error { return p.traces.ConsumeTraces(context.Background(), td) })
	})

	b.Run("otlptx-memory", func(b *testing.B) {
		gw := startGateway(b, "")
		p := startPipelines(b, testConfig(gw.endpoint), nil)
		defer p.shutdown(b)
		measure(b, func() error { return p.traces.ConsumeTraces(context.Background(), td) })
	})

	b.Run("otlp_http", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
		}))
		defer srv.Close()
		host, stopStorage := otlptxtest.StartFileStorage(b, b.TempDir())
		defer stopStorage()
		factory := otlphttpexporter.NewFactory()
		cfg := factory.CreateDefaultConfig().(*otlphttpexporter.Config)
		cfg.ClientConfig.Endpoint = srv.URL
		id := otlptxtest.FileStorageID
		cfg.QueueConfig.Get().StorageID = &id
		set := exportertest.NewNopSettings(factory.Type())
		var exp exporter.Traces
		exp, err := factory.CreateTraces(context.Background(), set, cfg)
		require.NoError(b, err)
		require.NoError(b, exp.Start(context.Background(), host))
		defer func() { require.NoError(b, exp.Shutdown(context.Background())) }()
		measure(b, func() error { return exp.ConsumeTraces(context.Background(), td) })
	})
}
