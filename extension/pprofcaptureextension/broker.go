package pprofcaptureextension // import "github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"
)

// broker is the pprofcapture extension: a registry of capturers and the router of requests to them.
type broker struct {
	logger  *zap.Logger
	cfg     *Config
	trigger *triggerServer

	mu     sync.RWMutex
	nextID uint64
	// capturers in registration order; the first one that owns a target serves it.
	capturers []registration
}

type registration struct {
	id       uint64
	capturer Capturer
}

var (
	_ Broker              = (*broker)(nil)
	_ component.Component = (*broker)(nil)
)

func newBroker(logger *zap.Logger, cfg *Config) *broker {
	return &broker{logger: logger, cfg: cfg}
}

// NewBroker returns a Broker that is not an extension, for tests and for embedding.
func NewBroker() Broker {
	return newBroker(zap.NewNop(), &Config{})
}

// Start serves the operator trigger when configured.
func (b *broker) Start(context.Context, component.Host) error {
	if b.cfg.Trigger == nil {
		return nil
	}
	t, err := startTrigger(b.cfg.Trigger, b, b.logger)
	if err != nil {
		return err
	}
	b.trigger = t
	return nil
}

func (b *broker) Shutdown(ctx context.Context) error {
	if b.trigger != nil {
		if err := b.trigger.shutdown(ctx); err != nil {
			return err
		}
		b.trigger = nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.capturers = nil
	return nil
}

// Register adds c; the returned function removes it and is safe to call more than once.
func (b *broker) Register(c Capturer) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextID++
	id := b.nextID
	b.capturers = append(b.capturers, registration{id: id, capturer: c})
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			for i, r := range b.capturers {
				if r.id == id {
					b.capturers = append(b.capturers[:i:i], b.capturers[i+1:]...)
					return
				}
			}
		})
	}
}

// Capture routes req to the first registered capturer that owns req.Target.
func (b *broker) Capture(ctx context.Context, req Request) ([]Result, error) {
	if len(req.Kinds) == 0 {
		return nil, errors.New("capture request names no kind")
	}
	owner := b.owner(req.Target)
	if owner == nil {
		return nil, fmt.Errorf("%w: service.name=%q service.instance.id=%q",
			ErrUnknownTarget, req.Target.ServiceName, req.Target.ServiceInstanceID)
	}
	results, err := owner.Capture(ctx, req)
	if err != nil {
		b.logger.Debug("Capture request refused",
			zap.String("service.name", req.Target.ServiceName),
			zap.String("service.instance.id", req.Target.ServiceInstanceID),
			zap.String("reason", req.Reason), zap.Error(err))
	}
	return results, err
}

func (b *broker) owner(target TargetKey) Capturer {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, r := range b.capturers {
		if r.capturer.Owns(target) {
			return r.capturer
		}
	}
	return nil
}
