// Package lifecycletest checks what the collector may do to any component of the project: shut it down without
// having started it (a pipeline failed to build), and shut it down twice. Neither may fail, panic or release
// anything twice.
package lifecycletest // import "github.com/otelcol-ready/otelcol-ready/internal/lifecycletest"

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// MetadataConfig returns the factory's default configuration with the `tests::config` section of the component's
// metadata.yaml (in the test's working directory) applied, as mdatagen's generated tests use it.
func MetadataConfig(t testing.TB, factory component.Factory) component.Config {
	t.Helper()
	cm, err := confmaptest.LoadConf("metadata.yaml")
	require.NoError(t, err)
	cfg := factory.CreateDefaultConfig()
	sub, err := cm.Sub("tests::config")
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(&cfg))
	return cfg
}

// ShutdownTwiceAndWithoutStart shuts one instance made by create down twice without starting it, then starts
// another on host (a nop host when nil) and shuts it down twice.
func ShutdownTwiceAndWithoutStart(t *testing.T, host component.Host, create func(ctx context.Context) (component.Component, error)) {
	t.Helper()
	ctx := context.Background()
	if host == nil {
		host = componenttest.NewNopHost()
	}
	notStarted, err := create(ctx)
	require.NoError(t, err)
	require.NoError(t, notStarted.Shutdown(ctx), "Shutdown without Start")
	require.NoError(t, notStarted.Shutdown(ctx), "second Shutdown without Start")

	started, err := create(ctx)
	require.NoError(t, err)
	require.NoError(t, started.Start(ctx, host))
	require.NoError(t, started.Shutdown(ctx))
	require.NoError(t, started.Shutdown(ctx), "second Shutdown")
}
