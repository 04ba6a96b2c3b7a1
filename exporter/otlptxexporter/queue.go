package otlptxexporter // import "github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter"

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// errQueueFull is returned to the pipeline when no batch can be queued: the gateway is
// unreachable or slower than the incoming data for longer than the queue can absorb.
var errQueueFull = errors.New("otlptx sending queue is full")

// queuedBatch is one closed, encoded batch waiting for delivery.
type queuedBatch struct {
	sequence uint64
	body     []byte // compressed envelope, byte-identical on every (re)send
	items    uint64
	loadErr  error // the persistent queue could not read the body back
}

// batchQueue holds encoded batches until they are delivered. put assigns the sequence
// number and, for the persistent queue, writes the batch and the next sequence number to
// storage in one transaction before it returns: data is acknowledged to the pipeline only
// after that, and a batch re-sent after a restart carries the same sequence.
type batchQueue interface {
	senderID() string
	put(ctx context.Context, items uint64, encode func(sequence uint64) ([]byte, error)) error
	// take blocks until a batch is ready or stop is closed.
	take(stop <-chan struct{}) (*queuedBatch, bool)
	// done forgets a delivered (or permanently rejected) batch.
	done(ctx context.Context, b *queuedBatch) error
	// pending is the number of batches not yet done.
	pending() int
	close(ctx context.Context) error
}

// newSenderID returns a random identifier for a sender without a configured one.
func newSenderID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate sender id: %w", err)
	}
	return "otlptx-" + hex.EncodeToString(b[:]), nil
}

// memoryQueue keeps batches in memory: they are lost if the process stops.
type memoryQueue struct {
	id       string
	capacity int
	ready    chan *queuedBatch

	mu           sync.Mutex
	nextSequence uint64
	inQueue      int
}

func newMemoryQueue(senderID string, capacity int) *memoryQueue {
	return &memoryQueue{id: senderID, capacity: capacity, ready: make(chan *queuedBatch, capacity), nextSequence: 1}
}

func (q *memoryQueue) senderID() string { return q.id }

func (q *memoryQueue) put(_ context.Context, items uint64, encode func(uint64) ([]byte, error)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.inQueue >= q.capacity {
		return fmt.Errorf("%w (%d batches waiting)", errQueueFull, q.inQueue)
	}
	seq := q.nextSequence
	body, err := encode(seq)
	if err != nil {
		return err
	}
	q.nextSequence++
	q.inQueue++
	q.ready <- &queuedBatch{sequence: seq, body: body, items: items}
	return nil
}

func (q *memoryQueue) take(stop <-chan struct{}) (*queuedBatch, bool) {
	select {
	case b := <-q.ready:
		return b, true
	case <-stop:
		return nil, false
	}
}

func (q *memoryQueue) done(context.Context, *queuedBatch) error {
	q.mu.Lock()
	q.inQueue--
	q.mu.Unlock()
	return nil
}

func (q *memoryQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inQueue
}

func (q *memoryQueue) close(context.Context) error { return nil }

// persistentQueue keeps batches in a storage extension client. Keys:
//
//	meta            JSON queueMeta (sender id, next sequence, lowest pending sequence)
//	batch/<seq>     the encoded batch
const (
	metaKey        = "meta"
	batchKeyPrefix = "batch/"
)

type queueMeta struct {
	SenderID     string `json:"sender_id"`
	NextSequence uint64 `json:"next_sequence"`
	// LowestPending is where recovery starts looking for batches left by a previous run.
	LowestPending uint64 `json:"lowest_pending"`
}

type persistentQueue struct {
	client   storage.Client
	capacity int
	ready    chan *queuedBatch

	mu      sync.Mutex
	meta    queueMeta
	waiting map[uint64]uint64 // sequence -> items, every batch stored and not done
}

func batchKey(seq uint64) string { return batchKeyPrefix + strconv.FormatUint(seq, 10) }

// newPersistentQueue loads the queue state from client and re-queues every batch a
// previous run left undelivered (with its original sequence number).
func newPersistentQueue(ctx context.Context, client storage.Client, configuredSenderID string, capacity int) (*persistentQueue, error) {
	q := &persistentQueue{client: client, capacity: capacity, waiting: map[uint64]uint64{}}
	raw, err := client.Get(ctx, metaKey)
	if err != nil {
		return nil, fmt.Errorf("read otlptx queue metadata: %w", err)
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &q.meta); err != nil {
			return nil, fmt.Errorf("decode otlptx queue metadata %q: %w", raw, err)
		}
	}
	if q.meta.NextSequence == 0 {
		q.meta.NextSequence = 1
		q.meta.LowestPending = 1
	}
	switch {
	case configuredSenderID != "":
		// Batches stored under an older id keep the id recorded inside their envelope.
		q.meta.SenderID = configuredSenderID
	case q.meta.SenderID == "":
		if q.meta.SenderID, err = newSenderID(); err != nil {
			return nil, err
		}
	}
	var recovered []*queuedBatch
	for seq := q.meta.LowestPending; seq < q.meta.NextSequence; seq++ {
		body, err := client.Get(ctx, batchKey(seq))
		if err != nil {
			return nil, fmt.Errorf("read stored batch %d: %w", seq, err)
		}
		if body == nil {
			continue
		}
		// The body is read again when the batch is sent: memory holds only sequences.
		recovered = append(recovered, &queuedBatch{sequence: seq})
		q.waiting[seq] = 0
	}
	// The queue may have been shrunk by configuration; recovered batches always fit.
	q.ready = make(chan *queuedBatch, max(capacity, len(recovered)))
	for _, b := range recovered {
		q.ready <- b
	}
	if err := q.writeMeta(ctx); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *persistentQueue) senderID() string { return q.meta.SenderID }

// pending returns the number of stored batches not yet delivered.
func (q *persistentQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

func (q *persistentQueue) lowestPendingLocked() uint64 {
	lowest := q.meta.NextSequence
	for seq := range q.waiting {
		lowest = min(lowest, seq)
	}
	return lowest
}

func (q *persistentQueue) metaOpLocked() (*storage.Operation, error) {
	q.meta.LowestPending = q.lowestPendingLocked()
	raw, err := json.Marshal(q.meta)
	if err != nil {
		return nil, fmt.Errorf("encode otlptx queue metadata: %w", err)
	}
	return storage.SetOperation(metaKey, raw), nil
}

func (q *persistentQueue) writeMeta(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	op, err := q.metaOpLocked()
	if err != nil {
		return err
	}
	if err := q.client.Batch(ctx, op); err != nil {
		return fmt.Errorf("write otlptx queue metadata: %w", err)
	}
	return nil
}

func (q *persistentQueue) put(ctx context.Context, items uint64, encode func(uint64) ([]byte, error)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) >= q.capacity {
		return fmt.Errorf("%w (%d batches stored and waiting)", errQueueFull, len(q.waiting))
	}
	seq := q.meta.NextSequence
	body, err := encode(seq)
	if err != nil {
		return err
	}
	q.meta.NextSequence++
	q.waiting[seq] = items
	metaOp, err := q.metaOpLocked()
	if err == nil {
		// The batch and the advanced sequence are written in one transaction: after a
		// crash either both exist or neither, so a sequence is never reused.
		err = q.client.Batch(ctx, storage.SetOperation(batchKey(seq), body), metaOp)
	}
	if err != nil {
		delete(q.waiting, seq)
		q.meta.NextSequence-- // nothing was written, the sequence can be reused
		return fmt.Errorf("persist otlptx batch %d: %w", seq, err)
	}
	// Only the sequence stays in memory; the body is read back from storage when sent,
	// so a long outage fills the disk, not the heap.
	q.ready <- &queuedBatch{sequence: seq, items: items}
	return nil
}

// take returns the next batch with its body read from storage. A batch whose body
// cannot be read is returned with a nil body and loadErr set; the caller drops it.
func (q *persistentQueue) take(stop <-chan struct{}) (*queuedBatch, bool) {
	select {
	case b := <-q.ready:
		body, err := q.client.Get(context.Background(), batchKey(b.sequence))
		switch {
		case err != nil:
			b.loadErr = fmt.Errorf("read stored batch %d: %w", b.sequence, err)
		case body == nil:
			b.loadErr = fmt.Errorf("stored batch %d is missing", b.sequence)
		}
		return &queuedBatch{sequence: b.sequence, items: b.items, body: body, loadErr: b.loadErr}, true
	case <-stop:
		return nil, false
	}
}

func (q *persistentQueue) done(ctx context.Context, b *queuedBatch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.waiting, b.sequence)
	metaOp, err := q.metaOpLocked()
	if err != nil {
		return err
	}
	if err := q.client.Batch(ctx, storage.DeleteOperation(batchKey(b.sequence)), metaOp); err != nil {
		return fmt.Errorf("delete delivered otlptx batch %d: %w", b.sequence, err)
	}
	return nil
}

func (q *persistentQueue) close(ctx context.Context) error {
	return q.client.Close(ctx)
}
