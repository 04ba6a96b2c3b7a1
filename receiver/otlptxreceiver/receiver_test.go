package otlptxreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-ready/otelcol-ready/internal/sharedcomponent"
	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
	"github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver/internal/metadata"
)

// testReceiver is a started receiver with sinks for the signals it was created for.
type testReceiver struct {
	url     string
	traces  *consumertest.TracesSink
	metrics *consumertest.MetricsSink
	logs    *consumertest.LogsSink
	rcv     *otlptxReceiver
}

type signalSet struct{ traces, metrics, logs consumer.Traces }

// startReceiver creates the receiver for the given consumers (nil: no pipeline for that
// signal) through the factory, as the collector does, and starts it on a free port.
func startReceiver(t *testing.T, cfg *Config, host component.Host, traces consumer.Traces, metrics consumer.Metrics, logs consumer.Logs) *testReceiver {
	t.Helper()
	if cfg == nil {
		cfg = createDefaultConfig().(*Config)
	}
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	if host == nil {
		host = componenttest.NewNopHost()
	}
	factory := NewFactory()
	set := receivertest.NewNopSettings(metadata.Type)
	var comps []component.Component
	if traces != nil {
		c, err := factory.CreateTraces(context.Background(), set, cfg, traces)
		require.NoError(t, err)
		comps = append(comps, c)
	}
	if metrics != nil {
		c, err := factory.CreateMetrics(context.Background(), set, cfg, metrics)
		require.NoError(t, err)
		comps = append(comps, c)
	}
	if logs != nil {
		c, err := factory.CreateLogs(context.Background(), set, cfg, logs)
		require.NoError(t, err)
		comps = append(comps, c)
	}
	require.NotEmpty(t, comps)
	for _, c := range comps {
		require.NoError(t, c.Start(context.Background(), host))
	}
	t.Cleanup(func() {
		for _, c := range comps {
			require.NoError(t, c.Shutdown(context.Background()))
		}
	})
	rcv := comps[0].(*sharedcomponent.Handle[*otlptxReceiver]).Unwrap()
	tr := &testReceiver{url: fmt.Sprintf("http://%s%s", rcv.addr, otlptx.Path), rcv: rcv}
	tr.traces, _ = traces.(*consumertest.TracesSink)
	tr.metrics, _ = metrics.(*consumertest.MetricsSink)
	tr.logs, _ = logs.(*consumertest.LogsSink)
	return tr
}

func startAllSinks(t *testing.T, cfg *Config) *testReceiver {
	return startReceiver(t, cfg, nil, new(consumertest.TracesSink), new(consumertest.MetricsSink), new(consumertest.LogsSink))
}

func encodeEnvelope(t *testing.T, seq uint64, traces, points, logs int, comp otlptx.Compression) []byte {
	t.Helper()
	gen := otlptxtest.NewGenerator(seq)
	var td ptrace.Traces
	var md pmetric.Metrics
	var ld plog.Logs
	if traces > 0 {
		td = gen.Traces(traces)
	}
	if points > 0 {
		md = gen.Metrics(points)
	}
	if logs > 0 {
		ld = gen.Logs(logs)
	}
	env, err := otlptx.NewEnvelope(otlptx.Header{SenderID: "sidecar-test", Sequence: seq, CreatedUnixNano: 1}, td, md, ld)
	require.NoError(t, err)
	codec, err := otlptx.NewCodec(0)
	require.NoError(t, err)
	defer codec.Close()
	body, err := codec.Encode(env, comp)
	require.NoError(t, err)
	return body
}

func post(t *testing.T, url, contentType string, body []byte) (int, *otlptx.Response, http.Header) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, otlptx.MediaType, resp.Header.Get("Content-Type"))
	parsed, err := otlptx.UnmarshalResponse(raw)
	require.NoError(t, err)
	return resp.StatusCode, parsed, resp.Header
}

func TestReceiveAllSignals(t *testing.T) {
	for _, comp := range []otlptx.Compression{otlptx.CompressionSnappy, otlptx.CompressionZstd, otlptx.CompressionNone} {
		t.Run(string(comp), func(t *testing.T) {
			r := startAllSinks(t, nil)
			status, resp, _ := post(t, r.url, otlptx.ContentType(comp), encodeEnvelope(t, 1, 10, 12, 7, comp))
			require.Equal(t, http.StatusOK, status, resp.Message)
			assert.Equal(t, otlptx.SignalResult{Accepted: 10}, resp.Traces)
			assert.Equal(t, otlptx.SignalResult{Accepted: 12}, resp.Metrics)
			assert.Equal(t, otlptx.SignalResult{Accepted: 7}, resp.Logs)
			assert.False(t, resp.Duplicate)
			assert.Equal(t, 10, r.traces.SpanCount())
			assert.Equal(t, 12, r.metrics.DataPointCount())
			assert.Equal(t, 7, r.logs.LogRecordCount())
		})
	}
}

// encodeEnvelopeV2 is encodeEnvelope for format version 2.
func encodeEnvelopeV2(t *testing.T, seq uint64, traces, points, logs int, comp otlptx.Compression) []byte {
	t.Helper()
	codec, err := otlptx.NewCodec(0)
	require.NoError(t, err)
	defer codec.Close()
	v1, err := otlptx.Unmarshal(func() []byte {
		raw, err := codec.Decompress(encodeEnvelope(t, seq, traces, points, logs, otlptx.CompressionNone), otlptx.CompressionNone)
		require.NoError(t, err)
		return raw
	}())
	require.NoError(t, err)
	env, err := v1.ToV2()
	require.NoError(t, err)
	body, err := codec.Encode(env, comp)
	require.NoError(t, err)
	return body
}

func TestReceiveAllSignalsV2(t *testing.T) {
	for _, comp := range []otlptx.Compression{otlptx.CompressionS2, otlptx.CompressionZstd, otlptx.CompressionNone} {
		t.Run(string(comp), func(t *testing.T) {
			r := startAllSinks(t, nil)
			status, resp, _ := post(t, r.url, otlptx.MediaTypeV2, encodeEnvelopeV2(t, 1, 10, 12, 7, comp))
			require.Equal(t, http.StatusOK, status, resp.Message)
			assert.Equal(t, otlptx.SignalResult{Accepted: 10}, resp.Traces)
			assert.Equal(t, otlptx.SignalResult{Accepted: 12}, resp.Metrics)
			assert.Equal(t, otlptx.SignalResult{Accepted: 7}, resp.Logs)
			assert.Equal(t, 10, r.traces.SpanCount())
			assert.Equal(t, 12, r.metrics.DataPointCount())
			assert.Equal(t, 7, r.logs.LogRecordCount())
		})
	}
}

func TestSignalWithoutPipelineIsRejectedInCounts(t *testing.T) {
	traces := new(consumertest.TracesSink)
	r := startReceiver(t, nil, nil, traces, nil, nil)
	status, resp, _ := post(t, r.url, otlptx.ContentType(otlptx.CompressionSnappy), encodeEnvelope(t, 1, 4, 5, 6, otlptx.CompressionSnappy))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, otlptx.SignalResult{Accepted: 4}, resp.Traces)
	assert.Equal(t, uint64(5), resp.Metrics.Rejected)
	assert.Contains(t, resp.Metrics.ErrorMessage, "no metrics pipeline")
	assert.Equal(t, uint64(6), resp.Logs.Rejected)
	assert.Contains(t, resp.Logs.ErrorMessage, "no logs pipeline")
	assert.Equal(t, 4, traces.SpanCount())
}

func TestDuplicateBatchIsAcknowledgedNotForwarded(t *testing.T) {
	r := startAllSinks(t, nil)
	body := encodeEnvelope(t, 7, 3, 4, 5, otlptx.CompressionSnappy)
	for i := range 3 {
		status, resp, _ := post(t, r.url, otlptx.ContentType(otlptx.CompressionSnappy), body)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, i > 0, resp.Duplicate)
		assert.Equal(t, uint64(3), resp.Traces.Accepted)
	}
	assert.Equal(t, 3, r.traces.SpanCount())
	assert.Equal(t, 4, r.metrics.DataPointCount())
	assert.Equal(t, 5, r.logs.LogRecordCount())

	// Another sequence from the same sender is new data.
	status, resp, _ := post(t, r.url, otlptx.ContentType(otlptx.CompressionSnappy), encodeEnvelope(t, 8, 3, 0, 0, otlptx.CompressionSnappy))
	require.Equal(t, http.StatusOK, status)
	assert.False(t, resp.Duplicate)
	assert.Equal(t, 6, r.traces.SpanCount())
}

func TestDedupDisabledForwardsTwice(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Dedup.Enabled = false
	r := startAllSinks(t, cfg)
	body := encodeEnvelope(t, 7, 3, 0, 0, otlptx.CompressionNone)
	for range 2 {
		status, _, _ := post(t, r.url, otlptx.MediaType, body)
		require.Equal(t, http.StatusOK, status)
	}
	assert.Equal(t, 6, r.traces.SpanCount())
}

// flakyMetrics refuses the first calls with a retryable error.
type flakyMetrics struct {
	consumertest.MetricsSink
	failures atomic.Int32
}

func (f *flakyMetrics) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("memory limiter: data refused")
	}
	return f.MetricsSink.ConsumeMetrics(ctx, md)
}

// TestPartialFailureRetriesOnlyTheRefusedSignal: the traces of a batch are delivered, the
// metrics pipeline refuses (retryable): 503 with Retry-After, and the retry forwards only
// the metrics, so the traces are not duplicated.
func TestPartialFailureRetriesOnlyTheRefusedSignal(t *testing.T) {
	metrics := &flakyMetrics{}
	metrics.failures.Store(1)
	traces := new(consumertest.TracesSink)
	r := startReceiver(t, nil, nil, traces, metrics, nil)
	body := encodeEnvelope(t, 3, 5, 6, 0, otlptx.CompressionSnappy)

	status, resp, header := post(t, r.url, otlptx.ContentType(otlptx.CompressionSnappy), body)
	require.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "1", header.Get("Retry-After"))
	assert.Contains(t, resp.Message, "memory limiter")
	assert.Equal(t, uint64(5), resp.Traces.Accepted)

	status, resp, _ = post(t, r.url, otlptx.ContentType(otlptx.CompressionSnappy), body)
	require.Equal(t, http.StatusOK, status, resp.Message)
	assert.Equal(t, uint64(6), resp.Metrics.Accepted)
	assert.Equal(t, 5, traces.SpanCount())
	assert.Equal(t, 6, metrics.DataPointCount())

	status, resp, _ = post(t, r.url, otlptx.ContentType(otlptx.CompressionSnappy), body)
	require.Equal(t, http.StatusOK, status)
	assert.True(t, resp.Duplicate)
	assert.Equal(t, uint64(5), resp.Traces.Accepted)
	assert.Equal(t, uint64(6), resp.Metrics.Accepted)
	assert.Equal(t, 5, traces.SpanCount())
}

func TestPermanentPipelineErrorIsRejectedInCounts(t *testing.T) {
	logs := consumertest.NewErr(consumererror.NewPermanent(errors.New("bad log records")))
	r := startReceiver(t, nil, nil, nil, nil, logs)
	status, resp, _ := post(t, r.url, otlptx.MediaType, encodeEnvelope(t, 1, 0, 0, 4, otlptx.CompressionNone))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, uint64(4), resp.Logs.Rejected)
	assert.Contains(t, resp.Logs.ErrorMessage, "bad log records")
}

func TestBadInputStatuses(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.MaxRequestBodySize = 256 << 10
	cfg.MaxDecodedSize = 1 << 20
	r := startAllSinks(t, cfg)
	valid := encodeEnvelope(t, 1, 3, 3, 3, otlptx.CompressionNone)

	countMismatch := func() []byte {
		env, err := otlptx.Unmarshal(valid)
		require.NoError(t, err)
		env.Header.SpanCount = 99
		return env.Marshal()
	}()
	wrongVersion := func() []byte {
		h := protowire.AppendTag(nil, 1, protowire.VarintType)
		h = protowire.AppendVarint(h, 9)
		b := protowire.AppendTag(nil, 1, protowire.BytesType)
		return protowire.AppendBytes(b, h)
	}()
	bomb := snappy.Encode(nil, make([]byte, 8<<20))
	tests := []struct {
		name        string
		method      string
		contentType string
		body        []byte
		want        int
	}{
		{name: "GET", method: http.MethodGet, contentType: otlptx.MediaType, want: http.StatusMethodNotAllowed},
		{name: "OTLP content type", contentType: "application/x-protobuf", body: valid, want: http.StatusUnsupportedMediaType},
		{name: "unknown compression", contentType: otlptx.MediaType + "; compression=gzip", body: valid, want: http.StatusUnsupportedMediaType},
		{name: "garbage", contentType: otlptx.MediaType, body: []byte("this is not protobuf"), want: http.StatusBadRequest},
		{name: "truncated", contentType: otlptx.MediaType, body: valid[:len(valid)-3], want: http.StatusBadRequest},
		{name: "count mismatch", contentType: otlptx.MediaType, body: countMismatch, want: http.StatusBadRequest},
		{name: "unknown format version", contentType: otlptx.MediaType, body: wrongVersion, want: http.StatusBadRequest},
		{name: "v2 media type with a v1 body", contentType: otlptx.MediaTypeV2, body: valid, want: http.StatusBadRequest},
		{name: "v1 media type with a v2 body", contentType: otlptx.MediaType, body: encodeEnvelopeV2(t, 1, 2, 0, 0, otlptx.CompressionS2), want: http.StatusBadRequest},
		{name: "bad snappy", contentType: otlptx.ContentType(otlptx.CompressionSnappy), body: []byte{0x10, 0xff, 0xff}, want: http.StatusBadRequest},
		{name: "decompression bomb", contentType: otlptx.ContentType(otlptx.CompressionSnappy), body: bomb, want: http.StatusRequestEntityTooLarge},
		{name: "body too large", contentType: otlptx.MediaType, body: make([]byte, 300<<10), want: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, r.url, bytes.NewReader(tt.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", tt.contentType)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, tt.want, resp.StatusCode, string(raw))
			parsed, err := otlptx.UnmarshalResponse(raw)
			require.NoError(t, err)
			assert.NotEmpty(t, parsed.Message)
		})
	}
	assert.Zero(t, r.traces.SpanCount())
	assert.Zero(t, r.metrics.DataPointCount())
	assert.Zero(t, r.logs.LogRecordCount())
}

// TestDedupStateSurvivesRestart uses the real file_storage extension: a batch accepted
// before a restart of the receiver is recognised as a duplicate after it.
func TestDedupStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	body := encodeEnvelope(t, 11, 2, 2, 2, otlptx.CompressionSnappy)
	cfg := func() *Config {
		c := createDefaultConfig().(*Config)
		id := otlptxtest.FileStorageID
		c.Dedup.Storage = &id
		c.Dedup.MaxEntries = 100
		return c
	}

	run := func(wantDuplicate bool) int {
		host, stop := otlptxtest.StartFileStorage(t, dir)
		defer stop()
		traces := new(consumertest.TracesSink)
		factory := NewFactory()
		c := cfg()
		c.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
		set := receivertest.NewNopSettings(metadata.Type)
		set.ID = component.MustNewIDWithName("otlptx", "gateway") // storage is keyed by component ID
		rcv, err := factory.CreateTraces(context.Background(), set, c, traces)
		require.NoError(t, err)
		require.NoError(t, rcv.Start(context.Background(), host))
		url := fmt.Sprintf("http://%s%s", rcv.(*sharedcomponent.Handle[*otlptxReceiver]).Unwrap().addr, otlptx.Path)
		status, resp, _ := post(t, url, otlptx.ContentType(otlptx.CompressionSnappy), body)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, wantDuplicate, resp.Duplicate)
		require.NoError(t, rcv.Shutdown(context.Background()))
		return traces.SpanCount()
	}
	assert.Equal(t, 2, run(false))
	assert.Equal(t, 0, run(true), "batch forwarded again after the receiver restarted")
}

// blockingTraces holds ConsumeTraces until release is closed.
type blockingTraces struct {
	consumertest.TracesSink
	called  chan struct{}
	release chan struct{}
}

func (b *blockingTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	close(b.called)
	<-b.release
	return b.TracesSink.ConsumeTraces(ctx, td)
}

// TestConcurrentCopyOfInFlightBatchIsAskedToRetry: while a batch is being forwarded, a
// second copy gets 503 + Retry-After instead of being forwarded in parallel.
func TestConcurrentCopyOfInFlightBatchIsAskedToRetry(t *testing.T) {
	traces := &blockingTraces{called: make(chan struct{}), release: make(chan struct{})}
	r := startReceiver(t, nil, nil, traces, nil, nil)
	body := encodeEnvelope(t, 5, 4, 0, 0, otlptx.CompressionSnappy)
	contentType := otlptx.ContentType(otlptx.CompressionSnappy)

	firstStatus := make(chan int, 1)
	go func() {
		resp, err := http.Post(r.url, contentType, bytes.NewReader(body))
		if err != nil {
			firstStatus <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		firstStatus <- resp.StatusCode
	}()
	<-traces.called
	status, resp, header := post(t, r.url, contentType, body)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.NotEmpty(t, header.Get("Retry-After"))
	assert.Contains(t, resp.Message, "being processed")
	close(traces.release)
	assert.Equal(t, http.StatusOK, <-firstStatus)
	assert.Equal(t, 4, traces.SpanCount())
}

// cancelAwareTraces holds ConsumeTraces until release is closed and fails, as a pipeline does, when the context it
// was given is cancelled meanwhile.
type cancelAwareTraces struct {
	consumertest.TracesSink
	called  chan struct{}
	release chan struct{}
}

func (c *cancelAwareTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	close(c.called)
	select {
	case <-c.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.TracesSink.ConsumeTraces(ctx, td)
}

// TestSenderGoneMidForwardIsStillRecorded: a sender killed while the gateway forwards its batch re-sends it after
// its restart; the batch must have been forwarded and remembered once, not cancelled half-way and forwarded again.
func TestSenderGoneMidForwardIsStillRecorded(t *testing.T) {
	traces := &cancelAwareTraces{called: make(chan struct{}), release: make(chan struct{})}
	r := startReceiver(t, nil, nil, traces, nil, nil)
	body := encodeEnvelope(t, 9, 4, 0, 0, otlptx.CompressionSnappy)
	contentType := otlptx.ContentType(otlptx.CompressionSnappy)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	sent := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		sent <- err
	}()
	<-traces.called
	cancel() // the sender goes away while its batch is in the pipeline
	require.Error(t, <-sent)
	close(traces.release)

	require.Eventually(t, func() bool {
		status, resp, _ := post(t, r.url, contentType, body)
		return status == http.StatusOK && resp.Duplicate
	}, 10*time.Second, 10*time.Millisecond, "the re-sent batch was not recognised as already forwarded")
	assert.Equal(t, 4, traces.SpanCount(), "forwarded exactly once")
}
