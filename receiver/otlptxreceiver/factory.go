package otlptxreceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver/internal/metadata"
)

// NewFactory returns the factory of the otlptx receiver. Receivers created by one
// factory from the same configuration share one instance and one HTTP server, which
// forwards each signal to the pipeline that registered it.
func NewFactory() receiver.Factory {
	shared := &sharedReceivers{instances: map[*Config]*sharedReceiver{}}
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithTraces(shared.createTraces, metadata.TracesStability),
		receiver.WithMetrics(shared.createMetrics, metadata.MetricsStability),
		receiver.WithLogs(shared.createLogs, metadata.LogsStability),
	)
}

type sharedReceivers struct {
	mu        sync.Mutex
	instances map[*Config]*sharedReceiver
}

// sharedReceiver starts the server on the first Start and stops it on the last
// Shutdown of the components sharing it.
type sharedReceiver struct {
	rcv     *otlptxReceiver
	owner   *sharedReceivers
	key     *Config
	mu      sync.Mutex
	users   int
	started bool
}

func (s *sharedReceivers) get(set receiver.Settings, cfg *Config) *sharedReceiver {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr, found := s.instances[cfg]
	if !found {
		sr = &sharedReceiver{rcv: newReceiver(cfg, set), owner: s, key: cfg}
		s.instances[cfg] = sr
	}
	sr.users++
	return sr
}

func (sr *sharedReceiver) Start(ctx context.Context, host component.Host) error {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.started {
		return nil
	}
	if err := sr.rcv.start(ctx, host); err != nil {
		return err
	}
	sr.started = true
	return nil
}

func (sr *sharedReceiver) Shutdown(ctx context.Context) error {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	sr.users--
	if sr.users > 0 {
		return nil
	}
	sr.owner.mu.Lock()
	delete(sr.owner.instances, sr.key)
	sr.owner.mu.Unlock()
	if !sr.started {
		return nil
	}
	sr.started = false
	return sr.rcv.shutdown(ctx)
}

// signalReceiver is what one pipeline holds; lifecycle calls go to the shared instance.
type signalReceiver struct {
	*sharedReceiver
}

func (s *sharedReceivers) createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	sr := s.get(set, cfg.(*Config))
	sr.rcv.mu.Lock()
	sr.rcv.traces = next
	sr.rcv.mu.Unlock()
	return signalReceiver{sr}, nil
}

func (s *sharedReceivers) createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	sr := s.get(set, cfg.(*Config))
	sr.rcv.mu.Lock()
	sr.rcv.metrics = next
	sr.rcv.mu.Unlock()
	return signalReceiver{sr}, nil
}

func (s *sharedReceivers) createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	sr := s.get(set, cfg.(*Config))
	sr.rcv.mu.Lock()
	sr.rcv.logs = next
	sr.rcv.mu.Unlock()
	return signalReceiver{sr}, nil
}
