package promscrapereceiver

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-ready/otelcol-ready/internal/lifecycletest"
)

func TestShutdownTwiceAndWithoutStart(t *testing.T) {
	factory := NewFactory()
	cfg := lifecycletest.MetadataConfig(t, factory)
	lifecycletest.ShutdownTwiceAndWithoutStart(t, nil, func(ctx context.Context) (component.Component, error) {
		return factory.CreateMetrics(ctx, receivertest.NewNopSettings(factory.Type()), cfg, consumertest.NewNop())
	})
}
