package testbed

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

// postOTLPTX sends body to the backend's OTLP-TX endpoint and returns the status and decoded answer.
func postOTLPTX(t *testing.T, b *MockBackend, contentType string, body []byte) (int, *otlptx.Response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.OTLPTXURL()+otlptx.Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Content-Type"); got != otlptx.MediaType {
		t.Errorf("answer content type %q, want %q", got, otlptx.MediaType)
	}
	answer, err := otlptx.UnmarshalResponse(buf.Bytes())
	if err != nil {
		t.Fatalf("answer body: %v", err)
	}
	return resp.StatusCode, answer
}

func encodeEnvelope(t *testing.T, hdr otlptx.Header, td ptrace.Traces, md pmetric.Metrics, ld plog.Logs, comp otlptx.Compression) []byte {
	t.Helper()
	codec, err := otlptx.NewCodec(0)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	env, err := otlptx.NewEnvelope(hdr, td, md, ld)
	if err != nil {
		t.Fatal(err)
	}
	body, err := codec.Encode(env, comp)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestMockBackendOTLPTXRecordsEverySignalOnce(t *testing.T) {
	backend := StartMockBackend(t)
	traces := NewBatch(Traces, 1, []int64{MakeID(1, 0), MakeID(1, 1)})
	metrics := NewBatch(Metrics, 1, []int64{MakeID(1, 2)})
	logs := NewBatch(Logs, 1, []int64{MakeID(1, 3), MakeID(1, 4), MakeID(1, 5)})
	body := encodeEnvelope(t, otlptx.Header{SenderID: "sidecar-a", Sequence: 7}, traces.Traces, metrics.Metrics, logs.Logs, otlptx.CompressionSnappy)
	ct := otlptx.ContentType(otlptx.CompressionSnappy)

	status, answer := postOTLPTX(t, backend, ct, body)
	if status != http.StatusOK || answer.Duplicate ||
		answer.Traces.Accepted != 2 || answer.Metrics.Accepted != 1 || answer.Logs.Accepted != 3 {
		t.Fatalf("first post: status %d, answer %+v", status, answer)
	}
	// The same batch again (an answer lost to a timeout): acknowledged with the first counts, not recorded.
	status, answer = postOTLPTX(t, backend, ct, body)
	if status != http.StatusOK || !answer.Duplicate || answer.Logs.Accepted != 3 {
		t.Fatalf("re-sent batch: status %d, answer %+v", status, answer)
	}
	// Another sender may use the same sequence.
	other := encodeEnvelope(t, otlptx.Header{SenderID: "sidecar-b", Sequence: 7}, traces.Traces, pmetric.Metrics{}, plog.Logs{}, otlptx.CompressionZstd)
	if status, answer = postOTLPTX(t, backend, otlptx.ContentType(otlptx.CompressionZstd), other); status != http.StatusOK || answer.Duplicate {
		t.Fatalf("other sender: status %d, answer %+v", status, answer)
	}
	if backend.OTLPTXDuplicateBatches() != 1 || backend.OTLPTXRequests() != 2 {
		t.Errorf("duplicates %d, requests %d; want 1 and 2", backend.OTLPTXDuplicateBatches(), backend.OTLPTXRequests())
	}
	if got := backend.Received(Traces).Count(MakeID(1, 0)); got != 2 {
		t.Errorf("trace id recorded %d times, want 2 (one per sender)", got)
	}
	if got := backend.Received(Logs).Count(MakeID(1, 5)); got != 1 {
		t.Errorf("log id recorded %d times, want 1", got)
	}
}

func TestMockBackendOTLPTXRejectsBadInput(t *testing.T) {
	backend := StartMockBackend(t)
	snappyCT := otlptx.ContentType(otlptx.CompressionSnappy)
	logs := NewBatch(Logs, 1, []int64{1})
	good := encodeEnvelope(t, otlptx.Header{SenderID: "s", Sequence: 1}, ptrace.Traces{}, pmetric.Metrics{}, logs.Logs, otlptx.CompressionNone)
	codec, err := otlptx.NewCodec(0)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	// A snappy block declaring more than the backend's limit: refused before anything is allocated.
	bomb, err := codec.Compress(nil, make([]byte, maxBackendBody+1), otlptx.CompressionSnappy)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, contentType string
		body              []byte
		want              int
	}{
		{"OTLP/HTTP content type", "application/x-protobuf", good, http.StatusUnsupportedMediaType},
		{"unknown compression", otlptx.MediaType + "; compression=br", good, http.StatusUnsupportedMediaType},
		{"broken snappy", snappyCT, []byte{0xff, 0xff, 0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"truncated envelope", otlptx.ContentType(otlptx.CompressionNone), good[:len(good)-3], http.StatusBadRequest},
		{"no header", otlptx.ContentType(otlptx.CompressionNone), nil, http.StatusBadRequest},
		{"decompression bomb", snappyCT, bomb, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, answer := postOTLPTX(t, backend, tt.contentType, tt.body)
			if status != tt.want || answer.Message == "" {
				t.Errorf("status %d (want %d), answer %+v", status, tt.want, answer)
			}
		})
	}
	if backend.Received(Logs).Total() != 0 {
		t.Error("a refused envelope was recorded")
	}
}

func TestMockBackendOTLPTXFailureIsRetryable(t *testing.T) {
	backend := StartMockBackend(t)
	backend.SetFailure(&Failure{HTTPStatus: http.StatusServiceUnavailable})
	logs := NewBatch(Logs, 1, []int64{1})
	body := encodeEnvelope(t, otlptx.Header{SenderID: "s", Sequence: 1}, ptrace.Traces{}, pmetric.Metrics{}, logs.Logs, otlptx.CompressionSnappy)
	if status, _ := postOTLPTX(t, backend, otlptx.ContentType(otlptx.CompressionSnappy), body); status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", status)
	}
	backend.SetFailure(nil)
	if status, answer := postOTLPTX(t, backend, otlptx.ContentType(otlptx.CompressionSnappy), body); status != http.StatusOK || answer.Duplicate {
		t.Fatalf("after recovery: status %d, answer %+v (a refused batch must not count as seen)", status, answer)
	}
	if backend.Refused() != 1 || backend.Received(Logs).Count(1) != 1 {
		t.Errorf("refused %d, recorded %d", backend.Refused(), backend.Received(Logs).Count(1))
	}
}

// A retry after a timed-out attempt carries the same sequence: the backend records the batch once although the
// first attempt was processed after the client gave up on it.
func TestOTLPTXSenderRetriesAreSuppressed(t *testing.T) {
	backend := StartMockBackend(t)
	backend.SetDelay(time.Minute)
	s, err := NewOTLPTXSender(backend.HTTPEndpoint(), "")
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
		return g.Stats().Refusals["conn"] >= 2
	}) {
		t.Fatalf("no timed-out attempts: %+v", g.Stats())
	}
	backend.SetDelay(0)
	st := <-done
	if st.Sent != 5 || st.Retries < 2 {
		t.Errorf("stats %+v", st)
	}
	res := Validate(MergeSent(g), backend.ReceivedBySignal())
	if res.Lost() != 0 || res.Duplicated() != 0 {
		t.Errorf("validation:\n%s", res)
	}
	if backend.OTLPTXDuplicateBatches() == 0 {
		t.Error("no re-sent batch was suppressed")
	}
}
