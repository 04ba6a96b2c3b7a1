package otlptxexporter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter/internal/metadata"
	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
	"github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver"
)

// gateway is a real otlptx receiver on loopback with sinks for the three signals.
type gateway struct {
	endpoint string // base URL
	traces   *consumertest.TracesSink
	metrics  *consumertest.MetricsSink
	logs     *consumertest.LogsSink
	comps    []component.Component
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startGateway starts the receiver on addr ("" picks a free port).
func startGateway(t testing.TB, addr string, modify ...func(*otlptxreceiver.Config)) *gateway {
	t.Helper()
	if addr == "" {
		addr = freeAddr(t)
	}
	factory := otlptxreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig()
	cfg.(*otlptxreceiver.Config).ServerConfig.NetAddr.Endpoint = addr
	for _, m := range modify {
		m(cfg.(*otlptxreceiver.Config))
	}
	set := receivertest.NewNopSettings(factory.Type())
	g := &gateway{
		endpoint: "http://" + addr,
		traces:   new(consumertest.TracesSink),
		metrics:  new(consumertest.MetricsSink),
		logs:     new(consumertest.LogsSink),
	}
	create := []func() (component.Component, error){
		func() (component.Component, error) {
			return factory.CreateTraces(context.Background(), set, cfg, g.traces)
		},
		func() (component.Component, error) {
			return factory.CreateMetrics(context.Background(), set, cfg, g.metrics)
		},
		func() (component.Component, error) { return factory.CreateLogs(context.Background(), set, cfg, g.logs) },
	}
	for _, c := range create {
		comp, err := c()
		require.NoError(t, err)
		require.NoError(t, comp.Start(context.Background(), componenttest.NewNopHost()))
		g.comps = append(g.comps, comp)
	}
	t.Cleanup(g.stop)
	return g
}

func (g *gateway) stop() {
	for _, c := range g.comps {
		_ = c.Shutdown(context.Background())
	}
	g.comps = nil
}

func (g *gateway) items() int {
	return g.traces.SpanCount() + g.metrics.DataPointCount() + g.logs.LogRecordCount()
}

// envelopeRecord is what a proxy saw in one request.
type envelopeRecord struct {
	header      otlptx.Header
	contentType string
	status      int
}

// proxy sits between exporter and gateway: it records the envelopes and can replace
// responses, to simulate failures before or after the gateway processed a batch.
type proxy struct {
	server *httptest.Server
	// before answers instead of the gateway when it returns a status > 0.
	before atomic.Pointer[func(n int) int]
	// after replaces the gateway's status when it returns a status > 0 (the gateway
	// has processed the batch: the answer is "lost").
	after atomic.Pointer[func(n int) int]
	// refuseV2 makes the proxy answer version-2 requests as a version-1 gateway does.
	refuseV2 atomic.Bool

	mu       sync.Mutex
	requests []envelopeRecord
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	codec, err := otlptx.NewCodec(0)
	require.NoError(t, err)
	t.Cleanup(codec.Close)
	p := &proxy{}
	p.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		comp, _ := otlptx.ParseContentType(r.Header.Get("Content-Type"))
		var hdr otlptx.Header
		if env, err := codec.Decode(body, comp); err == nil {
			hdr = env.Header
		}
		p.mu.Lock()
		n := len(p.requests)
		p.requests = append(p.requests, envelopeRecord{header: hdr, contentType: r.Header.Get("Content-Type")})
		p.mu.Unlock()
		record := func(status int) {
			p.mu.Lock()
			p.requests[n].status = status
			p.mu.Unlock()
		}
		if p.refuseV2.Load() && r.Header.Get("Content-Type") == otlptx.MediaTypeV2 {
			record(http.StatusUnsupportedMediaType)
			w.Header().Set("Content-Type", otlptx.MediaType)
			w.WriteHeader(http.StatusUnsupportedMediaType)
			_, _ = w.Write((&otlptx.Response{Message: "want Content-Type " + otlptx.ContentType(otlptx.CompressionSnappy)}).Marshal())
			return
		}
		if f := p.before.Load(); f != nil {
			if status := (*f)(n); status > 0 {
				record(status)
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(status)
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		status := rec.Code
		if f := p.after.Load(); f != nil {
			if replaced := (*f)(n); replaced > 0 {
				status = replaced
				record(status)
				w.WriteHeader(status)
				return
			}
		}
		record(status)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(p.server.Close)
	return p
}

func (p *proxy) records() []envelopeRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]envelopeRecord(nil), p.requests...)
}

// pipelines is one exporter configuration used by a traces, a metrics and a logs
// pipeline, as in a collector.
type pipelines struct {
	traces  exporter.Traces
	metrics exporter.Metrics
	logs    exporter.Logs
}

var testExporterID = component.MustNewIDWithName("otlptx", "sidecar")

func startPipelines(t testing.TB, cfg *Config, host component.Host) *pipelines {
	t.Helper()
	return startPipelinesWith(t, cfg, host, exportertest.NewNopSettings(metadata.Type))
}

func startPipelinesWith(t testing.TB, cfg *Config, host component.Host, set exporter.Settings) *pipelines {
	t.Helper()
	factory := NewFactory()
	set.ID = testExporterID // the persistent queue is keyed by component ID
	p := &pipelines{}
	var err error
	p.traces, err = factory.CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	p.metrics, err = factory.CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	p.logs, err = factory.CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	if host == nil {
		host = componenttest.NewNopHost()
	}
	for _, c := range []component.Component{p.traces, p.metrics, p.logs} {
		require.NoError(t, c.Start(context.Background(), host))
	}
	return p
}

func (p *pipelines) shutdown(t testing.TB) {
	t.Helper()
	for _, c := range []component.Component{p.traces, p.metrics, p.logs} {
		require.NoError(t, c.Shutdown(context.Background()))
	}
}

func testConfig(endpoints ...string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = endpoints[0]
	cfg.Endpoints = endpoints[1:]
	cfg.Batch.FlushTimeout = 0 // form batches at once: the tests control what is queued
	cfg.Retry.InitialInterval = 10 * 1e6
	cfg.Retry.MaxInterval = 50 * 1e6
	cfg.EndpointCooldown = 200 * 1e6
	return cfg
}

func describe(r envelopeRecord) string {
	return fmt.Sprintf("seq=%d sender=%s status=%d", r.header.Sequence, r.header.SenderID, r.status)
}

var _ receiver.Factory = otlptxreceiver.NewFactory()
