package readinesshubextension

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

// TestLifecycleWithPage: the collector may shut a component down without having started it and may call Shutdown
// more than once; with the page (an HTTP server) neither must fail or panic, and the port is free again after.
func TestLifecycleWithPage(t *testing.T) {
	cfg, err := loadConfig(t, "readiness_hub/page")
	require.NoError(t, err)
	cfg.Page.Get().NetAddr.Endpoint = "127.0.0.1:0"
	ctx := context.Background()
	create := func() component.Component {
		ext, err := NewFactory().Create(ctx, extensiontest.NewNopSettings(NewFactory().Type()), cfg)
		require.NoError(t, err)
		return ext
	}

	notStarted := create()
	require.NoError(t, notStarted.Shutdown(ctx), "Shutdown without Start")
	require.NoError(t, notStarted.Shutdown(ctx), "second Shutdown without Start")

	started := create()
	require.NoError(t, started.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, started.Shutdown(ctx))
	require.NoError(t, started.Shutdown(ctx), "second Shutdown")
}
