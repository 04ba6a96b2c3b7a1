package otlptxexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exportertest"
)

// TestLifecycleShutdownTwiceAndWithoutStart runs the same check as every other component
// of the project, with the metadata.yaml test configuration, per signal.
func TestLifecycleShutdownTwiceAndWithoutStart(t *testing.T) {
	factory := NewFactory()
	cm, err := confmaptest.LoadConf("metadata.yaml")
	require.NoError(t, err)
	cfg := factory.CreateDefaultConfig()
	sub, err := cm.Sub("tests::config")
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(&cfg))
	ctx := context.Background()
	set := exportertest.NewNopSettings(factory.Type())
	for name, create := range map[string]func() (component.Component, error){
		"traces":  func() (component.Component, error) { return factory.CreateTraces(ctx, set, cfg) },
		"metrics": func() (component.Component, error) { return factory.CreateMetrics(ctx, set, cfg) },
		"logs":    func() (component.Component, error) { return factory.CreateLogs(ctx, set, cfg) },
	} {
		t.Run(name, func(t *testing.T) {
			notStarted, err := create()
			require.NoError(t, err)
			require.NoError(t, notStarted.Shutdown(ctx), "Shutdown without Start")
			require.NoError(t, notStarted.Shutdown(ctx), "second Shutdown without Start")
			started, err := create()
			require.NoError(t, err)
			require.NoError(t, started.Start(ctx, componenttest.NewNopHost()))
			require.NoError(t, started.Shutdown(ctx))
			require.NoError(t, started.Shutdown(ctx), "second Shutdown")
		})
	}
}
