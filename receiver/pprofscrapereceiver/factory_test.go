package pprofscrapereceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-ready/otelcol-ready/internal/sharedcomponent"
	"github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver/internal/metadata"
)

func TestMetricsAndLogsPipelinesShareOneInstance(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig()
	set := receivertest.NewNopSettings(metadata.Type)
	metrics, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	logs, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	instance := func(c any) *pprofReceiver { return c.(*sharedcomponent.Handle[*pprofReceiver]).Unwrap() }
	assert.Same(t, instance(metrics), instance(logs))

	other, err := f.CreateLogs(context.Background(), set, f.CreateDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	assert.NotSame(t, instance(metrics), instance(other), "another configuration is another receiver")

	host := componenttest.NewNopHost()
	require.NoError(t, metrics.Start(context.Background(), host))
	require.NoError(t, logs.Start(context.Background(), host))
	require.NoError(t, metrics.Shutdown(context.Background()))
	require.NoError(t, logs.Shutdown(context.Background()))

	again, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.NotSame(t, instance(metrics), instance(again), "a shut down instance is not reused")
	require.NoError(t, again.Shutdown(context.Background()))
	require.NoError(t, other.Shutdown(context.Background()))
}
