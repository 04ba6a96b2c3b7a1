package deploy

import (
	"context"
	"net"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the collector's OTLP exporter compresses with gzip by default
	"google.golang.org/grpc/status"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// namingBackend is an OTLP/gRPC front for a testbed.MockBackend (through its Admit and Record* hooks) that also
// remembers which metric names arrived from which service.name. testbed.MockBackend counts only the load
// generator's ids; this shows that the demo service's own metrics made it through both tiers.
type namingBackend struct {
	*testbed.MockBackend
	endpoint string
	server   *grpc.Server

	mu    sync.Mutex
	names map[string]map[string]bool // service.name -> metric names
}

func startNamingBackend(t *testing.T) *namingBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &namingBackend{
		MockBackend: testbed.StartMockBackend(t),
		endpoint:    ln.Addr().String(),
		server:      grpc.NewServer(),
		names:       map[string]map[string]bool{},
	}
	ptraceotlp.RegisterGRPCServer(b.server, &namingTraces{b: b})
	pmetricotlp.RegisterGRPCServer(b.server, &namingMetrics{b: b})
	plogotlp.RegisterGRPCServer(b.server, &namingLogs{b: b})
	done := make(chan struct{})
	go func() { defer close(done); _ = b.server.Serve(ln) }()
	t.Cleanup(func() { b.server.Stop(); <-done })
	return b
}

// Endpoint returns host:port of the OTLP/gRPC front.
func (b *namingBackend) Endpoint() string { return b.endpoint }

// HasMetric reports whether a metric called name arrived with resource attribute service.name = service.
func (b *namingBackend) HasMetric(service, name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.names[service][name]
}

func (b *namingBackend) admit(ctx context.Context) error {
	if f := b.Admit(ctx); f != nil && f.GRPCCode != 0 {
		return status.Error(f.GRPCCode, "deploy test backend: failing on purpose")
	}
	return nil
}

type namingMetrics struct {
	pmetricotlp.UnimplementedGRPCServer
	b *namingBackend
}

func (s *namingMetrics) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	if err := s.b.admit(ctx); err != nil {
		return pmetricotlp.NewExportResponse(), err
	}
	md := req.Metrics()
	s.b.mu.Lock()
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		service := ""
		if v, ok := rm.Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		if s.b.names[service] == nil {
			s.b.names[service] = map[string]bool{}
		}
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				s.b.names[service][ms.At(k).Name()] = true
			}
		}
	}
	s.b.mu.Unlock()
	s.b.RecordMetrics(md)
	return pmetricotlp.NewExportResponse(), nil
}

type namingTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	b *namingBackend
}

func (s *namingTraces) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if err := s.b.admit(ctx); err != nil {
		return ptraceotlp.NewExportResponse(), err
	}
	s.b.RecordTraces(req.Traces())
	return ptraceotlp.NewExportResponse(), nil
}

type namingLogs struct {
	plogotlp.UnimplementedGRPCServer
	b *namingBackend
}

func (s *namingLogs) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	if err := s.b.admit(ctx); err != nil {
		return plogotlp.NewExportResponse(), err
	}
	s.b.RecordLogs(req.Logs())
	return plogotlp.NewExportResponse(), nil
}

var (
	_ pmetricotlp.GRPCServer = (*namingMetrics)(nil)
	_ ptraceotlp.GRPCServer  = (*namingTraces)(nil)
	_ plogotlp.GRPCServer    = (*namingLogs)(nil)
)
