package otlptxexporter // import "github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

type signal int

func (s signal) String() string {
	switch s {
	case signalTraces:
		return "traces"
	case signalMetrics:
		return "metrics"
	default:
		return "logs"
	}
}

const (
	signalTraces signal = iota
	signalMetrics
	signalLogs
	signalCount
)

// otlptxExporter is the one instance behind the traces, metrics and logs exporters
// created from the same configuration.
type otlptxExporter struct {
	cfg      *Config
	id       component.ID
	settings component.TelemetrySettings
	logger   *zap.Logger

	codec     *otlptx.Codec
	queue     *queue
	sender    *sender
	telemetry *exporterTelemetry

	mu      sync.Mutex
	started bool
	stopped bool

	stop    chan struct{}
	workers sync.WaitGroup
	// sendCtx is cancelled at shutdown to abort in-flight HTTP requests.
	sendCtx    context.Context
	cancelSend context.CancelFunc
}

func newExporter(cfg *Config, id component.ID, settings component.TelemetrySettings) *otlptxExporter {
	return &otlptxExporter{cfg: cfg, id: id, settings: settings, logger: settings.Logger}
}

// Start and Shutdown make the instance a component.Component for the shared map.
func (e *otlptxExporter) Start(ctx context.Context, host component.Host) error {
	return e.start(ctx, host)
}

// Shutdown is safe without Start and when called twice.
func (e *otlptxExporter) Shutdown(ctx context.Context) error { return e.shutdown(ctx) }

func (e *otlptxExporter) start(ctx context.Context, host component.Host) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.stopped {
		return nil
	}
	tel, err := newExporterTelemetry(e.settings)
	if err != nil {
		return err
	}
	codec, err := otlptx.NewCodec(0)
	if err != nil {
		tel.shutdown()
		return err
	}
	fail := func(err error) error {
		codec.Close()
		tel.shutdown()
		return err
	}
	var dropOld [signalCount]bool
	dropOld[signalMetrics] = e.cfg.Queue.WhenFull.Metrics == policyDropOldest
	q := newQueue(queueSettings{
		capacity: e.cfg.Queue.QueueSize,
		dropOld:  dropOld,
		maxItems: e.cfg.Batch.MaxItems,
		maxBytes: e.cfg.Batch.MaxBytes,
		// A sender waits (the pipeline calls do not) so that light traffic still makes
		// envelopes of useful size: fewer requests, and fewer dedup entries at the gateway.
		flushTimeout: e.cfg.Batch.FlushTimeout,
		encode:       e.encodeBatch,
		onDropped: func(sig signal, items int, reason string) {
			tel.dropped(sig, int64(items), reason)
			e.logger.Warn("otlptx queued data dropped", zap.String("signal", sig.String()),
				zap.Int("items", items), zap.String("reason", reason))
		},
	})
	if e.cfg.Queue.Storage != nil {
		client, err := storageClient(ctx, host, *e.cfg.Queue.Storage, e.id)
		if err != nil {
			return fail(err)
		}
		if err := q.openStorage(ctx, client, e.cfg.SenderID); err != nil {
			_ = client.Close(ctx)
			return fail(err)
		}
	} else {
		senderID := e.cfg.SenderID
		if senderID == "" {
			if senderID, err = newSenderID(); err != nil {
				return fail(err)
			}
		}
		q.openMemory(senderID)
	}
	endpoints, err := newEndpoints(ctx, e.cfg, host, e.settings)
	if err == nil && len(endpoints) == 0 {
		err = errors.New("no endpoint configured")
	}
	if err != nil {
		_ = q.close(ctx)
		return fail(err)
	}
	if err := tel.registerQueue(q, e.cfg.Queue.QueueSize); err != nil {
		_ = q.close(ctx)
		return fail(err)
	}
	e.codec, e.queue, e.telemetry = codec, q, tel
	e.sender = &sender{
		logger:      e.logger,
		endpoints:   endpoints,
		cooldown:    e.cfg.EndpointCooldown,
		failover:    e.cfg.Balancing == balancingFailover,
		retry:       e.cfg.Retry,
		compression: e.cfg.compression(),
		senderID:    q.senderID(),
		codec:       codec,
		v2Retry:     e.cfg.V2RetryInterval,
		onRetry:     tel.retried,
	}
	e.stop = make(chan struct{})
	e.sendCtx, e.cancelSend = context.WithCancel(context.WithoutCancel(ctx))
	if q.client != nil {
		// What a previous run stored is read in the background: Start does not depend on
		// its size, and senders pick the stored batches up as they are found.
		e.workers.Add(1)
		go func() {
			defer e.workers.Done()
			batches, records, err := q.load(e.sendCtx, e.stop)
			switch {
			case errors.Is(err, errStopped):
			case err != nil:
				e.logger.Error("otlptx exporter could not read all data stored by a previous run; it stays stored", zap.Error(err))
			case batches+records > 0:
				e.logger.Info("otlptx exporter re-sends data stored by a previous run",
					zap.Int("batches", batches), zap.Int("requests", records), zap.String("sender_id", q.senderID()))
			}
		}()
	}
	for range e.cfg.Queue.NumConsumers {
		e.workers.Add(1)
		go e.sendLoop()
	}
	e.started = true
	return nil
}

func storageClient(ctx context.Context, host component.Host, storageID, ownID component.ID) (storage.Client, error) {
	ext, found := host.GetExtensions()[storageID]
	if !found {
		return nil, fmt.Errorf("sending_queue.storage: extension %q not found; add it to service.extensions", storageID)
	}
	storageExt, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("sending_queue.storage: extension %q is not a storage extension", storageID)
	}
	client, err := storageExt.GetClient(ctx, component.KindExporter, ownID, "otlptx")
	if err != nil {
		return nil, fmt.Errorf("sending_queue.storage: get client from %q: %w", storageID, err)
	}
	return client, nil
}

func (e *otlptxExporter) sendLoop() {
	defer e.workers.Done()
	for {
		b, ok := e.queue.next(e.sendCtx, e.stop)
		if !ok {
			return
		}
		err := b.loadErr
		if err == nil {
			err = e.sender.deliver(e.sendCtx, e.stop, b)
		}
		switch {
		case err == nil:
			e.telemetry.delivered(b)
		case errors.Is(err, errStopped) || errors.Is(err, context.Canceled):
			// Shutting down: a stored batch stays in storage and is re-sent (with the
			// same sequence) by the next run.
			if e.queue.client == nil {
				e.logger.Error("otlptx batch lost at shutdown (in-memory queue)",
					zap.Uint64("sequence", b.sequence), zap.Uint64("items", b.items()))
				e.telemetry.droppedBatch(b, "shutdown")
			}
			return
		default:
			e.logger.Error("otlptx batch dropped",
				zap.Uint64("sequence", b.sequence), zap.Uint64("items", b.items()),
				zap.Bool("permanent", consumererror.IsPermanent(err)), zap.Error(err))
			e.telemetry.failed(b)
		}
		if err := e.queue.done(e.sendCtx, b); err != nil {
			e.logger.Error("otlptx queue bookkeeping failed; the batch may be sent again after a restart",
				zap.Uint64("sequence", b.sequence), zap.Error(err))
		}
	}
}

// shutdown is safe without start and when called more than once.
func (e *otlptxExporter) shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	started := e.started
	e.mu.Unlock()
	if !started {
		return nil
	}
	e.queue.markClosed()
	e.drainMemoryQueue(ctx)
	close(e.stop)
	e.cancelSend()
	e.workers.Wait()
	if n := e.queue.heldCount(); n > 0 {
		if e.queue.client != nil {
			e.logger.Info("otlptx requests kept in storage for the next run", zap.Int("requests", n))
		} else {
			e.logger.Error("otlptx requests lost at shutdown (in-memory queue; configure sending_queue.storage to keep them)", zap.Int("requests", n))
		}
	}
	err := e.queue.close(ctx)
	e.codec.Close()
	e.telemetry.shutdown()
	return err
}

// memoryDrainTimeout bounds how long shutdown waits for an in-memory queue to empty.
const memoryDrainTimeout = 5 * time.Second

// drainMemoryQueue gives the senders a bounded chance to deliver in-memory data before
// it is lost; a persistent queue keeps it for the next run instead.
func (e *otlptxExporter) drainMemoryQueue(ctx context.Context) {
	if e.queue.client != nil {
		return
	}
	deadline := time.NewTimer(memoryDrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for e.queue.heldCount() > 0 {
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (e *otlptxExporter) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	if td.SpanCount() == 0 {
		return nil
	}
	payload, err := otlptx.MarshalTraces(td)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.add(ctx, signalTraces, payload, td.SpanCount())
}

func (e *otlptxExporter) consumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if md.DataPointCount() == 0 {
		return nil
	}
	payload, err := otlptx.MarshalMetrics(md)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.add(ctx, signalMetrics, payload, md.DataPointCount())
}

func (e *otlptxExporter) consumeLogs(ctx context.Context, ld plog.Logs) error {
	if ld.LogRecordCount() == 0 {
		return nil
	}
	payload, err := otlptx.MarshalLogs(ld)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return e.add(ctx, signalLogs, payload, ld.LogRecordCount())
}

// add queues one serialized request: one storage write, then the call returns. Batches
// are formed from the queue by the senders (serialized OTLP requests concatenate into a
// valid request, so batching is an append).
func (e *otlptxExporter) add(ctx context.Context, sig signal, payload []byte, items int) error {
	e.mu.Lock()
	q, tel := e.queue, e.telemetry
	e.mu.Unlock()
	if q == nil {
		return errors.New("otlptx exporter is not started")
	}
	if err := q.put(ctx, sig, payload, items); err != nil {
		if errors.Is(err, errQueueFull) {
			tel.refused(sig, int64(items))
		}
		return err
	}
	tel.queued(sig, int64(items))
	return nil
}

// encodeBatch builds the envelope of a batch formed from the queue.
func (e *otlptxExporter) encodeBatch(seq uint64, payloads [signalCount][]byte, counts [signalCount]uint64) ([]byte, error) {
	env := &otlptx.Envelope{
		Header: otlptx.Header{
			FormatVersion:   otlptx.FormatVersion,
			SenderID:        e.queue.senderID(),
			Sequence:        seq,
			CreatedUnixNano: uint64(time.Now().UnixNano()),
			SpanCount:       counts[signalTraces],
			DataPointCount:  counts[signalMetrics],
			LogRecordCount:  counts[signalLogs],
		},
		Traces:  payloads[signalTraces],
		Metrics: payloads[signalMetrics],
		Logs:    payloads[signalLogs],
	}
	if e.cfg.FormatVersion == int(otlptx.FormatVersion2) {
		// Requests are queued as OTLP (one write per call); a batch is converted to the
		// columnar format once, when it is formed.
		v2, err := env.ToV2()
		if err != nil {
			return nil, fmt.Errorf("convert batch to OTLP-TX v2: %w", err)
		}
		env = v2
	}
	return e.codec.Encode(env, e.cfg.compression())
}
