package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver/internal/metadata"
)

// NewFactory returns the factory of the pprofscrape receiver. One receiver ID used in a metrics and a logs pipeline
// is one instance (the collector hands both the same *Config), like the OTLP receiver does.
func NewFactory() receiver.Factory {
	instances := &sharedReceivers{byConfig: map[*Config]*sharedReceiver{}}
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(instances.createMetrics, metadata.MetricsStability),
		receiver.WithLogs(instances.createLogs, metadata.LogsStability),
	)
}

// sharedReceivers maps a configuration to the instance serving it, until that instance shuts down.
type sharedReceivers struct {
	mu       sync.Mutex
	byConfig map[*Config]*sharedReceiver
}

// sharedReceiver removes itself from the map on shutdown so that a restarted pipeline gets a fresh instance.
type sharedReceiver struct {
	*pprofReceiver
	owner *sharedReceivers
	cfg   *Config
}

func (s *sharedReceiver) Shutdown(ctx context.Context) error {
	err := s.pprofReceiver.Shutdown(ctx)
	s.owner.mu.Lock()
	if s.owner.byConfig[s.cfg] == s {
		delete(s.owner.byConfig, s.cfg)
	}
	s.owner.mu.Unlock()
	return err
}

func (m *sharedReceivers) get(cfg *Config, set receiver.Settings) (*sharedReceiver, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.byConfig[cfg]; ok {
		return r, nil
	}
	pr, err := newPprofReceiver(cfg, set)
	if err != nil {
		return nil, err
	}
	r := &sharedReceiver{pprofReceiver: pr, owner: m, cfg: cfg}
	m.byConfig[cfg] = r
	return r, nil
}

func (m *sharedReceivers) createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r, err := m.get(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	if err := r.attachMetrics(next); err != nil {
		return nil, err
	}
	return r, nil
}

func (m *sharedReceivers) createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	r, err := m.get(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	r.attachLogs(next)
	return r, nil
}
