package otlptxexporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter/internal/metadata"
	"github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter/internal/metadatatest"
	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

// TestMetricsDropOldestWhenFull: with when_full.metrics drop_oldest a full queue keeps
// accepting metrics by dropping the oldest queued metrics request (counted), while traces
// are still refused with a retryable error.
func TestMetricsDropOldestWhenFull(t *testing.T) {
	gw := startGateway(t, "")
	release := make(chan struct{})
	px := startProxy(t, gw.endpoint)
	holdFirst := func(n int) int {
		if n == 0 {
			<-release
		}
		return 0
	}
	px.before.Store(&holdFirst)
	cfg := testConfig(px.server.URL)
	cfg.Queue.QueueSize = 3
	cfg.Queue.NumConsumers = 1
	cfg.Queue.WhenFull.Metrics = policyDropOldest
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	p := startPipelinesWith(t, cfg, nil, metadatatest.NewSettings(tt))

	gen := otlptxtest.NewGenerator(1)
	ctx := context.Background()
	// The first request is formed into a batch the gateway holds; two more fill the queue.
	require.NoError(t, p.metrics.ConsumeMetrics(ctx, gen.Metrics(1)))
	require.Eventually(t, func() bool { return len(px.records()) == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, p.metrics.ConsumeMetrics(ctx, gen.Metrics(2)))
	require.NoError(t, p.traces.ConsumeTraces(ctx, gen.Traces(3)))
	// Full: metrics drop the oldest queued metrics request (2 points), traces are refused.
	require.NoError(t, p.metrics.ConsumeMetrics(ctx, gen.Metrics(4)))
	err := p.traces.ConsumeTraces(ctx, gen.Traces(5))
	require.True(t, errors.Is(err, errQueueFull), err)
	close(release)
	require.Eventually(t, func() bool { return gw.items() == 1+3+4 }, 5*time.Second, time.Millisecond)
	p.shutdown(t)
	assert.Equal(t, 5, gw.metrics.DataPointCount(), "the newest metrics arrive, the oldest queued were dropped")
	assert.Equal(t, 3, gw.traces.SpanCount())

	metadatatest.AssertEqualOtlptxExporterItemsDropped(t, tt, []metricdata.DataPoint[int64]{{
		Value:      2,
		Attributes: attribute.NewSet(attribute.String("signal", "metrics"), attribute.String("reason", "queue_full_drop_oldest")),
	}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualOtlptxExporterItemsRefused(t, tt, []metricdata.DataPoint[int64]{{
		Value: 5, Attributes: attribute.NewSet(attribute.String("signal", "traces")),
	}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualOtlptxExporterItemsDelivered(t, tt, []metricdata.DataPoint[int64]{
		{Value: 5, Attributes: attribute.NewSet(attribute.String("signal", "metrics"))},
		{Value: 3, Attributes: attribute.NewSet(attribute.String("signal", "traces"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualOtlptxExporterBatchesSent(t, tt, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
}

// TestShutdownTwiceAndWithoutStart: every pipeline's exporter may be shut down twice, and
// without having been started.
func TestShutdownTwiceAndWithoutStart(t *testing.T) {
	factory := NewFactory()
	cfg := testConfig("http://127.0.0.1:1")
	set := exportertest.NewNopSettings(metadata.Type)
	ctx := context.Background()

	tr, err := factory.CreateTraces(ctx, set, cfg)
	require.NoError(t, err)
	me, err := factory.CreateMetrics(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, tr.Shutdown(ctx), "without start")
	require.NoError(t, tr.Shutdown(ctx), "twice without start")
	require.NoError(t, me.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, me.Shutdown(ctx))
	require.NoError(t, me.Shutdown(ctx), "twice after start")

	// The instance was released: a new pipeline gets a fresh, working one.
	lo, err := factory.CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, lo.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, lo.Shutdown(ctx))
	require.NoError(t, lo.Shutdown(ctx))
}
