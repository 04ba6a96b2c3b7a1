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

const (
	signalTraces signal = iota
	signalMetrics
	signalLogs
	signalCount
)

// openBatch collects payloads until it is closed. Everyone who added data waits on
// closed and reads err: nil means the batch is queued (and persisted when a storage
// extension is configured).
type openBatch struct {
	payloads [signalCount][]byte
	counts   [signalCount]uint64
	bytes    int
	items    int
	timer    *time.Timer
	closed   chan struct{}
	err      error
}

// otlptxExporter is the one instance behind the traces, metrics and logs exporters
// created from the same configuration.
type otlptxExporter struct {
	cfg      *Config
	id       component.ID
	settings component.TelemetrySettings
	logger   *zap.Logger

	codec  *otlptx.Codec
	queue  batchQueue
	sender *sender

	mu      sync.Mutex
	current *openBatch
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

func (e *otlptxExporter) start(ctx context.Context, host component.Host) error {
	codec, err := otlptx.NewCodec(0)
	if err != nil {
		return err
	}
	e.codec = codec
	if e.cfg.Queue.Storage != nil {
		client, err := storageClient(ctx, host, *e.cfg.Queue.Storage, e.id)
		if err != nil {
			codec.Close()
			return err
		}
		q, err := newPersistentQueue(ctx, client, e.cfg.SenderID, e.cfg.Queue.QueueSize)
		if err != nil {
			_ = client.Close(ctx)
			codec.Close()
			return err
		}
		if n := q.pending(); n > 0 {
			e.logger.Info("otlptx exporter re-sends batches stored by a previous run",
				zap.Int("batches", n), zap.String("sender_id", q.senderID()))
		}
		e.queue = q
	} else {
		senderID := e.cfg.SenderID
		if senderID == "" {
			if senderID, err = newSenderID(); err != nil {
				codec.Close()
				return err
			}
		}
		e.queue = newMemoryQueue(senderID, e.cfg.Queue.QueueSize)
	}
	endpoints, err := newEndpoints(ctx, e.cfg, host, e.settings)
	if err == nil && len(endpoints) == 0 {
		err = errors.New("no endpoint configured")
	}
	if err != nil {
		_ = e.queue.close(ctx)
		codec.Close()
		return err
	}
	e.sender = &sender{
		logger:      e.logger,
		endpoints:   endpoints,
		cooldown:    e.cfg.EndpointCooldown,
		failover:    e.cfg.Balancing == balancingFailover,
		retry:       e.cfg.Retry,
		compression: e.cfg.compression(),
		senderID:    e.queue.senderID(),
		codec:       codec,
		v2Retry:     e.cfg.V2RetryInterval,
	}
	e.stop = make(chan struct{})
	e.sendCtx, e.cancelSend = context.WithCancel(context.WithoutCancel(ctx))
	for range e.cfg.Queue.NumConsumers {
		e.workers.Add(1)
		go e.sendLoop()
	}
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
		b, ok := e.queue.take(e.stop)
		if !ok {
			return
		}
		err := b.loadErr
		if err == nil {
			err = e.sender.deliver(e.sendCtx, e.stop, b)
		}
		switch {
		case err == nil:
		case errors.Is(err, errStopped) || errors.Is(err, context.Canceled):
			// Shutting down: a stored batch stays in storage and is re-sent (with the
			// same sequence) by the next run.
			if _, persistent := e.queue.(*persistentQueue); !persistent {
				e.logger.Error("otlptx batch lost at shutdown (in-memory queue)",
					zap.Uint64("sequence", b.sequence), zap.Uint64("items", b.items))
			}
			return
		default:
			e.logger.Error("otlptx batch dropped",
				zap.Uint64("sequence", b.sequence), zap.Uint64("items", b.items),
				zap.Bool("permanent", consumererror.IsPermanent(err)), zap.Error(err))
		}
		if err := e.queue.done(e.sendCtx, b); err != nil {
			e.logger.Error("otlptx queue bookkeeping failed; the batch may be sent again after a restart",
				zap.Uint64("sequence", b.sequence), zap.Error(err))
		}
	}
}

func (e *otlptxExporter) shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.stopped = true
	b := e.current
	e.current = nil
	if b != nil && b.timer != nil {
		b.timer.Stop()
	}
	e.mu.Unlock()
	var errs []error
	if b != nil {
		// Data already acknowledged to nobody yet: queue it so its callers get an answer.
		e.closeBatch(ctx, b)
	}
	if e.stop != nil {
		e.drainMemoryQueue(ctx)
		close(e.stop)
		e.cancelSend()
		e.workers.Wait()
	}
	if e.queue != nil {
		if n := e.queue.pending(); n > 0 {
			if _, persistent := e.queue.(*persistentQueue); persistent {
				e.logger.Info("otlptx batches kept in storage for the next run", zap.Int("batches", n))
			} else {
				e.logger.Error("otlptx batches lost at shutdown (in-memory queue; configure sending_queue.storage to keep them)", zap.Int("batches", n))
			}
		}
		errs = append(errs, e.queue.close(ctx))
	}
	if e.codec != nil {
		e.codec.Close()
	}
	return errors.Join(errs...)
}

// memoryDrainTimeout bounds how long shutdown waits for an in-memory queue to empty.
const memoryDrainTimeout = 5 * time.Second

// drainMemoryQueue gives the senders a bounded chance to deliver in-memory batches before
// they are lost; a persistent queue keeps them for the next run instead.
func (e *otlptxExporter) drainMemoryQueue(ctx context.Context) {
	if _, persistent := e.queue.(*persistentQueue); persistent {
		return
	}
	deadline := time.NewTimer(memoryDrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for e.queue.pending() > 0 {
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

// add appends one serialized request to the open batch and waits until that batch is
// queued. Serialized OTLP requests concatenate into a valid request, so batching is an
// append. Returning only after queueing (and persisting) is what keeps data that the
// pipeline considers delivered out of volatile memory.
func (e *otlptxExporter) add(ctx context.Context, sig signal, payload []byte, items int) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return errors.New("otlptx exporter is shut down")
	}
	var full *openBatch
	if e.current != nil && e.current.bytes+len(payload) > e.cfg.Batch.MaxBytes {
		full = e.detachLocked()
	}
	b := e.current
	if b == nil {
		b = &openBatch{closed: make(chan struct{})}
		e.current = b
		b.timer = time.AfterFunc(e.cfg.Batch.FlushInterval, func() { e.flushIfCurrent(b) })
	}
	b.payloads[sig] = append(b.payloads[sig], payload...)
	b.counts[sig] += uint64(items)
	b.bytes += len(payload)
	b.items += items
	var ready *openBatch
	if b.items >= e.cfg.Batch.MaxItems || b.bytes >= e.cfg.Batch.MaxBytes {
		ready = e.detachLocked()
	}
	e.mu.Unlock()

	if full != nil {
		e.closeBatch(ctx, full)
	}
	if ready != nil {
		e.closeBatch(ctx, ready)
	}
	select {
	case <-b.closed:
		return b.err
	case <-ctx.Done():
		// The data stays in the batch and will still be queued; the caller may retry and
		// create a duplicate with a new sequence.
		return fmt.Errorf("waiting for the otlptx batch to be queued: %w", ctx.Err())
	}
}

func (e *otlptxExporter) detachLocked() *openBatch {
	b := e.current
	e.current = nil
	if b != nil && b.timer != nil {
		b.timer.Stop()
	}
	return b
}

func (e *otlptxExporter) flushIfCurrent(b *openBatch) {
	e.mu.Lock()
	if e.current != b {
		e.mu.Unlock()
		return
	}
	e.current = nil
	e.mu.Unlock()
	e.closeBatch(context.Background(), b)
}

// closeBatch encodes the batch with its sequence number, queues it and wakes its callers.
func (e *otlptxExporter) closeBatch(ctx context.Context, b *openBatch) {
	defer close(b.closed)
	items := uint64(b.items)
	b.err = e.queue.put(context.WithoutCancel(ctx), items, func(seq uint64) ([]byte, error) {
		env := &otlptx.Envelope{
			Header: otlptx.Header{
				FormatVersion:   otlptx.FormatVersion,
				SenderID:        e.queue.senderID(),
				Sequence:        seq,
				CreatedUnixNano: uint64(time.Now().UnixNano()),
				SpanCount:       b.counts[signalTraces],
				DataPointCount:  b.counts[signalMetrics],
				LogRecordCount:  b.counts[signalLogs],
			},
			Traces:  b.payloads[signalTraces],
			Metrics: b.payloads[signalMetrics],
			Logs:    b.payloads[signalLogs],
		}
		if e.cfg.FormatVersion == int(otlptx.FormatVersion2) {
			// The batch is collected as OTLP requests (appending is how batches grow);
			// it is converted to the columnar format once, when it is closed.
			v2, err := env.ToV2()
			if err != nil {
				return nil, fmt.Errorf("convert batch to OTLP-TX v2: %w", err)
			}
			env = v2
		}
		return e.codec.Encode(env, e.cfg.compression())
	})
	if b.err != nil {
		e.logger.Warn("otlptx batch refused", zap.Uint64("items", items), zap.Error(b.err))
	}
}
