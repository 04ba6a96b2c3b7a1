package otlptxexporter // import "github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter/internal/metadata"
	"github.com/otelcol-ready/otelcol-ready/internal/sharedcomponent"
)

// NewFactory returns the factory of the otlptx exporter. Exporters created by one
// factory from the same configuration share one instance (one queue, sequence and set of
// HTTP clients), so the traces, metrics and logs pipelines feed the same envelopes.
func NewFactory() exporter.Factory {
	f := &factory{shared: sharedcomponent.NewMap[*Config, *otlptxExporter]()}
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(f.createTraces, metadata.TracesStability),
		exporter.WithMetrics(f.createMetrics, metadata.MetricsStability),
		exporter.WithLogs(f.createLogs, metadata.LogsStability),
	)
}

type factory struct {
	shared *sharedcomponent.Map[*Config, *otlptxExporter]
}

func (f *factory) get(set exporter.Settings, cfg *Config) (*sharedcomponent.Handle[*otlptxExporter], error) {
	return f.shared.LoadOrStore(cfg, func() (*otlptxExporter, error) {
		return newExporter(cfg, set.ID, set.TelemetrySettings), nil
	})
}

func helperOptions(h *sharedcomponent.Handle[*otlptxExporter]) []exporterhelper.Option {
	return []exporterhelper.Option{
		exporterhelper.WithStart(h.Start),
		exporterhelper.WithShutdown(h.Shutdown),
		// The exporter owns its queue: a pipeline call costs one storage write.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
	}
}

func (f *factory) createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	h, err := f.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewTraces(ctx, set, cfg, h.Unwrap().consumeTraces, helperOptions(h)...)
}

func (f *factory) createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	h, err := f.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewMetrics(ctx, set, cfg, h.Unwrap().consumeMetrics, helperOptions(h)...)
}

func (f *factory) createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	h, err := f.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, cfg, h.Unwrap().consumeLogs, helperOptions(h)...)
}
