package otlptxreceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
	"github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver/internal/metadata"
)

// telemetryFormat labels the receiver's standard telemetry.
const telemetryFormat = "otlptx"

// otlptxReceiver is the one instance (one HTTP server) behind the traces, metrics and
// logs receivers created from the same configuration.
type otlptxReceiver struct {
	cfg      *Config
	settings receiver.Settings
	logger   *zap.Logger

	mu      sync.RWMutex
	traces  consumer.Traces
	metrics consumer.Metrics
	logs    consumer.Logs

	obsrecv       *receiverhelper.ObsReport
	telemetry     *metadata.TelemetryBuilder
	codec         *otlptx.Codec
	dedup         *dedupCache
	storageClient storage.Client
	server        *http.Server
	serverDone    sync.WaitGroup
	// addr is the address the server listens on (useful with port 0).
	addr net.Addr

	// dedupReady is closed once the stored dedup state is loaded (at once without storage);
	// requests wait for it. loadDone is closed when the loader goroutine ends.
	dedupReady chan struct{}
	loadDone   chan struct{}
	cancelLoad context.CancelFunc

	// Requests in progress: shutdown waits for them (within its context) before it closes
	// storage. closing refuses new ones.
	inflightMu sync.Mutex
	closing    bool
	inflight   sync.WaitGroup

	lifeMu   sync.Mutex
	started  bool
	shutDown bool
}

func newReceiver(cfg *Config, set receiver.Settings) *otlptxReceiver {
	return &otlptxReceiver{cfg: cfg, settings: set, logger: set.Logger}
}

// Start starts the HTTP server; stored dedup state is loaded in the background.
func (r *otlptxReceiver) Start(ctx context.Context, host component.Host) error {
	r.lifeMu.Lock()
	defer r.lifeMu.Unlock()
	if r.started || r.shutDown {
		return nil
	}
	if err := r.start(ctx, host); err != nil {
		return err
	}
	r.started = true
	return nil
}

// Shutdown stops the server, waits (within ctx) for requests in progress, then closes
// storage. It is safe without Start and when called twice.
func (r *otlptxReceiver) Shutdown(ctx context.Context) error {
	r.lifeMu.Lock()
	defer r.lifeMu.Unlock()
	if r.shutDown {
		return nil
	}
	r.shutDown = true
	if !r.started {
		return nil
	}
	return r.shutdown(ctx)
}

func (r *otlptxReceiver) start(ctx context.Context, host component.Host) error {
	obsrecv, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             r.settings.ID,
		Transport:              "http",
		ReceiverCreateSettings: r.settings,
	})
	if err != nil {
		return fmt.Errorf("create receiver telemetry: %w", err)
	}
	r.obsrecv = obsrecv
	tb, err := metadata.NewTelemetryBuilder(r.settings.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("create otlptx receiver telemetry: %w", err)
	}
	r.telemetry = tb
	codec, err := otlptx.NewCodec(r.cfg.MaxDecodedSize)
	if err != nil {
		tb.Shutdown()
		return err
	}
	r.codec = codec
	r.dedupReady = make(chan struct{})
	r.loadDone = make(chan struct{})
	var client storage.Client
	if r.cfg.Dedup.Enabled {
		r.dedup = newDedupCache(r.cfg.Dedup.MaxEntries, r.cfg.Dedup.Window)
		if r.cfg.Dedup.Storage != nil {
			if client, err = r.dedupStorageClient(ctx, host); err != nil {
				r.closeResources(ctx)
				return err
			}
			r.storageClient = client
		}
	}
	ln, err := r.cfg.ServerConfig.ToListener(ctx)
	if err != nil {
		r.closeResources(ctx)
		return fmt.Errorf("listen on %s: %w", r.cfg.ServerConfig.NetAddr.Endpoint, err)
	}
	r.addr = ln.Addr()
	mux := http.NewServeMux()
	mux.Handle(otlptx.Path, http.HandlerFunc(r.handleExport))
	r.server, err = r.cfg.ServerConfig.ToServer(ctx, host.GetExtensions(), r.settings.TelemetrySettings, mux)
	if err != nil {
		_ = ln.Close()
		r.closeResources(ctx)
		return fmt.Errorf("create HTTP server: %w", err)
	}
	if client != nil {
		// The stored dedup state (up to max_entries slots) is read in the background;
		// requests wait for it, so a re-sent batch is never forwarded before its record
		// is known.
		loadCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r.cancelLoad = cancel
		go func() {
			defer close(r.loadDone)
			restored, err := r.dedup.load(loadCtx, client)
			switch {
			case errors.Is(err, errRingResized):
				r.logger.Warn("otlptx dedup state discarded", zap.Error(err))
			case err != nil && loadCtx.Err() != nil:
				return // shutting down; requests are refused anyway
			case err != nil:
				// Duplicate suppression keeps working in memory; what was stored is not known.
				r.logger.Error("otlptx dedup state could not be read; batches re-sent from before the restart may be forwarded again", zap.Error(err))
			default:
				r.logger.Info("otlptx dedup state restored", zap.Int("batches", restored))
			}
			close(r.dedupReady)
		}()
	} else {
		close(r.dedupReady)
		close(r.loadDone)
	}
	r.logger.Info("otlptx receiver listening", zap.String("endpoint", ln.Addr().String()), zap.String("path", otlptx.Path))
	r.serverDone.Add(1)
	go func() {
		defer r.serverDone.Done()
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	return nil
}

func (r *otlptxReceiver) dedupStorageClient(ctx context.Context, host component.Host) (storage.Client, error) {
	id := *r.cfg.Dedup.Storage
	ext, found := host.GetExtensions()[id]
	if !found {
		return nil, fmt.Errorf("dedup.storage: extension %q not found; add it to service.extensions", id)
	}
	storageExt, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("dedup.storage: extension %q is not a storage extension", id)
	}
	client, err := storageExt.GetClient(ctx, component.KindReceiver, r.settings.ID, "dedup")
	if err != nil {
		return nil, fmt.Errorf("dedup.storage: get client from %q: %w", id, err)
	}
	return client, nil
}

func (r *otlptxReceiver) closeResources(ctx context.Context) error {
	var err error
	if r.storageClient != nil {
		if r.dedup != nil {
			r.dedup.detach() // waits for writes in progress; later ones are skipped
		}
		err = r.storageClient.Close(ctx)
		r.storageClient = nil
	}
	if r.telemetry != nil {
		r.telemetry.Shutdown()
	}
	if r.codec != nil {
		r.codec.Close()
		r.codec = nil
	}
	return err
}

func (r *otlptxReceiver) shutdown(ctx context.Context) error {
	var errs []error
	r.inflightMu.Lock()
	r.closing = true
	r.inflightMu.Unlock()
	if r.cancelLoad != nil {
		r.cancelLoad()
	}
	<-r.loadDone
	if r.server != nil {
		errs = append(errs, r.server.Shutdown(ctx))
		r.serverDone.Wait()
	}
	// Handlers forward on a detached context once they have begun: wait for them, within
	// ctx, before storage is closed. If ctx ends first, their remaining dedup writes are
	// skipped (logged) instead of going to a closed client.
	idle := make(chan struct{})
	go func() {
		r.inflight.Wait()
		close(idle)
	}()
	select {
	case <-idle:
	case <-ctx.Done():
		r.logger.Warn("otlptx receiver shutdown: requests still running when the shutdown deadline passed; their dedup state is not persisted")
	}
	errs = append(errs, r.closeResources(ctx))
	return errors.Join(errs...)
}

// handleExport serves POST /v1/otlptx.
func (r *otlptxReceiver) handleExport(w http.ResponseWriter, req *http.Request) {
	r.inflightMu.Lock()
	if r.closing {
		r.inflightMu.Unlock()
		r.count(req.Context(), "shutting_down")
		w.Header().Set("Retry-After", retryAfterSeconds(r.cfg))
		writeResponse(w, http.StatusServiceUnavailable, &otlptx.Response{Message: "the receiver is shutting down; retry later"})
		return
	}
	r.inflight.Add(1)
	r.inflightMu.Unlock()
	defer r.inflight.Done()
	select {
	case <-r.dedupReady:
	case <-req.Context().Done():
		r.count(req.Context(), "dedup_loading")
		w.Header().Set("Retry-After", retryAfterSeconds(r.cfg))
		writeResponse(w, http.StatusServiceUnavailable, &otlptx.Response{Message: "duplicate-suppression state is still loading; retry later"})
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.reject(w, req, http.StatusMethodNotAllowed, "only POST is accepted", nil)
		return
	}
	version, comp, err := otlptx.ParseRequestContentType(req.Header.Get("Content-Type"))
	if err != nil {
		r.reject(w, req, http.StatusUnsupportedMediaType, fmt.Sprintf("want Content-Type %s or %s", otlptx.MediaTypeV2, otlptx.ContentType(otlptx.CompressionSnappy)), err)
		return
	}
	body, err := io.ReadAll(req.Body)
	r.telemetry.OtlptxReceiverBytesReceived.Add(req.Context(), int64(len(body)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			r.reject(w, req, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than max_request_body_size (%d bytes)", tooLarge.Limit), err)
			return
		}
		r.reject(w, req, http.StatusBadRequest, "could not read the request body", err)
		return
	}
	env, err := r.codec.DecodeRequest(body, version, comp)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, otlptx.ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		r.reject(w, req, status, err.Error(), err)
		return
	}
	batch, err := decodeSignals(env)
	if err != nil {
		r.reject(w, req, http.StatusBadRequest, err.Error(), err)
		return
	}

	key := dedupKey{sender: env.Header.SenderID, sequence: env.Header.Sequence}
	var entry *dedupEntry
	alreadyDelivered := uint8(0)
	if r.dedup != nil && key.sender != "" {
		var state lookupState
		entry, state = r.dedup.begin(key, batch.present)
		switch state {
		case lookupComplete:
			resp := entry.result
			resp.Duplicate = true
			r.logger.Debug("otlptx duplicate batch acknowledged, not forwarded",
				zap.String("sender_id", key.sender), zap.Uint64("sequence", key.sequence))
			r.telemetry.OtlptxReceiverDuplicatesSuppressed.Add(req.Context(), 1)
			r.telemetry.OtlptxReceiverEnvelopesAccepted.Add(req.Context(), 1)
			writeResponse(w, http.StatusOK, &resp)
			return
		case lookupInFlight:
			r.count(req.Context(), "in_flight")
			w.Header().Set("Retry-After", retryAfterSeconds(r.cfg))
			writeResponse(w, http.StatusServiceUnavailable, &otlptx.Response{Message: "the same batch is being processed; retry later"})
			return
		case lookupPartial:
			alreadyDelivered = entry.delivered
		}
	}

	// Once forwarding has begun it runs to the end and is recorded even if the sender goes away (killed, timed
	// out): the data may already be on its way downstream, and only the record keeps the sender's re-send from
	// being forwarded a second time.
	forwardCtx := context.WithoutCancel(req.Context())
	resp, retryable := r.forward(forwardCtx, batch, alreadyDelivered, func(bit uint8, result otlptx.SignalResult) {
		if entry == nil {
			return
		}
		if err := r.dedup.markDelivered(forwardCtx, entry, bit, result); err != nil {
			r.logger.Warn("otlptx dedup state not persisted; a retry of this batch after a restart would be forwarded again",
				zap.String("sender_id", key.sender), zap.Uint64("sequence", key.sequence), zap.Error(err))
		}
	})
	if entry != nil {
		r.dedup.release(entry)
	}
	if retryable != nil {
		resp.Message = retryable.Error()
		w.Header().Set("Retry-After", retryAfterSeconds(r.cfg))
		r.logger.Warn("otlptx batch refused by a pipeline, the sender will retry",
			zap.String("sender_id", key.sender), zap.Uint64("sequence", key.sequence), zap.Error(retryable))
		r.count(req.Context(), "pipeline_refused")
		writeResponse(w, http.StatusServiceUnavailable, &resp)
		return
	}
	r.telemetry.OtlptxReceiverEnvelopesAccepted.Add(req.Context(), 1)
	writeResponse(w, http.StatusOK, &resp)
}

// count records an envelope that was not accepted.
func (r *otlptxReceiver) count(ctx context.Context, reason string) {
	r.telemetry.OtlptxReceiverEnvelopesRejected.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}

func retryAfterSeconds(cfg *Config) string {
	return strconv.Itoa(max(1, int(cfg.RetryAfter.Seconds()+0.5)))
}

// decodedBatch holds an envelope's signals, decoded and checked against the header.
type decodedBatch struct {
	traces  ptrace.Traces
	metrics pmetric.Metrics
	logs    plog.Logs
	present uint8
}

// decodeSignals decodes every payload before anything is forwarded, so a malformed
// envelope is rejected as a whole.
func decodeSignals(env *otlptx.Envelope) (*decodedBatch, error) {
	b := &decodedBatch{}
	var ok bool
	var err error
	if b.traces, ok, err = env.DecodeTraces(); err != nil {
		return nil, err
	} else if ok {
		b.present |= deliveredTraces
	}
	if b.metrics, ok, err = env.DecodeMetrics(); err != nil {
		return nil, err
	} else if ok {
		b.present |= deliveredMetrics
	}
	if b.logs, ok, err = env.DecodeLogs(); err != nil {
		return nil, err
	} else if ok {
		b.present |= deliveredLogs
	}
	return b, nil
}

// forward sends every present, not yet delivered signal to its pipeline and calls done for each signal that is
// done (accepted or rejected for good) as soon as it is; retryable is the first non-permanent pipeline error.
func (r *otlptxReceiver) forward(ctx context.Context, b *decodedBatch, skip uint8, done func(bit uint8, result otlptx.SignalResult)) (resp otlptx.Response, retryable error) {
	r.mu.RLock()
	traces, metrics, logs := r.traces, r.metrics, r.logs
	r.mu.RUnlock()
	id := r.settings.ID.String()

	handle := func(bit uint8, name string, countItems func() int, result *otlptx.SignalResult, hasPipeline bool, consume func() error) {
		if b.present&bit == 0 || skip&bit != 0 {
			return
		}
		items := countItems()
		if !hasPipeline {
			result.Rejected = uint64(items)
			result.ErrorMessage = fmt.Sprintf("no %s pipeline uses receiver %s", name, id)
			done(bit, *result)
			return
		}
		err := consume()
		switch {
		case err == nil:
			result.Accepted = uint64(items)
			done(bit, *result)
		case consumererror.IsPermanent(err):
			result.Rejected = uint64(items)
			result.ErrorMessage = err.Error()
			done(bit, *result)
			r.logger.Warn("otlptx items rejected permanently by the pipeline",
				zap.String("signal", name), zap.Int("items", items), zap.Error(err))
		default:
			if retryable == nil {
				retryable = fmt.Errorf("%s pipeline: %w", name, err)
			}
		}
	}
	// The standard receiver telemetry (otelcol_receiver_accepted_* / refused_*) is
	// recorded per signal.
	handle(deliveredTraces, "traces", func() int { return b.traces.SpanCount() }, &resp.Traces, traces != nil,
		func() error {
			opCtx := r.obsrecv.StartTracesOp(ctx)
			err := traces.ConsumeTraces(opCtx, b.traces)
			r.obsrecv.EndTracesOp(opCtx, telemetryFormat, b.traces.SpanCount(), err)
			return err
		})
	handle(deliveredMetrics, "metrics", func() int { return b.metrics.DataPointCount() }, &resp.Metrics, metrics != nil,
		func() error {
			opCtx := r.obsrecv.StartMetricsOp(ctx)
			err := metrics.ConsumeMetrics(opCtx, b.metrics)
			r.obsrecv.EndMetricsOp(opCtx, telemetryFormat, b.metrics.DataPointCount(), err)
			return err
		})
	handle(deliveredLogs, "logs", func() int { return b.logs.LogRecordCount() }, &resp.Logs, logs != nil,
		func() error {
			opCtx := r.obsrecv.StartLogsOp(ctx)
			err := logs.ConsumeLogs(opCtx, b.logs)
			r.obsrecv.EndLogsOp(opCtx, telemetryFormat, b.logs.LogRecordCount(), err)
			return err
		})
	return resp, retryable
}

// reject answers a request that is not processed and logs why.
func (r *otlptxReceiver) reject(w http.ResponseWriter, req *http.Request, status int, message string, err error) {
	reason := "malformed"
	switch status {
	case http.StatusMethodNotAllowed:
		reason = "method"
	case http.StatusUnsupportedMediaType:
		reason = "content_type"
	case http.StatusRequestEntityTooLarge:
		reason = "too_large"
	}
	r.count(req.Context(), reason)
	host, _, _ := net.SplitHostPort(req.RemoteAddr)
	r.logger.Warn("otlptx request rejected",
		zap.Int("status", status), zap.String("reason", message), zap.String("peer", host),
		zap.String("sender_id", req.Header.Get(otlptx.HeaderSenderID)),
		zap.String("sequence", req.Header.Get(otlptx.HeaderSequence)), zap.Error(err))
	writeResponse(w, status, &otlptx.Response{Message: message})
}

func writeResponse(w http.ResponseWriter, status int, resp *otlptx.Response) {
	body := resp.Marshal()
	w.Header().Set("Content-Type", otlptx.MediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
