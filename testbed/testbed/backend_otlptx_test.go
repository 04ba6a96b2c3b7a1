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

// encodeEnvelopeV2 returns a version-2 wire body (the columnar envelope behind the v2 magic) compressed with comp.
func encodeEnvelopeV2(t *testing.T, hdr otlptx.Header, td ptrace.Traces, md pmetric.Metrics, ld plog.Logs, comp otlptx.Compression) []byte {
	t.Helper()
	codec, err := otlptx.NewCodec(0)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	env, err := otlptx.NewEnvelopeV2(hdr, td, md, ld)
	if err != nil {
		t.Fatal(err)
	}
	body, err := codec.EncodeV2(env, comp)
	if err != nil {
		t.Fatal(err)
	}
	if !otlptx.IsV2Body(body) {
		t.Fatal("EncodeV2 wrote a body without the version-2 magic")
	}
	return body
}

// The backend reads both format versions, records what a version-2 envelope carries (decoded, not just
// acknowledged), counts envelopes per version, and suppresses duplicates by (sender id, sequence) whatever the
// version: the otlptx exporter re-sends a version-2 batch as version 1 with the same sequence after a 415.
func TestMockBackendOTLPTXAcceptsV1AndV2(t *testing.T) {
	backend := StartMockBackend(t)
	traces := NewBatch(Traces, 1, []int64{MakeID(1, 0), MakeID(1, 1)})
	metrics := NewBatch(Metrics, 1, []int64{MakeID(1, 2)})
	logs := NewBatch(Logs, 1, []int64{MakeID(1, 3), MakeID(1, 4), MakeID(1, 5)})

	for _, comp := range []otlptx.Compression{otlptx.CompressionS2, otlptx.CompressionZstd, otlptx.CompressionNone} {
		hdr := otlptx.Header{SenderID: "sidecar-v2-" + string(comp), Sequence: 1}
		body := encodeEnvelopeV2(t, hdr, traces.Traces, metrics.Metrics, logs.Logs, comp)
		status, answer := postOTLPTX(t, backend, otlptx.MediaTypeV2, body)
		if status != http.StatusOK || answer.Duplicate ||
			answer.Traces.Accepted != 2 || answer.Metrics.Accepted != 1 || answer.Logs.Accepted != 3 {
			t.Fatalf("v2 %s: status %d, answer %+v", comp, status, answer)
		}
	}
	for _, sig := range []Signal{Traces, Metrics, Logs} {
		for _, id := range map[Signal][]int64{Traces: traces.IDs, Metrics: metrics.IDs, Logs: logs.IDs}[sig] {
			if got := backend.Received(sig).Count(id); got != 3 {
				t.Errorf("%v id %d recorded %d times from three v2 envelopes, want 3", sig, id, got)
			}
		}
	}
	// A re-sent v2 batch is acknowledged with the first counts and not recorded again.
	v2 := encodeEnvelopeV2(t, otlptx.Header{SenderID: "sidecar-a", Sequence: 9}, ptrace.Traces{}, pmetric.Metrics{}, logs.Logs, otlptx.CompressionS2)
	if status, answer := postOTLPTX(t, backend, otlptx.MediaTypeV2, v2); status != http.StatusOK || answer.Duplicate || answer.Logs.Accepted != 3 {
		t.Fatalf("v2 batch: status %d, answer %+v", status, answer)
	}
	if status, answer := postOTLPTX(t, backend, otlptx.MediaTypeV2, v2); status != http.StatusOK || !answer.Duplicate || answer.Logs.Accepted != 3 {
		t.Fatalf("re-sent v2 batch: status %d, answer %+v", status, answer)
	}
	// The same batch converted to version 1 (the exporter's fallback) is the same batch.
	v1Same := encodeEnvelope(t, otlptx.Header{SenderID: "sidecar-a", Sequence: 9}, ptrace.Traces{}, pmetric.Metrics{}, logs.Logs, otlptx.CompressionSnappy)
	if status, answer := postOTLPTX(t, backend, otlptx.ContentType(otlptx.CompressionSnappy), v1Same); status != http.StatusOK || !answer.Duplicate {
		t.Fatalf("v2 batch re-sent as v1: status %d, answer %+v", status, answer)
	}
	// Version 1 still works.
	v1 := encodeEnvelope(t, otlptx.Header{SenderID: "sidecar-a", Sequence: 10}, traces.Traces, pmetric.Metrics{}, plog.Logs{}, otlptx.CompressionZstd)
	if status, answer := postOTLPTX(t, backend, otlptx.ContentType(otlptx.CompressionZstd), v1); status != http.StatusOK || answer.Duplicate || answer.Traces.Accepted != 2 {
		t.Fatalf("v1 batch: status %d, answer %+v", status, answer)
	}
	if got := backend.Received(Logs).Count(logs.IDs[0]); got != 4 {
		t.Errorf("log id recorded %d times, want 4 (three v2 envelopes of three senders, one of sidecar-a)", got)
	}
	if got := backend.Received(Traces).Count(traces.IDs[0]); got != 4 {
		t.Errorf("trace id recorded %d times, want 4 (three v2 envelopes, one v1)", got)
	}
	v1n, v2n := backend.OTLPTXRequestsByVersion(otlptx.FormatVersion), backend.OTLPTXRequestsByVersion(otlptx.FormatVersion2)
	if v1n != 1 || v2n != 4 || backend.OTLPTXRequests() != 5 || backend.OTLPTXDuplicateBatches() != 2 {
		t.Errorf("v1 %d, v2 %d, recorded %d, duplicates %d; want 1, 4, 5 and 2",
			v1n, v2n, backend.OTLPTXRequests(), backend.OTLPTXDuplicateBatches())
	}
}

func TestMockBackendOTLPTXRejectsBadV2(t *testing.T) {
	backend := StartMockBackend(t)
	logs := NewBatch(Logs, 1, []int64{1, 2})
	hdr := otlptx.Header{SenderID: "s", Sequence: 1}
	good := encodeEnvelopeV2(t, hdr, ptrace.Traces{}, pmetric.Metrics{}, logs.Logs, otlptx.CompressionNone)
	goodS2 := encodeEnvelopeV2(t, hdr, ptrace.Traces{}, pmetric.Metrics{}, logs.Logs, otlptx.CompressionS2)
	v1 := encodeEnvelope(t, hdr, ptrace.Traces{}, pmetric.Metrics{}, logs.Logs, otlptx.CompressionNone)
	codec, err := otlptx.NewCodec(0)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	// A header whose count disagrees with the columnar body.
	env, err := otlptx.NewEnvelopeV2(hdr, ptrace.Traces{}, pmetric.Metrics{}, logs.Logs)
	if err != nil {
		t.Fatal(err)
	}
	env.Header.LogRecordCount++
	miscounted, err := codec.EncodeV2(env, otlptx.CompressionNone)
	if err != nil {
		t.Fatal(err)
	}
	// A columnar body cut short inside an otherwise well-formed envelope.
	env, err = otlptx.NewEnvelopeV2(hdr, ptrace.Traces{}, pmetric.Metrics{}, logs.Logs)
	if err != nil {
		t.Fatal(err)
	}
	env.Columnar = env.Columnar[:len(env.Columnar)/2]
	cutColumns, err := codec.EncodeV2(env, otlptx.CompressionNone)
	if err != nil {
		t.Fatal(err)
	}
	magic := good[:4]
	// An s2 block declaring more than the backend's limit: refused before anything is allocated.
	bomb, err := codec.Compress(append(append([]byte{}, magic...), good[4]+1), make([]byte, maxBackendBody+1), otlptx.CompressionS2)
	if err != nil {
		t.Fatal(err)
	}
	if good[4] != 0 || goodS2[4] != 1 {
		t.Fatalf("compression ids %d (none) and %d (s2); the cases below assume 0 and 1", good[4], goodS2[4])
	}
	tests := []struct {
		name, contentType string
		body              []byte
		want              int
	}{
		{"v2 body as v1", otlptx.ContentType(otlptx.CompressionNone), good, http.StatusBadRequest},
		{"v1 body as v2", otlptx.MediaTypeV2, v1, http.StatusBadRequest},
		{"magic only", otlptx.MediaTypeV2, magic, http.StatusBadRequest},
		{"unknown compression id", otlptx.MediaTypeV2, append(append([]byte{}, magic...), 0x7f, 0x0a, 0x00), http.StatusBadRequest},
		{"truncated envelope", otlptx.MediaTypeV2, good[:len(good)-3], http.StatusBadRequest},
		{"truncated s2", otlptx.MediaTypeV2, goodS2[:len(goodS2)-3], http.StatusBadRequest},
		{"header count mismatch", otlptx.MediaTypeV2, miscounted, http.StatusBadRequest},
		{"truncated columnar body", otlptx.MediaTypeV2, cutColumns, http.StatusBadRequest},
		{"decompression bomb", otlptx.MediaTypeV2, bomb, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, answer := postOTLPTX(t, backend, tt.contentType, tt.body)
			if status != tt.want || answer.Message == "" {
				t.Errorf("status %d (want %d), answer %+v", status, tt.want, answer)
			}
		})
	}
	if backend.Received(Logs).Total() != 0 || backend.OTLPTXRequests() != 0 {
		t.Error("a refused envelope was recorded")
	}
	// The refusals did not mark the batch as seen: the good body is then recorded.
	if status, answer := postOTLPTX(t, backend, otlptx.MediaTypeV2, goodS2); status != http.StatusOK || answer.Duplicate || answer.Logs.Accepted != 2 {
		t.Fatalf("good v2 body after the refusals: status %d, answer %+v", status, answer)
	}
}

// The load generator's OTLP-TX sender sends version 2 by default and version 1 when asked, each with the media
// type and the compression of its version.
func TestOTLPTXSenderVersions(t *testing.T) {
	backend := StartMockBackend(t)
	tests := []struct {
		name        string
		newSender   func() (Sender, error)
		wantName    string
		wantVersion uint32
	}{
		{"default", func() (Sender, error) { return NewOTLPTXSender(backend.HTTPEndpoint(), "") }, "otlp-tx-v2+s2", otlptx.FormatVersion2},
		{"v2 snappy means s2", func() (Sender, error) { return NewOTLPTXSender(backend.HTTPEndpoint(), "snappy") }, "otlp-tx-v2+s2", otlptx.FormatVersion2},
		{"v2 zstd", func() (Sender, error) { return OTLPTXSenderFactory("zstd")(backend.HTTPEndpoint()) }, "otlp-tx-v2+zstd", otlptx.FormatVersion2},
		{"v1 default", func() (Sender, error) {
			return NewOTLPTXVersionSender(backend.HTTPEndpoint(), otlptx.FormatVersion, "")
		}, "otlp-tx+snappy", otlptx.FormatVersion},
		{"v1 s2 means snappy", func() (Sender, error) {
			return OTLPTXVersionSenderFactory(otlptx.FormatVersion, "s2")(backend.HTTPEndpoint())
		}, "otlp-tx+snappy", otlptx.FormatVersion},
		{"v1 none", func() (Sender, error) {
			return NewOTLPTXVersionSender(backend.HTTPEndpoint(), otlptx.FormatVersion, "none")
		}, "otlp-tx+none", otlptx.FormatVersion},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.newSender()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Name() != tt.wantName {
				t.Errorf("name %q, want %q", s.Name(), tt.wantName)
			}
			before := backend.OTLPTXRequestsByVersion(tt.wantVersion)
			b := NewBatch(Logs, 1, []int64{MakeID(1, int64(10*i)), MakeID(1, int64(10*i+1))})
			if err := s.Send(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if got := backend.OTLPTXRequestsByVersion(tt.wantVersion) - before; got != 1 {
				t.Errorf("backend recorded %d envelopes of version %d, want 1", got, tt.wantVersion)
			}
			if got := backend.Received(Logs).Count(b.IDs[1]); got != 1 {
				t.Errorf("id recorded %d times, want 1", got)
			}
			if s.WireBytes() == 0 {
				t.Error("no wire bytes counted")
			}
		})
	}
	if backend.OTLPTXRequestsByVersion(otlptx.FormatVersion2) != 3 || backend.OTLPTXRequestsByVersion(otlptx.FormatVersion) != 3 {
		t.Errorf("per version: v1 %d, v2 %d; want 3 and 3",
			backend.OTLPTXRequestsByVersion(otlptx.FormatVersion), backend.OTLPTXRequestsByVersion(otlptx.FormatVersion2))
	}
	if _, err := NewOTLPTXVersionSender(backend.HTTPEndpoint(), 3, ""); err == nil {
		t.Error("format version 3 accepted")
	}
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
