package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // the collector's OTLP exporter compresses with gzip by default
	"google.golang.org/grpc/status"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

// maxBackendBody bounds a decompressed OTLP/HTTP request body.
const maxBackendBody = 64 << 20

// Failure makes the mock backend refuse requests.
type Failure struct {
	// GRPCCode is returned to OTLP/gRPC clients (codes.OK: no failure on gRPC).
	GRPCCode codes.Code
	// HTTPStatus is returned to OTLP/HTTP clients (0: no failure on HTTP).
	HTTPStatus int
}

// MockBackend is an OTLP/gRPC and OTLP/HTTP server that records the ids it receives per signal; the HTTP server
// also serves OTLP-TX (POST /v1/otlptx, see OTLPTXURL). It can be slowed down (SetDelay) and made to refuse
// (SetFailure: HTTPStatus applies to OTLP/HTTP and OTLP-TX) while running. Other transports feed it through Admit
// and Record*.
type MockBackend struct {
	grpcAddr string
	httpAddr string

	grpcServer *grpc.Server
	httpServer *http.Server
	serveWG    sync.WaitGroup

	received map[Signal]*IDCounter

	delay    atomic.Int64 // nanoseconds
	failure  atomic.Pointer[Failure]
	requests atomic.Int64
	refused  atomic.Int64
	untrack  atomic.Int64
	grpcWire *wireCounter
	httpWire atomic.Int64

	zstdDec *zstd.Decoder

	otlptxCodec      *otlptx.Codec
	otlptxDedup      *otlptxDedup
	otlptxDuplicates atomic.Int64
	otlptxRequests   atomic.Int64
	otlptxV1Requests atomic.Int64
	otlptxV2Requests atomic.Int64

	// metricNames records which metric names arrived from which service.name, so a test can show that a scraped
	// service's own metrics (which carry no testbed id) made it through.
	metricNamesMu sync.Mutex
	metricNames   map[string]map[string]bool
}

// StartMockBackend listens on two free loopback ports and stops in t.Cleanup.
func StartMockBackend(tb testing.TB) *MockBackend {
	tb.Helper()
	b, err := NewMockBackend()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.Close)
	return b
}

// NewMockBackend starts the servers; Close stops them.
func NewMockBackend() (*MockBackend, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxBackendBody))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	codec, err := newOTLPTXCodec()
	if err != nil {
		dec.Close()
		return nil, err
	}
	b := &MockBackend{
		received: map[Signal]*IDCounter{}, grpcWire: &wireCounter{}, zstdDec: dec,
		otlptxCodec: codec, otlptxDedup: newOTLPTXDedup(), metricNames: map[string]map[string]bool{},
	}
	for _, s := range AllSignals {
		b.received[s] = NewIDCounter()
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		dec.Close()
		codec.Close()
		return nil, fmt.Errorf("mock backend gRPC listener: %w", err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		grpcLn.Close()
		dec.Close()
		codec.Close()
		return nil, fmt.Errorf("mock backend HTTP listener: %w", err)
	}
	b.grpcAddr, b.httpAddr = grpcLn.Addr().String(), httpLn.Addr().String()

	b.grpcServer = grpc.NewServer(grpc.StatsHandler(b.grpcWire), grpc.MaxRecvMsgSize(maxBackendBody))
	ptraceotlp.RegisterGRPCServer(b.grpcServer, &backendTraces{b: b})
	pmetricotlp.RegisterGRPCServer(b.grpcServer, &backendMetrics{b: b})
	plogotlp.RegisterGRPCServer(b.grpcServer, &backendLogs{b: b})

	mux := http.NewServeMux()
	for _, s := range AllSignals {
		mux.HandleFunc("POST /v1/"+string(s), b.httpHandler(s))
	}
	mux.HandleFunc("POST "+otlptx.Path, b.otlptxHandler)
	b.httpServer = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	b.serveWG.Add(2)
	go func() { defer b.serveWG.Done(); _ = b.grpcServer.Serve(grpcLn) }()
	go func() { defer b.serveWG.Done(); _ = b.httpServer.Serve(httpLn) }()
	return b, nil
}

// GRPCEndpoint returns host:port of the OTLP/gRPC server.
func (b *MockBackend) GRPCEndpoint() string { return b.grpcAddr }

// HTTPEndpoint returns host:port of the OTLP/HTTP server (paths /v1/traces, /v1/metrics, /v1/logs).
func (b *MockBackend) HTTPEndpoint() string { return b.httpAddr }

// HTTPURL returns http://host:port for an otlphttp exporter's endpoint setting.
func (b *MockBackend) HTTPURL() string { return "http://" + b.httpAddr }

// SetDelay makes every request wait d before it is answered (0: answer at once).
func (b *MockBackend) SetDelay(d time.Duration) { b.delay.Store(int64(d)) }

// SetFailure makes every request fail as f says; nil stops failing.
func (b *MockBackend) SetFailure(f *Failure) { b.failure.Store(f) }

// Received returns the ids recorded for signal.
func (b *MockBackend) Received(s Signal) *IDCounter { return b.received[s] }

// ReceivedBySignal returns every signal's counter.
func (b *MockBackend) ReceivedBySignal() map[Signal]*IDCounter { return b.received }

// Requests returns the number of accepted requests; Refused the number of deliberately failed ones.
func (b *MockBackend) Requests() int64 { return b.requests.Load() }

// Refused returns the number of requests failed by SetFailure.
func (b *MockBackend) Refused() int64 { return b.refused.Load() }

// Untracked returns the number of received items without a testbed.id (scraped metrics, for instance).
func (b *MockBackend) Untracked() int64 { return b.untrack.Load() }

// WireBytes returns the request payload bytes received on both servers (compressed, as on the wire).
func (b *MockBackend) WireBytes() int64 { return b.grpcWire.bytes.Load() + b.httpWire.Load() }

// Close stops both servers.
func (b *MockBackend) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.httpServer.Shutdown(ctx)
	stopped := make(chan struct{})
	go func() { b.grpcServer.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		b.grpcServer.Stop()
		<-stopped
	}
	b.serveWG.Wait()
	b.zstdDec.Close()
	b.otlptxCodec.Close()
}

// Admit applies the configured delay and failure to one request. It returns the failure to answer with, or nil.
func (b *MockBackend) Admit(ctx context.Context) *Failure {
	if d := time.Duration(b.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	f := b.failure.Load()
	if f != nil {
		b.refused.Add(1)
	}
	return f
}

// RecordTraces records the ids of td.
func (b *MockBackend) RecordTraces(td ptrace.Traces) {
	c := b.received[Traces]
	b.untrack.Add(int64(TraceIDs(td, func(id int64) { c.Add(id) })))
	b.requests.Add(1)
}

// RecordMetrics records the ids of md and the metric names per service.name.
func (b *MockBackend) RecordMetrics(md pmetric.Metrics) {
	c := b.received[Metrics]
	b.untrack.Add(int64(MetricIDs(md, func(id int64) { c.Add(id) })))
	b.requests.Add(1)
	b.metricNamesMu.Lock()
	defer b.metricNamesMu.Unlock()
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		service := ""
		if v, ok := rm.Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		names := b.metricNames[service]
		if names == nil {
			names = map[string]bool{}
			b.metricNames[service] = names
		}
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				names[ms.At(k).Name()] = true
			}
		}
	}
}

// HasMetric reports whether a metric of that name arrived with that service.name resource attribute.
func (b *MockBackend) HasMetric(service, name string) bool {
	b.metricNamesMu.Lock()
	defer b.metricNamesMu.Unlock()
	return b.metricNames[service][name]
}

// RecordLogs records the ids of ld.
func (b *MockBackend) RecordLogs(ld plog.Logs) {
	c := b.received[Logs]
	b.untrack.Add(int64(LogIDs(ld, func(id int64) { c.Add(id) })))
	b.requests.Add(1)
}

func grpcFailure(f *Failure) error {
	if f == nil || f.GRPCCode == codes.OK {
		return nil
	}
	return status.Error(f.GRPCCode, "testbed mock backend: failing on purpose")
}

type backendTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	b *MockBackend
}

func (s *backendTraces) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if err := grpcFailure(s.b.Admit(ctx)); err != nil {
		return ptraceotlp.NewExportResponse(), err
	}
	s.b.RecordTraces(req.Traces())
	return ptraceotlp.NewExportResponse(), nil
}

type backendMetrics struct {
	pmetricotlp.UnimplementedGRPCServer
	b *MockBackend
}

func (s *backendMetrics) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	if err := grpcFailure(s.b.Admit(ctx)); err != nil {
		return pmetricotlp.NewExportResponse(), err
	}
	s.b.RecordMetrics(req.Metrics())
	return pmetricotlp.NewExportResponse(), nil
}

type backendLogs struct {
	plogotlp.UnimplementedGRPCServer
	b *MockBackend
}

func (s *backendLogs) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	if err := grpcFailure(s.b.Admit(ctx)); err != nil {
		return plogotlp.NewExportResponse(), err
	}
	s.b.RecordLogs(req.Logs())
	return plogotlp.NewExportResponse(), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (b *MockBackend) httpHandler(signal Signal) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			http.Error(w, fmt.Sprintf("content type %q: the mock backend accepts application/x-protobuf", ct), http.StatusUnsupportedMediaType)
			return
		}
		counted := &countingReader{r: io.LimitReader(r.Body, maxBackendBody+1)}
		raw, err := io.ReadAll(counted)
		b.httpWire.Add(counted.n)
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		body, err := b.decode(r.Header.Get("Content-Encoding"), raw)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if f := b.Admit(r.Context()); f != nil && f.HTTPStatus != 0 {
			if f.HTTPStatus == http.StatusTooManyRequests || f.HTTPStatus == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "1")
			}
			http.Error(w, "testbed mock backend: failing on purpose", f.HTTPStatus)
			return
		}
		var resp []byte
		switch signal {
		case Traces:
			req := ptraceotlp.NewExportRequest()
			if err = req.UnmarshalProto(body); err == nil {
				b.RecordTraces(req.Traces())
				resp, err = ptraceotlp.NewExportResponse().MarshalProto()
			}
		case Metrics:
			req := pmetricotlp.NewExportRequest()
			if err = req.UnmarshalProto(body); err == nil {
				b.RecordMetrics(req.Metrics())
				resp, err = pmetricotlp.NewExportResponse().MarshalProto()
			}
		case Logs:
			req := plogotlp.NewExportRequest()
			if err = req.UnmarshalProto(body); err == nil {
				b.RecordLogs(req.Logs())
				resp, err = plogotlp.NewExportResponse().MarshalProto()
			}
		}
		if err != nil {
			http.Error(w, "decoding OTLP protobuf: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}
}

var errBodyTooLarge = errors.New("decompressed body exceeds the mock backend's limit")

func (b *MockBackend) decode(encoding string, raw []byte) ([]byte, error) {
	if len(raw) > maxBackendBody {
		return nil, errBodyTooLarge
	}
	switch encoding {
	case "", "identity":
		return raw, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, maxBackendBody+1))
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		if len(out) > maxBackendBody {
			return nil, errBodyTooLarge
		}
		return out, nil
	case "zstd":
		out, err := b.zstdDec.DecodeAll(raw, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd body: %w", err)
		}
		return out, nil
	case "snappy":
		n, err := snappy.DecodedLen(raw)
		if err != nil {
			return nil, fmt.Errorf("snappy body: %w", err)
		}
		if n > maxBackendBody {
			return nil, errBodyTooLarge
		}
		out, err := snappy.Decode(nil, raw)
		if err != nil {
			return nil, fmt.Errorf("snappy body: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("content encoding %q is not supported by the mock backend", encoding)
}
