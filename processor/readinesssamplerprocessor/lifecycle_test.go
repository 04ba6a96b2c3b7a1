package readinesssamplerprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
	"github.com/otelcol-ready/otelcol-ready/internal/lifecycletest"
)

func TestShutdownTwiceAndWithoutStart(t *testing.T) {
	hubFactory := readinesshubextension.NewFactory()
	hub, err := hubFactory.Create(context.Background(), extensiontest.NewNopSettings(hubFactory.Type()), hubFactory.CreateDefaultConfig())
	require.NoError(t, err)
	host := &testHost{exts: map[component.ID]component.Component{component.NewID(hubFactory.Type()): hub}}
	lifecycletest.ShutdownTwiceAndWithoutStart(t, host, func(ctx context.Context) (component.Component, error) {
		return NewFactory().CreateTraces(ctx, processortest.NewNopSettings(NewFactory().Type()), createDefaultConfig(), consumertest.NewNop())
	})
}
