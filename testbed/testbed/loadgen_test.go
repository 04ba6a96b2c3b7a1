package testbed

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

func senderFactories() map[string]func(b *MockBackend) (Sender, error) {
	return map[string]func(b *MockBackend) (Sender, error){
		"grpc":        func(b *MockBackend) (Sender, error) { return NewGRPCSender(b.GRPCEndpoint(), "") },
		"grpc+gzip":   func(b *MockBackend) (Sender, error) { return NewGRPCSender(b.GRPCEndpoint(), "gzip") },
		"http":        func(b *MockBackend) (Sender, error) { return NewHTTPSender(b.HTTPEndpoint(), "none") },
		"http+gzip":   func(b *MockBackend) (Sender, error) { return NewHTTPSender(b.HTTPEndpoint(), "gzip") },
		"http+zstd":   func(b *MockBackend) (Sender, error) { return NewHTTPSender(b.HTTPEndpoint(), "zstd") },
		"http+snappy": func(b *MockBackend) (Sender, error) { return NewHTTPSender(b.HTTPEndpoint(), "snappy") },
		"otlptx":      func(b *MockBackend) (Sender, error) { return NewOTLPTXSender(b.HTTPEndpoint(), "") },
		"otlptx+zstd": func(b *MockBackend) (Sender, error) { return NewOTLPTXSender(b.HTTPEndpoint(), "zstd") },
		"otlptx+none": func(b *MockBackend) (Sender, error) { return NewOTLPTXSender(b.HTTPEndpoint(), "none") },
	}
}

func TestLoadGeneratorDeliversThroughEveryTransport(t *testing.T) {
	for name, mk := range senderFactories() {
		t.Run(name, func(t *testing.T) {
			backend := StartMockBackend(t)
			s, err := mk(backend)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			g, err := NewLoadGenerator(s, LoadOptions{Source: 7, BatchSize: 100, MaxItems: 1050, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			st := g.Run(context.Background())
			if st.Sent != 1050 || st.Generated != 1050 || st.Failed != 0 || st.Requests != 11 {
				t.Fatalf("stats %+v, last error %v", st, g.LastError())
			}
			res := Validate(MergeSent(g), backend.ReceivedBySignal())
			if res.Lost() != 0 || res.Duplicated() != 0 || res.Sent() != 1050 {
				t.Errorf("validation:\n%s", res)
			}
			if st.WireBytes == 0 || backend.WireBytes() == 0 {
				t.Errorf("wire bytes: sender %d, backend %d", st.WireBytes, backend.WireBytes())
			}
			for _, id := range g.Sent(Traces).SortedIDs() {
				if SourceOf(id) != 7 {
					t.Fatalf("id %d does not carry source 7", id)
				}
			}
		})
	}
}

func TestLoadGeneratorRetriesRetryableRefusals(t *testing.T) {
	for name, mk := range map[string]func(b *MockBackend) (Sender, error){
		"grpc": senderFactories()["grpc"], "http": senderFactories()["http+gzip"], "otlptx": senderFactories()["otlptx"],
	} {
		t.Run(name, func(t *testing.T) {
			backend := StartMockBackend(t)
			backend.SetFailure(&Failure{GRPCCode: codes.Unavailable, HTTPStatus: http.StatusServiceUnavailable})
			s, err := mk(backend)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			g, err := NewLoadGenerator(s, LoadOptions{BatchSize: 10, MaxItems: 100, RetryFor: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan LoadStats, 1)
			go func() { done <- g.Run(context.Background()) }()
			if !WaitUntil(context.Background(), 30*time.Second, 10*time.Millisecond, func() bool { return backend.Refused() >= 3 }) {
				t.Fatal("the backend refused fewer than 3 requests")
			}
			backend.SetFailure(nil)
			st := <-done
			if st.Sent != 100 || st.Failed != 0 || st.Retries < 3 || len(st.Refusals) == 0 {
				t.Errorf("stats %+v", st)
			}
			if res := Validate(MergeSent(g), backend.ReceivedBySignal()); res.Lost() != 0 {
				t.Errorf("validation:\n%s", res)
			}
		})
	}
}

func TestLoadGeneratorDoesNotCountPermanentRefusals(t *testing.T) {
	backend := StartMockBackend(t)
	backend.SetFailure(&Failure{GRPCCode: codes.InvalidArgument, HTTPStatus: http.StatusBadRequest})
	for name, mk := range map[string]func(b *MockBackend) (Sender, error){
		"grpc": senderFactories()["grpc"], "http": senderFactories()["http"], "otlptx": senderFactories()["otlptx"],
	} {
		t.Run(name, func(t *testing.T) {
			s, err := mk(backend)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			g, err := NewLoadGenerator(s, LoadOptions{BatchSize: 10, MaxItems: 30})
			if err != nil {
				t.Fatal(err)
			}
			st := g.Run(context.Background())
			if st.Sent != 0 || st.Failed != 30 || st.Retries != 0 || g.LastError() == nil {
				t.Errorf("stats %+v, last error %v", st, g.LastError())
			}
			if g.Failed(Traces).Unique() != 10 {
				t.Errorf("failed trace ids: %d, want 10", g.Failed(Traces).Unique())
			}
		})
	}
}

func TestLoadGeneratorStopsOnDuration(t *testing.T) {
	backend := StartMockBackend(t)
	s, err := NewGRPCSender(backend.GRPCEndpoint(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g, err := NewLoadGenerator(s, LoadOptions{BatchSize: 10, Rate: 500, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st := g.Run(context.Background())
	if st.Sent == 0 || st.Sent != st.Generated {
		t.Errorf("stats %+v", st)
	}
}

func TestLoadOptionsValidation(t *testing.T) {
	for name, o := range map[string]LoadOptions{
		"unbounded":     {},
		"negative rate": {MaxItems: 1, Rate: -1},
	} {
		if _, err := NewLoadGenerator(nil, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSendersRefuseBadSettings(t *testing.T) {
	if _, err := NewGRPCSender("127.0.0.1:1", "zstd"); err == nil {
		t.Error("gRPC sender accepted zstd")
	}
	if _, err := NewHTTPSender("127.0.0.1:1", "brotli"); err == nil {
		t.Error("HTTP sender accepted brotli")
	}
	if _, err := NewOTLPTXSender("127.0.0.1:1", "gzip"); err == nil {
		t.Error("OTLP-TX sender accepted gzip")
	}
	if _, err := NewHTTPSender("example.com:80", ""); err == nil {
		t.Error("HTTP sender accepted a non-loopback endpoint")
	}
}

func TestMockBackendRejectsBadHTTPInput(t *testing.T) {
	backend := StartMockBackend(t)
	tests := []struct {
		name, contentType, encoding string
		body                        []byte
		want                        int
	}{
		{"json is not served", "application/json", "", []byte("{}"), http.StatusUnsupportedMediaType},
		{"broken gzip", "application/x-protobuf", "gzip", []byte("not gzip"), http.StatusBadRequest},
		{"broken snappy", "application/x-protobuf", "snappy", []byte{0xff, 0xff, 0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"unknown encoding", "application/x-protobuf", "br", []byte("x"), http.StatusBadRequest},
		{"garbage protobuf", "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"empty request", "application/x-protobuf", "", nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, backend.HTTPURL()+"/v1/logs", bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestMockBackendDelayMakesAttemptsTimeOut(t *testing.T) {
	backend := StartMockBackend(t)
	backend.SetDelay(time.Minute)
	s, err := NewGRPCSender(backend.GRPCEndpoint(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g, err := NewLoadGenerator(s, LoadOptions{Signals: []Signal{Logs}, BatchSize: 5, MaxItems: 5,
		AttemptTimeout: 50 * time.Millisecond, RetryFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan LoadStats, 1)
	go func() { done <- g.Run(context.Background()) }()
	if !WaitUntil(context.Background(), 30*time.Second, 10*time.Millisecond, func() bool {
		return g.Stats().Refusals["DeadlineExceeded"] >= 2
	}) {
		t.Fatalf("no timed-out attempts: %+v", g.Stats())
	}
	backend.SetDelay(0)
	st := <-done
	if st.Sent != 5 || st.Retries < 2 {
		t.Errorf("stats %+v", st)
	}
}
