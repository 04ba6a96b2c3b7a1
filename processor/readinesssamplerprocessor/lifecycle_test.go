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
)

// TestShutdownTwiceAndWithoutStart: the collector may shut a component down without having started it (a pipeline
// failed to build) and may call Shutdown more than once; neither must fail or panic.
func TestShutdownTwiceAndWithoutStart(t *testing.T) {
	ctx := context.Background()
	create := func() component.Component {
		p, err := NewFactory().CreateTraces(ctx, processortest.NewNopSettings(NewFactory().Type()), createDefaultConfig(), consumertest.NewNop())
		require.NoError(t, err)
		return p
	}
	notStarted := create()
	require.NoError(t, notStarted.Shutdown(ctx), "Shutdown without Start")
	require.NoError(t, notStarted.Shutdown(ctx), "second Shutdown without Start")

	hubFactory := readinesshubextension.NewFactory()
	hub, err := hubFactory.Create(ctx, extensiontest.NewNopSettings(hubFactory.Type()), hubFactory.CreateDefaultConfig())
	require.NoError(t, err)
	host := &testHost{exts: map[component.ID]component.Component{component.NewID(hubFactory.Type()): hub}}
	started := create()
	require.NoError(t, started.Start(ctx, host))
	require.NoError(t, started.Shutdown(ctx))
	require.NoError(t, started.Shutdown(ctx), "second Shutdown")
}
