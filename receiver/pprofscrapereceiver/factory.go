package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-ready/otelcol-ready/internal/sharedcomponent"
	"github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver/internal/metadata"
)

// NewFactory returns the factory of the pprofscrape receiver. One receiver ID used in a metrics and a logs pipeline
// is one instance (the collector hands both the same *Config), like the OTLP receiver does; it is started by the
// first pipeline's Start and shut down by the last pipeline's Shutdown (internal/sharedcomponent).
func NewFactory() receiver.Factory {
	f := &factory{shared: sharedcomponent.NewMap[*Config, *pprofReceiver]()}
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(f.createMetrics, metadata.MetricsStability),
		receiver.WithLogs(f.createLogs, metadata.LogsStability),
	)
}

type factory struct {
	shared *sharedcomponent.Map[*Config, *pprofReceiver]
}

func (f *factory) get(cfg *Config, set receiver.Settings) (*sharedcomponent.Handle[*pprofReceiver], error) {
	return f.shared.LoadOrStore(cfg, func() (*pprofReceiver, error) { return newPprofReceiver(cfg, set) })
}

func (f *factory) createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	h, err := f.get(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	if err := h.Unwrap().attachMetrics(next); err != nil {
		return nil, errors.Join(err, h.Shutdown(context.Background()))
	}
	return h, nil
}

func (f *factory) createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	h, err := f.get(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	h.Unwrap().attachLogs(next)
	return h, nil
}
