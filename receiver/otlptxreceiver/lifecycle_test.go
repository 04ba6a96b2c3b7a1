package otlptxreceiver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-ready/otelcol-ready/internal/lifecycletest"
	"github.com/otelcol-ready/otelcol-ready/internal/sharedcomponent"
	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
	"github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver/internal/metadata"
	"github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver/internal/metadatatest"
)

// memStorage is a storage extension in memory whose client can hold reads (gate) and
// reports use after Close.
type memStorage struct {
	component.StartFunc
	component.ShutdownFunc
	client *memClient
}

func (m *memStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return m.client, nil
}

type memClient struct {
	mu        sync.Mutex
	data      map[string][]byte
	gate      chan struct{} // Batch calls with Get operations wait for it when non-nil
	closed    atomic.Bool
	useClosed atomic.Int64
}

func newMemClient() *memClient { return &memClient{data: map[string][]byte{}} }

func (c *memClient) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := c.Batch(ctx, op)
	return op.Value, err
}

func (c *memClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *memClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

func (c *memClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	if c.closed.Load() {
		c.useClosed.Add(1)
		return errors.New("client closed")
	}
	for _, op := range ops {
		if op.Type == storage.Get && c.gate != nil {
			<-c.gate
			break
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = c.data[op.Key]
		case storage.Set:
			c.data[op.Key] = op.Value
		case storage.Delete:
			delete(c.data, op.Key)
		}
	}
	return nil
}

func (c *memClient) Close(context.Context) error {
	c.closed.Store(true)
	return nil
}

type storageHost struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.ext }

var memStorageID = component.MustNewID("mem_storage")

func hostWith(client *memClient) component.Host {
	return storageHost{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{memStorageID: &memStorage{client: client}}}
}

func dedupStorageConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	id := memStorageID
	cfg.Dedup.Storage = &id
	cfg.Dedup.MaxEntries = 5000
	return cfg
}

// TestShutdownTwiceAndWithoutStart: every pipeline's receiver may be shut down twice and
// without having been started.
func TestShutdownTwiceAndWithoutStart(t *testing.T) {
	factory := NewFactory()
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	set := receivertest.NewNopSettings(metadata.Type)
	for name, create := range map[string]func(context.Context) (component.Component, error){
		"traces": func(ctx context.Context) (component.Component, error) {
			return factory.CreateTraces(ctx, set, cfg, new(consumertest.TracesSink))
		},
		"logs": func(ctx context.Context) (component.Component, error) {
			return factory.CreateLogs(ctx, set, cfg, new(consumertest.LogsSink))
		},
	} {
		t.Run(name, func(t *testing.T) { lifecycletest.ShutdownTwiceAndWithoutStart(t, nil, create) })
	}
}

// TestStartDoesNotWaitForStoredDedupState: Start returns while the stored state is still
// being read; a request waits for it and is then deduplicated against it.
func TestStartDoesNotWaitForStoredDedupState(t *testing.T) {
	client := newMemClient()
	cfg := dedupStorageConfig()
	body := encodeEnvelope(t, 3, 2, 0, 0, otlptx.CompressionSnappy)
	contentType := otlptx.ContentType(otlptx.CompressionSnappy)

	// First run: the batch is forwarded and remembered in storage.
	first := startReceiver(t, cfg, hostWith(client), new(consumertest.TracesSink), nil, nil)
	status, _, _ := post(t, first.url, contentType, body)
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, first.rcv.Shutdown(context.Background()))

	// Second run: reads are held; Start must still return.
	client.closed.Store(false)
	client.gate = make(chan struct{})
	traces := new(consumertest.TracesSink)
	second := startReceiver(t, dedupStorageConfig(), hostWith(client), traces, nil, nil)
	answered := make(chan bool, 1)
	go func() {
		_, resp, _ := post(t, second.url, contentType, body)
		answered <- resp.Duplicate
	}()
	select {
	case <-answered:
		t.Fatal("a request was answered before the dedup state was loaded")
	case <-time.After(100 * time.Millisecond):
	}
	close(client.gate)
	assert.True(t, <-answered, "the re-sent batch is recognised from the stored state")
	assert.Equal(t, 0, traces.SpanCount())
}

// TestShutdownWaitsForRequestsBeforeClosingStorage: a request still forwarding when
// Shutdown begins finishes, and records its dedup state, before storage is closed.
func TestShutdownWaitsForRequestsBeforeClosingStorage(t *testing.T) {
	client := newMemClient()
	traces := &blockingTraces{called: make(chan struct{}), release: make(chan struct{})}
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	factory := NewFactory()
	cfg := dedupStorageConfig()
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	rcv, err := factory.CreateTraces(context.Background(), metadatatest.NewSettings(tt), cfg, traces)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), hostWith(client)))
	url := "http://" + rcv.(*sharedcomponent.Handle[*otlptxReceiver]).Unwrap().addr.String() + otlptx.Path

	body := encodeEnvelope(t, 7, 3, 0, 0, otlptx.CompressionSnappy)
	status := make(chan int, 1)
	go func() {
		resp, err := http.Post(url, otlptx.ContentType(otlptx.CompressionSnappy), bytes.NewReader(body))
		if err != nil {
			status <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-traces.called
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- rcv.Shutdown(context.Background()) }()
	select {
	case <-shutdownDone:
		t.Fatal("Shutdown returned while a request was still forwarding")
	case <-time.After(100 * time.Millisecond):
	}
	close(traces.release)
	require.NoError(t, <-shutdownDone)
	assert.Equal(t, http.StatusOK, <-status)
	assert.Zero(t, client.useClosed.Load(), "storage was used after it was closed")
	client.mu.Lock()
	stored := len(client.data)
	client.mu.Unlock()
	assert.Greater(t, stored, 1, "the request's dedup record was written")

	metadatatest.AssertEqualOtlptxReceiverEnvelopesAccepted(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualOtlptxReceiverBytesReceived(t, tt, []metricdata.DataPoint[int64]{{Value: int64(len(body))}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// TestShutdownDeadlineDoesNotWriteToClosedStorage: when Shutdown's context ends first,
// storage is closed and the late request's dedup write is skipped, not sent to a closed
// client.
func TestShutdownDeadlineDoesNotWriteToClosedStorage(t *testing.T) {
	client := newMemClient()
	traces := &blockingTraces{called: make(chan struct{}), release: make(chan struct{})}
	r := startReceiver(t, dedupStorageConfig(), hostWith(client), traces, nil, nil)
	body := encodeEnvelope(t, 8, 3, 0, 0, otlptx.CompressionSnappy)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Post(r.url, otlptx.ContentType(otlptx.CompressionSnappy), bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-traces.called
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = r.rcv.Shutdown(ctx)
	close(traces.release)
	<-done
	assert.Zero(t, client.useClosed.Load(), "storage was used after it was closed")
}

func TestRejectionsAreCountedByReason(t *testing.T) {
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	factory := NewFactory()
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	traces := new(consumertest.TracesSink)
	rcv, err := factory.CreateTraces(context.Background(), metadatatest.NewSettings(tt), cfg, traces)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, rcv.Shutdown(context.Background())) }()
	url := "http://" + rcv.(*sharedcomponent.Handle[*otlptxReceiver]).Unwrap().addr.String() + otlptx.Path
	body := encodeEnvelope(t, 4, 1, 0, 0, otlptx.CompressionSnappy)
	contentType := otlptx.ContentType(otlptx.CompressionSnappy)
	status, _, _ := post(t, url, "text/plain", body)
	require.Equal(t, http.StatusUnsupportedMediaType, status)
	status, _, _ = post(t, url, contentType, body)
	require.Equal(t, http.StatusOK, status)
	status, _, _ = post(t, url, contentType, body)
	require.Equal(t, http.StatusOK, status)

	metadatatest.AssertEqualOtlptxReceiverEnvelopesRejected(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "content_type"))},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualOtlptxReceiverEnvelopesAccepted(t, tt, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualOtlptxReceiverDuplicatesSuppressed(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	assert.Equal(t, 1, traces.SpanCount())
}
