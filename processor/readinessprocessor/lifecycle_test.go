package readinessprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-ready/otelcol-ready/internal/lifecycletest"
)

func TestShutdownTwiceAndWithoutStart(t *testing.T) {
	factory := NewFactory()
	cfg := lifecycletest.MetadataConfig(t, factory)
	lifecycletest.ShutdownTwiceAndWithoutStart(t, nil, func(ctx context.Context) (component.Component, error) {
		return factory.CreateMetrics(ctx, processortest.NewNopSettings(factory.Type()), cfg, consumertest.NewNop())
	})
}
