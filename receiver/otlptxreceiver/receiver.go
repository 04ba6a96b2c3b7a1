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
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
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
	codec         *otlptx.Codec
	dedup         *dedupCache
	storageClient storage.Client
	server        *http.Server
	serverDone    sync.WaitGroup
	// addr is the address the server listens on (useful with port 0).
	addr net.Addr
}

func newReceiver(cfg *Config, set receiver.Settings) *otlptxReceiver {
	return &otlptxReceiver{cfg: cfg, settings: set, logger: set.Logger}
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
	codec, err := otlptx.NewCodec(r.cfg.MaxDecodedSize)
	if err != nil {
		return err
	}
	r.codec = codec
	if r.cfg.Dedup.Enabled {
		r.dedup = newDedupCache(r.cfg.Dedup.MaxEntries, r.cfg.Dedup.Window)
		if r.cfg.Dedup.Storage != nil {
			if err := r.loadDedupState(ctx, host); err != nil {
				r.codec.Close()
				return err
			}
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

func (r *otlptxReceiver) loadDedupState(ctx context.Context, host component.Host) error {
	id := *r.cfg.Dedup.Storage
	ext, found := host.GetExtensions()[id]
	if !found {
		return fmt.Errorf("dedup.storage: extension %q not found; add it to service.extensions", id)
	}
	storageExt, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("dedup.storage: extension %q is not a storage extension", id)
	}
	client, err := storageExt.GetClient(ctx, component.KindReceiver, r.settings.ID, "dedup")
	if err != nil {
		return fmt.Errorf("dedup.storage: get client from %q: %w", id, err)
	}
	restored, err := r.dedup.load(ctx, client)
	if errors.Is(err, errRingResized) {
		r.logger.Warn("otlptx dedup state discarded", zap.Error(err))
		err = nil
	}
	if err != nil {
		_ = client.Close(ctx)
		return err
	}
	r.storageClient = client
	r.logger.Info("otlptx dedup state restored", zap.Int("batches", restored))
	return nil
}

func (r *otlptxReceiver) closeResources(ctx context.Context) error {
	var err error
	if r.storageClient != nil {
		err = r.storageClient.Close(ctx)
		r.storageClient = nil
	}
	if r.codec != nil {
		r.codec.Close()
		r.codec = nil
	}
	return err
}

func (r *otlptxReceiver) shutdown(ctx context.Context) error {
	var errs []error
	if r.server != nil {
		errs = append(errs, r.server.Shutdown(ctx))
		r.serverDone.Wait()
	}
	errs = append(errs, r.closeResources(ctx))
	return errors.Join(errs...)
}

// handleExport serves POST /v1/otlptx.
func (r *otlptxReceiver) handleExport(w http.ResponseWriter, req *http.Request) {
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
			writeResponse(w, http.StatusOK, &resp)
			return
		case lookupInFlight:
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
		writeResponse(w, http.StatusServiceUnavailable, &resp)
		return
	}
	writeResponse(w, http.StatusOK, &resp)
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
