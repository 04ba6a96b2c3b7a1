package otlptxencodingextension

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-ready/otelcol-ready/internal/lifecycletest"
)

func TestShutdownTwiceAndWithoutStart(t *testing.T) {
	factory := NewFactory()
	cfg := lifecycletest.MetadataConfig(t, factory)
	lifecycletest.ShutdownTwiceAndWithoutStart(t, nil, func(ctx context.Context) (component.Component, error) {
		return factory.Create(ctx, extensiontest.NewNopSettings(factory.Type()), cfg)
	})
}
