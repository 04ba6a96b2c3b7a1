package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// Sender delivers batches to a collector over one transport. Send returns nil only when the receiver acknowledged
// the whole batch; a *SendError tells whether a retry is worth it. Implementations must be safe for concurrent use.
// An OTLP-TX sender plugs in by implementing this interface (and a SenderFactory).
type Sender interface {
	// Name identifies the transport in reports ("otlp-grpc", "otlp-http+zstd").
	Name() string
	Send(ctx context.Context, b Batch) error
	// WireBytes returns the bytes of request payloads put on the wire so far (compressed, framing included where
	// the transport exposes it).
	WireBytes() int64
	Close() error
}

// SenderFactory makes a Sender for a collector endpoint ("127.0.0.1:4317").
type SenderFactory func(endpoint string) (Sender, error)

// SendError is a refused or failed send.
type SendError struct {
	// Retryable is true for refusals the OTLP specification marks retryable (gRPC UNAVAILABLE, RESOURCE_EXHAUSTED,
	// HTTP 429/502/503/504) and for connection failures.
	Retryable bool
	// Code is the gRPC code or HTTP status, or "conn" for transport failures.
	Code string
	Err  error
}

func (e *SendError) Error() string { return fmt.Sprintf("send refused (%s): %v", e.Code, e.Err) }
func (e *SendError) Unwrap() error { return e.Err }

// IsRetryable reports whether err is a retryable SendError.
func IsRetryable(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Retryable
}

// errPartialSuccess marks a batch the receiver acknowledged only partly; the generator does not count it as sent.
var errPartialSuccess = errors.New("partial success: receiver rejected some items")

// wireCounter is a gRPC stats handler that adds up the wire length of outgoing (client) or incoming (server)
// message payloads.
type wireCounter struct {
	outgoing bool
	bytes    atomic.Int64
}

func (w *wireCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (w *wireCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (w *wireCounter) HandleConn(context.Context, stats.ConnStats) {}
func (w *wireCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch p := s.(type) {
	case *stats.OutPayload:
		if w.outgoing {
			w.bytes.Add(int64(p.WireLength))
		}
	case *stats.InPayload:
		if !w.outgoing {
			w.bytes.Add(int64(p.WireLength))
		}
	}
}

// GRPCSenderFactory returns a factory of OTLP/gRPC senders; compression is "" (none) or "gzip".
func GRPCSenderFactory(compression string) SenderFactory {
	return func(endpoint string) (Sender, error) { return NewGRPCSender(endpoint, compression) }
}

type grpcSender struct {
	name    string
	conn    *grpc.ClientConn
	traces  ptraceotlp.GRPCClient
	metrics pmetricotlp.GRPCClient
	logs    plogotlp.GRPCClient
	opts    []grpc.CallOption
	wire    *wireCounter
}

// NewGRPCSender connects an OTLP/gRPC client to endpoint. Reconnects back off at most one second, so a restarted
// collector is found again quickly.
func NewGRPCSender(endpoint, compression string) (Sender, error) {
	if err := mustLoopback(endpoint); err != nil {
		return nil, err
	}
	s := &grpcSender{name: "otlp-grpc", wire: &wireCounter{outgoing: true}}
	switch compression {
	case "", "none":
	case "gzip":
		s.name += "+gzip"
		s.opts = append(s.opts, grpc.UseCompressor(grpcgzip.Name))
	default:
		return nil, fmt.Errorf("OTLP/gRPC sender compression %q: use none or gzip", compression)
	}
	conn, err := grpc.NewClient(endpoint,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(s.wire),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("OTLP/gRPC client for %s: %w", endpoint, err)
	}
	s.conn = conn
	s.traces = ptraceotlp.NewGRPCClient(conn)
	s.metrics = pmetricotlp.NewGRPCClient(conn)
	s.logs = plogotlp.NewGRPCClient(conn)
	return s, nil
}

func (s *grpcSender) Name() string     { return s.name }
func (s *grpcSender) WireBytes() int64 { return s.wire.bytes.Load() }
func (s *grpcSender) Close() error     { return s.conn.Close() }

func (s *grpcSender) Send(ctx context.Context, b Batch) error {
	var err error
	var rejected int64
	switch b.Signal {
	case Traces:
		var resp ptraceotlp.ExportResponse
		resp, err = s.traces.Export(ctx, ptraceotlp.NewExportRequestFromTraces(b.Traces), s.opts...)
		if err == nil {
			rejected = resp.PartialSuccess().RejectedSpans()
		}
	case Metrics:
		var resp pmetricotlp.ExportResponse
		resp, err = s.metrics.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(b.Metrics), s.opts...)
		if err == nil {
			rejected = resp.PartialSuccess().RejectedDataPoints()
		}
	case Logs:
		var resp plogotlp.ExportResponse
		resp, err = s.logs.Export(ctx, plogotlp.NewExportRequestFromLogs(b.Logs), s.opts...)
		if err == nil {
			rejected = resp.PartialSuccess().RejectedLogRecords()
		}
	}
	if err != nil {
		st := status.Convert(err)
		return &SendError{Retryable: retryableGRPCCode(st.Code()), Code: st.Code().String(), Err: err}
	}
	if rejected > 0 {
		return &SendError{Code: "partial", Err: fmt.Errorf("%w: %d of %d", errPartialSuccess, rejected, b.Len())}
	}
	return nil
}

// retryableGRPCCode follows the OTLP specification's list, plus RESOURCE_EXHAUSTED: the generator must not drop
// what a collector refuses under memory pressure.
func retryableGRPCCode(c codes.Code) bool {
	switch c {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable,
		codes.DataLoss, codes.ResourceExhausted:
		return true
	}
	return false
}

// HTTPSenderFactory returns a factory of OTLP/HTTP (protobuf) senders; compression is "", "none", "gzip", "zstd"
// or "snappy" (block format, as confighttp decodes it).
func HTTPSenderFactory(compression string) SenderFactory {
	return func(endpoint string) (Sender, error) { return NewHTTPSender(endpoint, compression) }
}

type httpSender struct {
	name        string
	baseURL     string
	compression string
	client      *http.Client
	zstdEnc     *zstd.Encoder
	wire        atomic.Int64
}

// NewHTTPSender returns an OTLP/HTTP client for endpoint ("127.0.0.1:4318").
func NewHTTPSender(endpoint, compression string) (Sender, error) {
	if err := mustLoopback(endpoint); err != nil {
		return nil, err
	}
	s := &httpSender{name: "otlp-http", baseURL: "http://" + endpoint, compression: compression}
	switch compression {
	case "", "none":
		s.compression = ""
	case "gzip", "snappy":
		s.name += "+" + compression
	case "zstd":
		s.name += "+zstd"
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
		s.zstdEnc = enc
	default:
		return nil, fmt.Errorf("OTLP/HTTP sender compression %q: use none, gzip, zstd or snappy", compression)
	}
	s.client = &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}}
	return s, nil
}

func (s *httpSender) Name() string     { return s.name }
func (s *httpSender) WireBytes() int64 { return s.wire.Load() }
func (s *httpSender) Close() error {
	s.client.CloseIdleConnections()
	if s.zstdEnc != nil {
		return s.zstdEnc.Close()
	}
	return nil
}

func (s *httpSender) Send(ctx context.Context, b Batch) error {
	var body []byte
	var err error
	switch b.Signal {
	case Traces:
		body, err = ptraceotlp.NewExportRequestFromTraces(b.Traces).MarshalProto()
	case Metrics:
		body, err = pmetricotlp.NewExportRequestFromMetrics(b.Metrics).MarshalProto()
	case Logs:
		body, err = plogotlp.NewExportRequestFromLogs(b.Logs).MarshalProto()
	}
	if err != nil {
		return fmt.Errorf("marshaling %s: %w", b.Signal, err)
	}
	body, err = s.compress(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.baseURL+"/v1/"+string(b.Signal), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if s.compression != "" {
		req.Header.Set("Content-Encoding", s.compression)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return &SendError{Retryable: true, Code: "conn", Err: err}
	}
	defer resp.Body.Close()
	s.wire.Add(int64(len(body)))
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return &SendError{Retryable: true, Code: fmt.Sprint(resp.StatusCode), Err: fmt.Errorf("HTTP %s", resp.Status)}
	default:
		return &SendError{Code: fmt.Sprint(resp.StatusCode), Err: fmt.Errorf("HTTP %s: %.200s", resp.Status, respBody)}
	}
	rejected, err := httpRejected(b.Signal, respBody)
	if err != nil {
		return &SendError{Code: "response", Err: err}
	}
	if rejected > 0 {
		return &SendError{Code: "partial", Err: fmt.Errorf("%w: %d of %d", errPartialSuccess, rejected, b.Len())}
	}
	return nil
}

func httpRejected(signal Signal, body []byte) (int64, error) {
	if len(body) == 0 {
		return 0, nil
	}
	switch signal {
	case Traces:
		r := ptraceotlp.NewExportResponse()
		if err := r.UnmarshalProto(body); err != nil {
			return 0, fmt.Errorf("decoding traces response: %w", err)
		}
		return r.PartialSuccess().RejectedSpans(), nil
	case Metrics:
		r := pmetricotlp.NewExportResponse()
		if err := r.UnmarshalProto(body); err != nil {
			return 0, fmt.Errorf("decoding metrics response: %w", err)
		}
		return r.PartialSuccess().RejectedDataPoints(), nil
	default:
		r := plogotlp.NewExportResponse()
		if err := r.UnmarshalProto(body); err != nil {
			return 0, fmt.Errorf("decoding logs response: %w", err)
		}
		return r.PartialSuccess().RejectedLogRecords(), nil
	}
}

func (s *httpSender) compress(body []byte) ([]byte, error) {
	switch s.compression {
	case "gzip":
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case "zstd":
		return s.zstdEnc.EncodeAll(body, nil), nil
	case "snappy":
		return snappy.Encode(nil, body), nil
	}
	return body, nil
}
