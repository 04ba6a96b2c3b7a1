package otlptxexporter // import "github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter/internal/metadata"
)

// NewFactory returns the factory of the otlptx exporter. Exporters created by one
// factory from the same configuration share one instance (one batcher, queue and set of
// HTTP clients), so the traces, metrics and logs pipelines feed the same envelopes.
func NewFactory() exporter.Factory {
	shared := &sharedExporters{instances: map[*Config]*sharedExporter{}}
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(shared.createTraces, metadata.TracesStability),
		exporter.WithMetrics(shared.createMetrics, metadata.MetricsStability),
		exporter.WithLogs(shared.createLogs, metadata.LogsStability),
	)
}

// sharedExporter reference-counts one otlptxExporter: started by the first Start, shut
// down by the last Shutdown.
type sharedExporter struct {
	exp     *otlptxExporter
	mu      sync.Mutex
	started int
	users   int
	owner   *sharedExporters
	key     *Config
}

type sharedExporters struct {
	mu        sync.Mutex
	instances map[*Config]*sharedExporter
}

func (s *sharedExporters) get(set exporter.Settings, cfg *Config) *sharedExporter {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, found := s.instances[cfg]
	if !found {
		se = &sharedExporter{exp: newExporter(cfg, set.ID, set.TelemetrySettings), owner: s, key: cfg}
		s.instances[cfg] = se
	}
	se.users++
	return se
}

func (se *sharedExporter) start(ctx context.Context, host component.Host) error {
	se.mu.Lock()
	defer se.mu.Unlock()
	se.started++
	if se.started > 1 {
		return nil
	}
	if err := se.exp.start(ctx, host); err != nil {
		se.started--
		return err
	}
	return nil
}

func (se *sharedExporter) shutdown(ctx context.Context) error {
	se.mu.Lock()
	defer se.mu.Unlock()
	se.users--
	if se.users > 0 {
		return nil
	}
	se.owner.mu.Lock()
	delete(se.owner.instances, se.key)
	se.owner.mu.Unlock()
	return se.exp.shutdown(ctx)
}

func helperOptions(se *sharedExporter) []exporterhelper.Option {
	return []exporterhelper.Option{
		exporterhelper.WithStart(se.start),
		exporterhelper.WithShutdown(se.shutdown),
		// The exporter owns batching, queueing and retries; a per-call timeout would cut
		// the wait for the batch to be persisted.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
	}
}

func (s *sharedExporters) createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	se := s.get(set, cfg.(*Config))
	return exporterhelper.NewTraces(ctx, set, cfg, se.exp.consumeTraces, helperOptions(se)...)
}

func (s *sharedExporters) createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	se := s.get(set, cfg.(*Config))
	return exporterhelper.NewMetrics(ctx, set, cfg, se.exp.consumeMetrics, helperOptions(se)...)
}

func (s *sharedExporters) createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	se := s.get(set, cfg.(*Config))
	return exporterhelper.NewLogs(ctx, set, cfg, se.exp.consumeLogs, helperOptions(se)...)
}
