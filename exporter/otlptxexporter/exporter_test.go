package otlptxexporter

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter/internal/metadatatest"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

// sendMixed pushes n rounds of traces, metrics and logs concurrently through the three
// pipelines and returns the number of items sent.
func sendMixed(t *testing.T, p *pipelines, rounds int, seed uint64) int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 3*rounds)
	items := 0
	for i := range rounds {
		gen := otlptxtest.NewGenerator(seed + uint64(i))
		td, md, ld := gen.Traces(10), gen.Metrics(12), gen.Logs(8)
		items += 30
		wg.Add(3)
		go func() { defer wg.Done(); errs <- p.traces.ConsumeTraces(context.Background(), td) }()
		go func() { defer wg.Done(); errs <- p.metrics.ConsumeMetrics(context.Background(), md) }()
		go func() { defer wg.Done(); errs <- p.logs.ConsumeLogs(context.Background(), ld) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return items
}

// TestCallsReturnBeforeDelivery is the fast acknowledgement: while the gateway holds the
// first request, every pipeline call still returns (its data is queued), and the queued
// requests of all three signals travel together in the next envelope.
func TestCallsReturnBeforeDelivery(t *testing.T) {
	gw := startGateway(t, "")
	px := startProxy(t, gw.endpoint)
	release := make(chan struct{})
	holdFirst := func(n int) int {
		if n == 0 {
			<-release
		}
		return 0
	}
	px.before.Store(&holdFirst)
	cfg := testConfig(px.server.URL)
	cfg.Queue.NumConsumers = 1
	p := startPipelines(t, cfg, nil)
	sent := sendMixed(t, p, 3, 1) // returns although the gateway has answered nothing
	close(release)
	require.Eventually(t, func() bool { return gw.items() == sent }, 10*time.Second, 10*time.Millisecond)
	p.shutdown(t)

	assert.Equal(t, 30, gw.traces.SpanCount())
	assert.Equal(t, 36, gw.metrics.DataPointCount())
	assert.Equal(t, 24, gw.logs.LogRecordCount())
	recs := px.records()
	require.Len(t, recs, 2, "the first request alone, then everything queued meanwhile in one envelope")
	h := recs[1].header
	signals := 0
	for _, n := range []uint64{h.SpanCount, h.DataPointCount, h.LogRecordCount} {
		if n > 0 {
			signals++
		}
	}
	assert.Equal(t, 3, signals, "one envelope carries all three signals: %+v", h)
	assert.Equal(t, uint64(1), recs[0].header.Sequence)
	assert.Equal(t, uint64(2), h.Sequence)
	assert.NotEmpty(t, h.SenderID)
}

func TestBatchLimitsSplitTheQueue(t *testing.T) {
	gw := startGateway(t, "")
	px := startProxy(t, gw.endpoint)
	release := make(chan struct{})
	holdFirst := func(n int) int {
		if n == 0 {
			<-release
		}
		return 0
	}
	px.before.Store(&holdFirst)
	cfg := testConfig(px.server.URL)
	cfg.Queue.NumConsumers = 1
	cfg.Batch.MaxBytes = 2000 // each request is larger: one request per envelope
	p := startPipelines(t, cfg, nil)
	sent := sendMixed(t, p, 2, 10)
	close(release)
	require.Eventually(t, func() bool { return gw.items() == sent }, 10*time.Second, 10*time.Millisecond)
	p.shutdown(t)
	assert.Len(t, px.records(), 6)
	seen := map[uint64]bool{}
	for _, r := range px.records() {
		assert.False(t, seen[r.header.Sequence], "sequence reused: %s", describe(r))
		seen[r.header.Sequence] = true
	}
}

func TestRetriesUntilGatewayAccepts(t *testing.T) {
	gw := startGateway(t, "")
	px := startProxy(t, gw.endpoint)
	failFirst := func(n int) int {
		if n < 3 {
			return []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway}[n]
		}
		return 0
	}
	px.before.Store(&failFirst)
	p := startPipelines(t, testConfig(px.server.URL), nil)
	require.NoError(t, p.logs.ConsumeLogs(context.Background(), otlptxtest.NewGenerator(20).Logs(8)))
	sent := 8
	require.Eventually(t, func() bool { return gw.items() == sent }, 10*time.Second, 10*time.Millisecond)
	p.shutdown(t)
	recs := px.records()
	require.GreaterOrEqual(t, len(recs), 4)
	for _, r := range recs[1:] {
		assert.Equal(t, recs[0].header.Sequence, r.header.Sequence, "a retry re-sends the same batch")
	}
	assert.Equal(t, sent, gw.items())
}

// TestRetriedBatchIsDeduplicated: the gateway processes the batch but its answer is lost;
// the exporter retries the same (sender, sequence) and the gateway does not forward it
// twice.
func TestRetriedBatchIsDeduplicated(t *testing.T) {
	gw := startGateway(t, "")
	px := startProxy(t, gw.endpoint)
	loseFirstAnswers := func(n int) int {
		if n < 2 {
			return http.StatusBadGateway
		}
		return 0
	}
	px.after.Store(&loseFirstAnswers)
	p := startPipelines(t, testConfig(px.server.URL), nil)
	sent := sendMixed(t, p, 1, 30)
	require.Eventually(t, func() bool { return len(px.records()) >= 3 && px.records()[2].status == http.StatusOK },
		10*time.Second, 10*time.Millisecond)
	p.shutdown(t)
	assert.Equal(t, sent, gw.items(), "every item exactly once")
}

func TestPermanentRejectionIsNotRetried(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	p := startPipelines(t, testConfig(srv.URL), nil)
	gen := otlptxtest.NewGenerator(1)
	require.NoError(t, p.logs.ConsumeLogs(context.Background(), gen.Logs(3)))
	time.Sleep(200 * time.Millisecond) // give a (wrong) retry the chance to happen
	p.shutdown(t)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, calls)
}

func TestFailoverToSecondEndpoint(t *testing.T) {
	gw := startGateway(t, "")
	down := "http://" + freeAddr(t) // nothing listens
	p := startPipelines(t, testConfig(down, gw.endpoint), nil)
	sent := 0
	for i := range 5 {
		sent += sendMixed(t, p, 1, uint64(40+i))
	}
	require.Eventually(t, func() bool { return gw.items() == sent }, 10*time.Second, 10*time.Millisecond)
	p.shutdown(t)
	assert.Equal(t, sent, gw.items())
}

func TestLoadIsSpreadAcrossEndpoints(t *testing.T) {
	gwA, gwB := startGateway(t, ""), startGateway(t, "")
	cfg := testConfig(gwA.endpoint, gwB.endpoint)
	cfg.Batch.MaxItems = 1 // one envelope per consume call
	p := startPipelines(t, cfg, nil)
	sent := sendMixed(t, p, 4, 50)
	p.shutdown(t)
	assert.Equal(t, sent, gwA.items()+gwB.items())
	assert.Positive(t, gwA.items())
	assert.Positive(t, gwB.items())
}

func TestFullQueueIsReported(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.Queue.QueueSize = 1
	cfg.Queue.NumConsumers = 1
	cfg.Batch.MaxItems = 1
	cfg.Retry.Enabled = false
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	p := startPipelinesWith(t, cfg, nil, metadatatest.NewSettings(tt))
	gen := otlptxtest.NewGenerator(1)
	require.NoError(t, p.logs.ConsumeLogs(context.Background(), gen.Logs(1)))
	err := p.logs.ConsumeLogs(context.Background(), gen.Logs(2))
	require.Error(t, err)
	assert.True(t, errors.Is(err, errQueueFull), err)
	assert.False(t, consumererror.IsPermanent(err), "a full queue is retryable: the caller keeps the data")
	assert.Contains(t, err.Error(), "sending queue is full")
	metadatatest.AssertEqualOtlptxExporterItemsRefused(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 2, Attributes: attribute.NewSet(attribute.String("signal", "logs"))}},
		metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualOtlptxExporterQueueCapacity(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualOtlptxExporterQueueSize(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	close(release)
	p.shutdown(t)
}

func TestFailoverBalancingKeepsThePrimary(t *testing.T) {
	primary, secondary := startGateway(t, ""), startGateway(t, "")
	cfg := testConfig(primary.endpoint, secondary.endpoint)
	cfg.Balancing = balancingFailover
	cfg.Batch.MaxItems = 1
	p := startPipelines(t, cfg, nil)
	sent := sendMixed(t, p, 3, 100)
	require.Eventually(t, func() bool { return primary.items() == sent }, 10*time.Second, 10*time.Millisecond)

	primary.stop()
	sent2 := sendMixed(t, p, 2, 110)
	require.Eventually(t, func() bool { return secondary.items() == sent2 }, 10*time.Second, 10*time.Millisecond)
	p.shutdown(t)
	assert.Equal(t, sent, primary.items())
}

// TestFallsBackToV1WhileGatewayRefusesV2 runs the exporter against a gateway that answers
// version 2 with 415 as a version-1 receiver does: every batch must still arrive (as
// version 1, at once), and version 2 is offered again after v2_retry_interval.
func TestFallsBackToV1WhileGatewayRefusesV2(t *testing.T) {
	gw := startGateway(t, "")
	px := startProxy(t, gw.endpoint)
	px.refuseV2.Store(true)
	cfg := testConfig(px.server.URL)
	cfg.Queue.NumConsumers = 1 // one request at a time: the 415 is followed by the v1 re-send
	cfg.V2RetryInterval = 300 * time.Millisecond
	p := startPipelines(t, cfg, nil)
	sent := sendMixed(t, p, 2, 1)
	require.Eventually(t, func() bool { return gw.items() == sent }, 5*time.Second, 10*time.Millisecond)

	recs := px.records()
	require.GreaterOrEqual(t, len(recs), 2)
	assert.Equal(t, otlptx.MediaTypeV2, recs[0].contentType, describe(recs[0]))
	assert.Equal(t, http.StatusUnsupportedMediaType, recs[0].status)
	assert.Equal(t, otlptx.ContentType(otlptx.CompressionSnappy), recs[1].contentType, describe(recs[1]))
	assert.Equal(t, http.StatusOK, recs[1].status)
	assert.Equal(t, recs[0].header.Sequence, recs[1].header.Sequence, "the refused batch is resent as version 1")
	for _, r := range recs[2:] {
		assert.NotEqual(t, otlptx.MediaTypeV2, r.contentType, "no version 2 within v2_retry_interval: %s", describe(r))
	}

	// The gateway is upgraded; after the interval version 2 is used again.
	px.refuseV2.Store(false)
	time.Sleep(cfg.V2RetryInterval + 50*time.Millisecond)
	sent += sendMixed(t, p, 1, 10)
	p.shutdown(t)
	assert.Equal(t, sent, gw.items())
	recs = px.records()
	last := recs[len(recs)-1]
	assert.Equal(t, otlptx.MediaTypeV2, last.contentType, describe(last))
	assert.Equal(t, http.StatusOK, last.status)
}

// TestFormatVersion1 keeps sending version 1 when configured so.
func TestFormatVersion1(t *testing.T) {
	gw := startGateway(t, "")
	px := startProxy(t, gw.endpoint)
	cfg := testConfig(px.server.URL)
	cfg.FormatVersion = 1
	p := startPipelines(t, cfg, nil)
	sent := sendMixed(t, p, 2, 1)
	p.shutdown(t)
	assert.Equal(t, sent, gw.items())
	for _, r := range px.records() {
		assert.Equal(t, otlptx.ContentType(otlptx.CompressionSnappy), r.contentType)
		assert.Equal(t, otlptx.FormatVersion, r.header.FormatVersion)
	}
}

// TestFlushTimeoutGroupsLightTraffic: with flush_timeout, requests arriving within it
// travel in one envelope, while every pipeline call still returns at once.
func TestFlushTimeoutGroupsLightTraffic(t *testing.T) {
	gw := startGateway(t, "")
	px := startProxy(t, gw.endpoint)
	cfg := testConfig(px.server.URL)
	cfg.Batch.FlushTimeout = time.Hour // only reaching max_items forms a batch here
	cfg.Batch.MaxItems = 90
	p := startPipelines(t, cfg, nil)
	sent := sendMixed(t, p, 3, 1) // 90 items: returns before any batch is formed
	require.Eventually(t, func() bool { return gw.items() == sent }, 10*time.Second, 10*time.Millisecond)
	p.shutdown(t)
	recs := px.records()
	require.Len(t, recs, 1, "nine requests of three signals, one envelope")
	h := recs[0].header
	assert.Equal(t, uint64(30), h.SpanCount)
	assert.Equal(t, uint64(36), h.DataPointCount)
	assert.Equal(t, uint64(24), h.LogRecordCount)
}

// TestShutdownDoesNotWaitForFlushTimeout: an in-memory queue drains at shutdown without
// waiting for flush_timeout.
func TestShutdownDoesNotWaitForFlushTimeout(t *testing.T) {
	gw := startGateway(t, "")
	cfg := testConfig(gw.endpoint)
	cfg.Batch.FlushTimeout = time.Hour
	p := startPipelines(t, cfg, nil)
	sent := sendMixed(t, p, 1, 2)
	p.shutdown(t)
	assert.Equal(t, sent, gw.items(), "queued data delivered at shutdown")
}
