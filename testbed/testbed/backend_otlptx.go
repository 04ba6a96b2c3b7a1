package testbed

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

// maxRememberedBatches bounds the mock backend's OTLP-TX duplicate suppression state (a test sends far fewer
// batches; beyond the bound the oldest are forgotten, which can only make duplicates visible, never hide loss).
const maxRememberedBatches = 1 << 20

// otlptxBatchKey identifies one OTLP-TX batch, as the otlptx receiver's duplicate suppression does.
type otlptxBatchKey struct {
	sender   string
	sequence uint64
}

// otlptxDedup remembers the OTLP-TX batches the backend recorded, in arrival order, bounded.
type otlptxDedup struct {
	mu    sync.Mutex
	seen  map[otlptxBatchKey]otlptx.Response
	busy  map[otlptxBatchKey]bool
	order []otlptxBatchKey
}

func newOTLPTXDedup() *otlptxDedup {
	return &otlptxDedup{seen: map[otlptxBatchKey]otlptx.Response{}, busy: map[otlptxBatchKey]bool{}}
}

// begin claims k. It returns the first answer of a batch already recorded (dup), or inFlight when another
// request is recording the same batch right now; otherwise the caller owns k until finish.
func (d *otlptxDedup) begin(k otlptxBatchKey) (prev otlptx.Response, dup, inFlight bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.seen[k]; ok {
		return r, true, false
	}
	if d.busy[k] {
		return prev, false, true
	}
	d.busy[k] = true
	return prev, false, false
}

// finish releases k; recorded tells whether the batch was recorded (then it is remembered with its answer).
func (d *otlptxDedup) finish(k otlptxBatchKey, r otlptx.Response, recorded bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.busy, k)
	if !recorded {
		return
	}
	if len(d.order) >= maxRememberedBatches {
		delete(d.seen, d.order[0])
		d.order = d.order[1:]
	}
	d.seen[k] = r
	d.order = append(d.order, k)
}

// OTLPTXURL returns http://host:port for an otlptx exporter's endpoint setting (the exporter appends /v1/otlptx).
func (b *MockBackend) OTLPTXURL() string { return "http://" + b.httpAddr }

// OTLPTXDuplicateBatches returns how many OTLP-TX batches arrived again (same sender id and sequence) and were
// acknowledged without being recorded a second time, as the otlptx receiver's duplicate suppression does.
func (b *MockBackend) OTLPTXDuplicateBatches() int64 { return b.otlptxDuplicates.Load() }

// OTLPTXRequests returns how many OTLP-TX envelopes were recorded (duplicates excluded).
func (b *MockBackend) OTLPTXRequests() int64 { return b.otlptxRequests.Load() }

// OTLPTXRequestsByVersion returns how many OTLP-TX envelopes of format version (otlptx.FormatVersion or
// otlptx.FormatVersion2) were recorded (duplicates excluded); the counts of both versions add up to OTLPTXRequests.
func (b *MockBackend) OTLPTXRequestsByVersion(version uint32) int64 {
	switch version {
	case otlptx.FormatVersion:
		return b.otlptxV1Requests.Load()
	case otlptx.FormatVersion2:
		return b.otlptxV2Requests.Load()
	}
	return 0
}

// otlptxHandler serves POST /v1/otlptx with the wire package, as the otlptx receiver does: format versions 1
// (otlptx.MediaType) and 2 (otlptx.MediaTypeV2) through ParseRequestContentType and Codec.DecodeRequest, the
// codec's decoded-size limit, its status codes (400 malformed or a body of the other version, 413 too large, 415
// content type; the configured failure with Retry-After), its response body (per-signal accepted counts), and
// duplicate suppression by (sender id, sequence) so a batch re-sent after a lost answer or a restart of the
// sender is acknowledged but recorded once.
func (b *MockBackend) otlptxHandler(w http.ResponseWriter, r *http.Request) {
	version, comp, err := otlptx.ParseRequestContentType(r.Header.Get("Content-Type"))
	if err != nil {
		writeOTLPTXResponse(w, http.StatusUnsupportedMediaType, &otlptx.Response{Message: err.Error()})
		return
	}
	counted := &countingReader{r: io.LimitReader(r.Body, maxBackendBody+1)}
	body, err := io.ReadAll(counted)
	b.httpWire.Add(counted.n)
	if err != nil {
		writeOTLPTXResponse(w, http.StatusBadRequest, &otlptx.Response{Message: "reading body: " + err.Error()})
		return
	}
	if len(body) > maxBackendBody {
		writeOTLPTXResponse(w, http.StatusRequestEntityTooLarge, &otlptx.Response{Message: errBodyTooLarge.Error()})
		return
	}
	env, err := b.otlptxCodec.DecodeRequest(body, version, comp)
	if err == nil {
		err = b.recordOTLPTX(w, r, env)
		if err == nil {
			return
		}
	}
	status := http.StatusBadRequest
	if errors.Is(err, otlptx.ErrTooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	writeOTLPTXResponse(w, status, &otlptx.Response{Message: err.Error()})
}

// recordOTLPTX decodes every signal of env (all before anything is recorded, so a malformed envelope is refused
// as a whole), applies the configured delay and failure, and records the ids; it answers the request unless it
// returns a decoding error.
func (b *MockBackend) recordOTLPTX(w http.ResponseWriter, r *http.Request, env *otlptx.Envelope) error {
	td, hasTraces, err := env.DecodeTraces()
	if err != nil {
		return err
	}
	md, hasMetrics, err := env.DecodeMetrics()
	if err != nil {
		return err
	}
	ld, hasLogs, err := env.DecodeLogs()
	if err != nil {
		return err
	}
	if f := b.Admit(r.Context()); f != nil && f.HTTPStatus != 0 {
		if f.HTTPStatus == http.StatusTooManyRequests || f.HTTPStatus == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeOTLPTXResponse(w, f.HTTPStatus, &otlptx.Response{Message: "testbed mock backend: failing on purpose"})
		return nil
	}
	key := otlptxBatchKey{sender: env.Header.SenderID, sequence: env.Header.Sequence}
	dedup := key.sender != ""
	if dedup {
		prev, dup, inFlight := b.otlptxDedup.begin(key)
		switch {
		case dup:
			b.otlptxDuplicates.Add(1)
			prev.Duplicate = true
			writeOTLPTXResponse(w, http.StatusOK, &prev)
			return nil
		case inFlight:
			w.Header().Set("Retry-After", "1")
			writeOTLPTXResponse(w, http.StatusServiceUnavailable, &otlptx.Response{Message: "the same batch is being recorded; retry later"})
			return nil
		}
	}
	var resp otlptx.Response
	if hasTraces {
		b.RecordTraces(td)
		resp.Traces.Accepted = env.Header.SpanCount
	}
	if hasMetrics {
		b.RecordMetrics(md)
		resp.Metrics.Accepted = env.Header.DataPointCount
	}
	if hasLogs {
		b.RecordLogs(ld)
		resp.Logs.Accepted = env.Header.LogRecordCount
	}
	b.otlptxRequests.Add(1)
	if env.Header.FormatVersion == otlptx.FormatVersion2 {
		b.otlptxV2Requests.Add(1)
	} else {
		b.otlptxV1Requests.Add(1)
	}
	if dedup {
		b.otlptxDedup.finish(key, resp, true)
	}
	writeOTLPTXResponse(w, http.StatusOK, &resp)
	return nil
}

func writeOTLPTXResponse(w http.ResponseWriter, status int, resp *otlptx.Response) {
	body := resp.Marshal()
	w.Header().Set("Content-Type", otlptx.MediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// newOTLPTXCodec returns the codec of the backend's OTLP-TX endpoint, limited like its OTLP/HTTP bodies.
func newOTLPTXCodec() (*otlptx.Codec, error) {
	c, err := otlptx.NewCodec(maxBackendBody)
	if err != nil {
		return nil, fmt.Errorf("OTLP-TX codec: %w", err)
	}
	return c, nil
}
