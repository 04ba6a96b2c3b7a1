package otlptxreceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-ready/otelcol-ready/internal/sharedcomponent"
	"github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver/internal/metadata"
)

// NewFactory returns the factory of the otlptx receiver. Receivers created by one
// factory from the same configuration share one instance and one HTTP server, which
// forwards each signal to the pipeline that registered it.
func NewFactory() receiver.Factory {
	f := &factory{shared: sharedcomponent.NewMap[*Config, *otlptxReceiver]()}
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithTraces(f.createTraces, metadata.TracesStability),
		receiver.WithMetrics(f.createMetrics, metadata.MetricsStability),
		receiver.WithLogs(f.createLogs, metadata.LogsStability),
	)
}

type factory struct {
	shared *sharedcomponent.Map[*Config, *otlptxReceiver]
}

func (f *factory) get(set receiver.Settings, cfg *Config) (*sharedcomponent.Handle[*otlptxReceiver], error) {
	return f.shared.LoadOrStore(cfg, func() (*otlptxReceiver, error) { return newReceiver(cfg, set), nil })
}

func (f *factory) createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	h, err := f.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	r := h.Unwrap()
	r.mu.Lock()
	r.traces = next
	r.mu.Unlock()
	return h, nil
}

func (f *factory) createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	h, err := f.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	r := h.Unwrap()
	r.mu.Lock()
	r.metrics = next
	r.mu.Unlock()
	return h, nil
}

func (f *factory) createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	h, err := f.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	r := h.Unwrap()
	r.mu.Lock()
	r.logs = next
	r.mu.Unlock()
	return h, nil
}
