package pprofscrapereceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// TestShutdownTwiceAndWithoutStart: the collector may shut a component down without having
// started it (a pipeline failed to build) and may call Shutdown more than once; neither
// must fail, panic or release anything twice.
func TestShutdownTwiceAndWithoutStart(t *testing.T) {
	factory := NewFactory()
	cm, err := confmaptest.LoadConf("metadata.yaml")
	require.NoError(t, err)
	cfg := factory.CreateDefaultConfig()
	sub, err := cm.Sub("tests::config")
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(&cfg))
	ctx := context.Background()
	create := func() component.Component {
		c, err := factory.CreateMetrics(ctx, receivertest.NewNopSettings(factory.Type()), cfg, consumertest.NewNop())
		require.NoError(t, err)
		return c
	}

	notStarted := create()
	require.NoError(t, notStarted.Shutdown(ctx), "Shutdown without Start")
	require.NoError(t, notStarted.Shutdown(ctx), "second Shutdown without Start")

	started := create()
	require.NoError(t, started.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, started.Shutdown(ctx))
	require.NoError(t, started.Shutdown(ctx), "second Shutdown")
}
