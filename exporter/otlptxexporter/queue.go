package otlptxexporter // import "github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter"

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// errQueueFull is returned to the pipeline when a request cannot be queued: the gateway is
// unreachable or slower than the incoming data for longer than the queue can absorb. It is
// not permanent: the caller keeps the data and may retry.
var errQueueFull = errors.New("otlptx sending queue is full")

// errQueueClosed is returned by put after shutdown.
var errQueueClosed = errors.New("otlptx exporter is shut down")

// The queue works in two stages (see the README, "How data moves"):
//
//  1. put: one pipeline request is one record, written to storage in one transaction before
//     the pipeline call returns (fast acknowledgement: no waiting for a batch or a timer).
//  2. form: a sender that is free takes the queued records (oldest first, up to the batch
//     limits), gives the batch the next sequence number and writes the batch's composition
//     (its record numbers) and the advanced counters in one transaction before the first
//     attempt. A retry re-sends the same encoded bytes; a restart re-encodes the same records
//     under the same sequence. Either way the gateway's duplicate suppression, keyed by
//     (sender id, sequence), gives exactly once. Records are deleted with their batch once it
//     is delivered, so the data is written once per item and a batch's record is small.
//
// Storage keys:
//
//	meta       JSON queueMeta
//	r/<n>      record n: signal, item count, OTLP request (protobuf)
//	b/<seq>    batch seq: items per signal, record numbers
//	batch/<seq> a batch stored by the previous layout (encoded envelope only)
const (
	metaKey          = "meta"
	recordKeyPrefix  = "r/"
	batchKeyPrefix   = "b/"
	legacyKeyPrefix  = "batch/"
	queueLayout      = 2
	recordLeaseBlock = 4096
	// loadChunk is how many keys the background loader reads in one storage call.
	loadChunk = 256
)

func recordKey(n uint64) string        { return recordKeyPrefix + strconv.FormatUint(n, 10) }
func batchKey(seq uint64) string       { return batchKeyPrefix + strconv.FormatUint(seq, 10) }
func legacyBatchKey(seq uint64) string { return legacyKeyPrefix + strconv.FormatUint(seq, 10) }

type queueMeta struct {
	SenderID     string `json:"sender_id"`
	NextSequence uint64 `json:"next_sequence"`
	// LowestPending is the lowest sequence that may still be stored.
	LowestPending uint64 `json:"lowest_pending"`
	// Layout is 2 for this layout; 0 for the previous one (batches under batch/<seq>).
	Layout int `json:"layout,omitempty"`
	// RecordLease: record numbers below it may be in use. A run takes numbers from the
	// previous lease on and writes a new lease before it passes it, so a number is never
	// reused after a crash while one meta write covers thousands of records.
	RecordLease uint64 `json:"record_lease,omitempty"`
	// LowestRecord is the lowest record number that may still be stored.
	LowestRecord uint64 `json:"lowest_record,omitempty"`
	// LegacyBelow: batches with a lower sequence may be stored by the previous layout.
	LegacyBelow uint64 `json:"legacy_below,omitempty"`
}

// record is one queued pipeline request.
type record struct {
	num     uint64
	sig     signal
	items   int
	size    int
	payload []byte // nil: read back from storage when the record is batched
	at      time.Time
}

// queuedBatch is one formed, encoded batch waiting for delivery.
type queuedBatch struct {
	sequence uint64
	body     []byte   // compressed envelope, byte-identical on every retry; nil: build it from nums
	legacy   bool     // stored by the previous layout: body is stored, nums is empty
	nums     []uint64 // the batch's record numbers
	records  int
	counts   [signalCount]uint64
	rejected [signalCount]uint64 // per signal, as the gateway answered the accepted attempt
	oldest   time.Time
	loadErr  error
}

func (b *queuedBatch) items() uint64 { return b.counts[0] + b.counts[1] + b.counts[2] }

// encodeBatch is called by form with the batch's sequence number and its records' payloads
// grouped by signal; it returns the encoded envelope.
type encodeBatch func(sequence uint64, payloads [signalCount][]byte, counts [signalCount]uint64) ([]byte, error)

// queue holds records and batches, in memory (client == nil) or in a storage client.
type queue struct {
	client   storage.Client
	capacity int
	dropOld  [signalCount]bool
	maxItems int
	maxBytes int
	// flushTimeout: a sender forms a batch smaller than the limits only once its oldest
	// request has waited this long (0: at once).
	flushTimeout time.Duration
	encode       encodeBatch
	onDropped    func(sig signal, items int, reason string)

	// notify wakes one waiting sender when there is work; closing wakes them all at
	// shutdown (markClosed), so no sender keeps waiting for flush_timeout.
	notify  chan struct{}
	closing chan struct{}

	// formMu is held while a batch is formed and while meta is written: every meta write
	// carries a snapshot taken under it, so a stale snapshot never overwrites a newer one.
	formMu sync.Mutex

	mu         sync.Mutex
	meta       queueMeta
	persisted  uint64 // RecordLease as last written
	nextRecord uint64
	fifo       []*record           // queued records by number
	writing    map[uint64]struct{} // numbers whose write is in progress
	ready      []*queuedBatch      // stored batches waiting for a sender (from a previous run)
	pending    map[uint64]*queuedBatch
	held       int // records queued or in pending batches
	closed     bool
	// While the background loader runs, the stored ranges not yet read are
	// [loadBatch, loadBatchEnd) and [loadRecord, loadRecordEnd).
	loading                   bool
	loadBatch, loadBatchEnd   uint64
	loadRecord, loadRecordEnd uint64
}

type queueSettings struct {
	capacity     int
	dropOld      [signalCount]bool
	maxItems     int
	maxBytes     int
	flushTimeout time.Duration
	encode       encodeBatch
	onDropped    func(sig signal, items int, reason string)
}

func newSenderID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate sender id: %w", err)
	}
	return "otlptx-" + hex.EncodeToString(b[:]), nil
}

func newQueue(s queueSettings) *queue {
	return &queue{
		capacity: s.capacity, dropOld: s.dropOld, maxItems: s.maxItems, maxBytes: s.maxBytes,
		flushTimeout: s.flushTimeout, encode: s.encode, onDropped: s.onDropped,
		notify:  make(chan struct{}, 1),
		closing: make(chan struct{}),
		writing: map[uint64]struct{}{},
		pending: map[uint64]*queuedBatch{},
	}
}

// openMemory prepares an in-memory queue.
func (q *queue) openMemory(senderID string) {
	q.meta = queueMeta{SenderID: senderID, NextSequence: 1, LowestPending: 1, Layout: queueLayout}
	q.nextRecord = 1
}

// openStorage reads the queue's metadata (one read and one write, whatever is stored) and
// returns; what a previous run left is read by load in the background.
func (q *queue) openStorage(ctx context.Context, client storage.Client, configuredSenderID string) error {
	raw, err := client.Get(ctx, metaKey)
	if err != nil {
		return fmt.Errorf("read otlptx queue metadata: %w", err)
	}
	var m queueMeta
	if raw != nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("decode otlptx queue metadata %q: %w", raw, err)
		}
	}
	if m.NextSequence == 0 {
		m.NextSequence, m.LowestPending = 1, 1
	}
	switch {
	case configuredSenderID != "":
		// Batches stored under an older id keep the id recorded inside their envelope.
		m.SenderID = configuredSenderID
	case m.SenderID == "":
		if m.SenderID, err = newSenderID(); err != nil {
			return err
		}
	}
	if m.Layout < queueLayout {
		m.LegacyBelow = m.NextSequence
	}
	if m.RecordLease == 0 {
		m.RecordLease, m.LowestRecord = 1, 1
	}
	q.client = client
	q.loading = true
	q.loadBatch, q.loadBatchEnd = m.LowestPending, m.NextSequence
	q.loadRecord, q.loadRecordEnd = m.LowestRecord, m.RecordLease
	// This run numbers its records from the previous lease on.
	q.nextRecord = m.RecordLease
	m.RecordLease += recordLeaseBlock
	m.Layout = queueLayout
	q.meta = m
	q.persisted = m.RecordLease
	if err := q.writeMetaLocked(ctx, nil); err != nil {
		q.client = nil
		return err
	}
	return nil
}

func (q *queue) senderID() string { return q.meta.SenderID }

// lowestLocked recomputes the lowest sequence and record number that may be stored.
func (q *queue) lowestLocked() (batch, rec uint64) {
	batch = q.meta.NextSequence
	for seq := range q.pending {
		batch = min(batch, seq)
	}
	rec = q.nextRecord
	if len(q.fifo) > 0 {
		rec = min(rec, q.fifo[0].num)
	}
	for n := range q.writing {
		rec = min(rec, n)
	}
	if q.loading {
		batch = min(batch, q.loadBatch)
		rec = min(rec, q.loadRecord)
	}
	return batch, rec
}

// metaOpLocked snapshots the metadata; callers hold formMu and mu.
func (q *queue) metaOpLocked() (*storage.Operation, error) {
	q.meta.LowestPending, q.meta.LowestRecord = q.lowestLocked()
	raw, err := json.Marshal(q.meta)
	if err != nil {
		return nil, fmt.Errorf("encode otlptx queue metadata: %w", err)
	}
	return storage.SetOperation(metaKey, raw), nil
}

// writeMetaLocked writes the metadata with further operations in one transaction.
func (q *queue) writeMetaLocked(ctx context.Context, ops []*storage.Operation) error {
	op, err := q.metaOpLocked()
	if err != nil {
		return err
	}
	if err := q.client.Batch(ctx, append(ops, op)...); err != nil {
		return fmt.Errorf("write otlptx queue metadata: %w", err)
	}
	return nil
}

func (q *queue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// encodeRecord is the stored form of a record: signal, item count, payload.
func encodeRecord(sig signal, items int, payload []byte) []byte {
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(payload))
	out = append(out, byte(sig))
	out = binary.AppendUvarint(out, uint64(items))
	return append(out, payload...)
}

func decodeRecord(raw []byte) (sig signal, items int, payload []byte, err error) {
	if len(raw) < 2 || signal(raw[0]) >= signalCount {
		return 0, 0, nil, errors.New("malformed stored record")
	}
	n, l := binary.Uvarint(raw[1:])
	if l <= 0 {
		return 0, 0, nil, errors.New("malformed stored record item count")
	}
	return signal(raw[0]), int(n), raw[1+l:], nil
}

// encodeStoredBatch is a batch's composition: items per signal, then its record numbers.
func encodeStoredBatch(b *queuedBatch) []byte {
	out := make([]byte, 0, (int(signalCount)+1+len(b.nums))*binary.MaxVarintLen64)
	for _, c := range b.counts {
		out = binary.AppendUvarint(out, c)
	}
	out = binary.AppendUvarint(out, uint64(len(b.nums)))
	for _, n := range b.nums {
		out = binary.AppendUvarint(out, n)
	}
	return out
}

func decodeStoredBatch(raw []byte, b *queuedBatch) error {
	next := func() (uint64, error) {
		v, l := binary.Uvarint(raw)
		if l <= 0 {
			return 0, errors.New("malformed stored batch")
		}
		raw = raw[l:]
		return v, nil
	}
	for i := range b.counts {
		v, err := next()
		if err != nil {
			return err
		}
		b.counts[i] = v
	}
	count, err := next()
	if err != nil {
		return err
	}
	if count > uint64(len(raw)) {
		return errors.New("malformed stored batch record count")
	}
	b.nums = make([]uint64, 0, count)
	for range count {
		n, err := next()
		if err != nil {
			return err
		}
		b.nums = append(b.nums, n)
	}
	b.records = len(b.nums)
	return nil
}

// put queues one pipeline request: one storage write (one transaction) before it returns.
// When the queue is full, a signal with the drop_oldest policy drops its oldest queued
// request in the same transaction; otherwise errQueueFull is returned.
func (q *queue) put(ctx context.Context, sig signal, payload []byte, items int) error {
	q.mu.Lock()
	for q.client != nil && q.nextRecord >= q.persisted && !q.closed {
		q.mu.Unlock()
		if err := q.ensureLease(ctx); err != nil {
			return err
		}
		q.mu.Lock()
	}
	if q.closed {
		q.mu.Unlock()
		return errQueueClosed
	}
	var drop *record
	if q.held >= q.capacity {
		if q.dropOld[sig] {
			if i := slices.IndexFunc(q.fifo, func(r *record) bool { return r.sig == sig }); i >= 0 {
				drop = q.fifo[i]
				q.fifo = slices.Delete(q.fifo, i, i+1)
				q.held--
			}
		}
		if drop == nil {
			held := q.held
			q.mu.Unlock()
			return fmt.Errorf("%w (%d of %d requests held; the gateway is down or slower than the input)", errQueueFull, held, q.capacity)
		}
	}
	n := q.nextRecord
	q.nextRecord++
	q.held++
	rec := &record{num: n, sig: sig, items: items, size: len(payload), at: time.Now()}
	if q.client == nil {
		rec.payload = payload
	} else {
		q.writing[n] = struct{}{}
	}
	q.mu.Unlock()

	if q.client != nil {
		ops := []*storage.Operation{storage.SetOperation(recordKey(n), encodeRecord(sig, items, payload))}
		if drop != nil {
			ops = append(ops, storage.DeleteOperation(recordKey(drop.num)))
		}
		err := q.client.Batch(ctx, ops...)
		q.mu.Lock()
		delete(q.writing, n)
		if err != nil {
			q.held--
			if drop != nil {
				q.insertLocked(drop)
				q.held++
			}
			q.mu.Unlock()
			return fmt.Errorf("persist otlptx request: %w", err)
		}
	} else {
		q.mu.Lock()
	}
	q.insertLocked(rec)
	q.mu.Unlock()
	if drop != nil && q.onDropped != nil {
		q.onDropped(drop.sig, drop.items, "queue_full_drop_oldest")
	}
	q.wake()
	return nil
}

// ensureLease writes a new record lease before record numbers pass the persisted one.
func (q *queue) ensureLease(ctx context.Context) error {
	q.formMu.Lock()
	defer q.formMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.nextRecord < q.persisted || q.closed {
		return nil // another call extended it
	}
	q.meta.RecordLease = q.nextRecord + recordLeaseBlock
	if err := q.writeMetaLocked(ctx, nil); err != nil {
		q.meta.RecordLease = q.persisted
		return err
	}
	q.persisted = q.meta.RecordLease
	return nil
}

// insertLocked adds r to the FIFO, which stays ordered by record number.
func (q *queue) insertLocked(r *record) {
	i := len(q.fifo)
	for i > 0 && q.fifo[i-1].num > r.num {
		i--
	}
	q.fifo = slices.Insert(q.fifo, i, r)
}

// next returns the next batch to send: a stored batch of a previous run, or a batch formed
// now from the queued records. It blocks until there is one or stop is closed.
func (q *queue) next(ctx context.Context, stop <-chan struct{}) (*queuedBatch, bool) {
	for {
		select {
		case <-stop:
			return nil, false
		default:
		}
		q.mu.Lock()
		if len(q.ready) > 0 {
			b := q.ready[0]
			q.ready = q.ready[1:]
			more := len(q.ready) > 0 || len(q.fifo) > 0
			q.mu.Unlock()
			if more {
				q.wake()
			}
			q.readBody(ctx, b)
			return b, true
		}
		work := len(q.fifo) > 0
		wait := q.untilDueLocked(time.Now())
		q.mu.Unlock()
		if work && wait > 0 {
			// Too little queued for a full batch: wait for more, at most until the oldest
			// request has waited flush_timeout. The pipeline calls do not wait for this.
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-q.notify:
				timer.Stop()
			case <-q.closing:
				timer.Stop()
			case <-stop:
				timer.Stop()
				return nil, false
			}
			continue
		}
		if work {
			b, err := q.form(ctx)
			if err != nil {
				// A storage error: the records stay queued; try again shortly.
				timer := time.NewTimer(100 * time.Millisecond)
				select {
				case <-timer.C:
				case <-stop:
					timer.Stop()
					return nil, false
				}
				continue
			}
			if b != nil {
				return b, true
			}
			continue
		}
		select {
		case <-q.notify:
		case <-stop:
			return nil, false
		}
	}
}

// untilDueLocked is how long a sender waits before forming a batch from the FIFO: 0 when
// the queued requests fill a batch, the oldest has waited flush_timeout, or the queue is
// closing (shutdown drains at once).
func (q *queue) untilDueLocked(now time.Time) time.Duration {
	if len(q.fifo) == 0 || q.flushTimeout <= 0 || q.closed {
		return 0
	}
	items, size := 0, 0
	for _, r := range q.fifo {
		items += r.items
		size += r.size
		if items >= q.maxItems || size >= q.maxBytes {
			return 0
		}
	}
	return max(q.fifo[0].at.Add(q.flushTimeout).Sub(now), 0)
}

// readBody builds the body of a batch stored by a previous run: read back (previous layout)
// or encoded again from its records under its sequence. On failure loadErr is set.
func (q *queue) readBody(ctx context.Context, b *queuedBatch) {
	if b.body != nil || q.client == nil {
		return
	}
	if b.legacy {
		raw, err := q.client.Get(ctx, legacyBatchKey(b.sequence))
		switch {
		case err != nil:
			b.loadErr = fmt.Errorf("read stored batch %d: %w", b.sequence, err)
		case raw == nil:
			b.loadErr = fmt.Errorf("stored batch %d is missing", b.sequence)
		default:
			b.body = raw
		}
		return
	}
	payloads, err := q.readRecords(ctx, b.nums, nil)
	if err != nil {
		b.loadErr = fmt.Errorf("stored batch %d: %w", b.sequence, err)
		return
	}
	if b.body, err = q.encode(b.sequence, payloads, b.counts); err != nil {
		b.loadErr = fmt.Errorf("stored batch %d: encode: %w", b.sequence, err)
	}
}

// readRecords reads stored records and groups their payloads by signal; counts, when not
// nil, receives the items per signal.
func (q *queue) readRecords(ctx context.Context, nums []uint64, counts *[signalCount]uint64) ([signalCount][]byte, error) {
	var payloads [signalCount][]byte
	ops := make([]*storage.Operation, len(nums))
	for i, n := range nums {
		ops[i] = storage.GetOperation(recordKey(n))
	}
	if err := q.client.Batch(ctx, ops...); err != nil {
		return payloads, fmt.Errorf("read queued otlptx requests: %w", err)
	}
	for i, op := range ops {
		sig, items, payload, err := decodeRecord(op.Value)
		if err != nil {
			return payloads, fmt.Errorf("%w: record %d: %w", errUnreadable, nums[i], err)
		}
		payloads[sig] = append(payloads[sig], payload...)
		if counts != nil {
			counts[sig] += uint64(items)
		}
	}
	return payloads, nil
}

// form takes queued records (oldest first, within the batch limits), assigns the next
// sequence and stores the encoded batch with the removal of its records in one
// transaction. It returns nil, nil when there was nothing to take.
func (q *queue) form(ctx context.Context) (*queuedBatch, error) {
	q.formMu.Lock()
	defer q.formMu.Unlock()
	q.mu.Lock()
	var taken []*record
	items, size := 0, 0
	for len(q.fifo) > 0 {
		r := q.fifo[0]
		if len(taken) > 0 && (items+r.items > q.maxItems || size+r.size > q.maxBytes) {
			break
		}
		taken = append(taken, r)
		items += r.items
		size += r.size
		q.fifo = q.fifo[1:]
	}
	if len(taken) == 0 {
		q.mu.Unlock()
		return nil, nil
	}
	seq := q.meta.NextSequence
	q.meta.NextSequence++
	b := &queuedBatch{sequence: seq, records: len(taken), oldest: taken[0].at}
	for _, r := range taken {
		b.oldest = minTime(b.oldest, r.at)
	}
	q.pending[seq] = b
	more := len(q.fifo) > 0
	q.mu.Unlock()
	if more {
		q.wake()
	}

	err := q.fillAndStore(ctx, b, taken)
	if err == nil {
		return b, nil
	}
	q.mu.Lock()
	delete(q.pending, seq)
	// The sequence number is not reused: a gap is harmless to duplicate suppression.
	if errors.Is(err, errUnreadable) {
		q.held -= len(taken)
		q.mu.Unlock()
		for _, r := range taken {
			if q.onDropped != nil {
				q.onDropped(r.sig, r.items, "unreadable")
			}
		}
		return nil, nil
	}
	for _, r := range taken {
		q.insertLocked(r)
	}
	q.mu.Unlock()
	return nil, err
}

var errUnreadable = errors.New("stored otlptx request cannot be read")

// fillAndStore reads the records' payloads, encodes the batch and stores its composition.
func (q *queue) fillAndStore(ctx context.Context, b *queuedBatch, taken []*record) error {
	var payloads [signalCount][]byte
	b.nums = make([]uint64, len(taken))
	for i, r := range taken {
		b.nums[i] = r.num
	}
	if q.client != nil {
		var counts [signalCount]uint64
		var err error
		payloads, err = q.readRecords(ctx, b.nums, &counts)
		if errors.Is(err, errUnreadable) {
			// Delete what cannot be read so it does not block the queue.
			_ = q.deleteRecords(ctx, taken)
		}
		if err != nil {
			return err
		}
		b.counts = counts
	} else {
		for _, r := range taken {
			payloads[r.sig] = append(payloads[r.sig], r.payload...)
			b.counts[r.sig] += uint64(r.items)
		}
	}
	body, err := q.encode(b.sequence, payloads, b.counts)
	if err != nil {
		if q.client != nil {
			_ = q.deleteRecords(ctx, taken)
		}
		return fmt.Errorf("%w: encode batch %d: %w", errUnreadable, b.sequence, err)
	}
	b.body = body
	if q.client == nil {
		return nil
	}
	// formMu is held by form: the metadata snapshot is the newest.
	q.mu.Lock()
	metaOp, err := q.metaOpLocked()
	q.mu.Unlock()
	if err != nil {
		return err
	}
	if err := q.client.Batch(ctx, storage.SetOperation(batchKey(b.sequence), encodeStoredBatch(b)), metaOp); err != nil {
		return fmt.Errorf("persist otlptx batch %d: %w", b.sequence, err)
	}
	return nil
}

func (q *queue) deleteRecords(ctx context.Context, rs []*record) error {
	ops := make([]*storage.Operation, len(rs))
	for i, r := range rs {
		ops[i] = storage.DeleteOperation(recordKey(r.num))
	}
	return q.client.Batch(ctx, ops...)
}

// done forgets a delivered (or given up) batch.
func (q *queue) done(ctx context.Context, b *queuedBatch) error {
	q.formMu.Lock()
	defer q.formMu.Unlock()
	q.mu.Lock()
	delete(q.pending, b.sequence)
	q.held -= b.records
	if q.client == nil {
		q.mu.Unlock()
		return nil
	}
	metaOp, err := q.metaOpLocked()
	q.mu.Unlock()
	if err != nil {
		return err
	}
	key := batchKey(b.sequence)
	if b.legacy {
		key = legacyBatchKey(b.sequence)
	}
	ops := make([]*storage.Operation, 0, len(b.nums)+2)
	ops = append(ops, storage.DeleteOperation(key))
	for _, n := range b.nums {
		ops = append(ops, storage.DeleteOperation(recordKey(n)))
	}
	if err := q.client.Batch(ctx, append(ops, metaOp)...); err != nil {
		return fmt.Errorf("delete delivered otlptx batch %d: %w", b.sequence, err)
	}
	return nil
}

// load reads what a previous run stored, in chunks, and queues it: stored batches first
// (they are re-sent as they are), then records. It runs in the background from Start;
// lowestLocked keeps the unread ranges from being forgotten meanwhile.
func (q *queue) load(ctx context.Context, stop <-chan struct{}) (batches, records int, err error) {
	defer func() {
		q.mu.Lock()
		if err == nil {
			q.loading = false
		}
		q.mu.Unlock()
	}()
	// Records that belong to a stored batch are re-sent with it, not queued again.
	batched := map[uint64]struct{}{}
	for {
		select {
		case <-stop:
			return batches, records, errStopped
		default:
		}
		q.mu.Lock()
		from, end := q.loadBatch, q.loadBatchEnd
		q.mu.Unlock()
		if from >= end {
			break
		}
		to := min(end, from+loadChunk)
		ops := make([]*storage.Operation, 0, to-from)
		for seq := from; seq < to; seq++ {
			key := batchKey(seq)
			if seq < q.meta.LegacyBelow {
				key = legacyBatchKey(seq)
			}
			ops = append(ops, storage.GetOperation(key))
		}
		if err := q.client.Batch(ctx, ops...); err != nil {
			return batches, records, fmt.Errorf("read stored otlptx batches %d-%d: %w", from, to-1, err)
		}
		now := time.Now()
		var found []*queuedBatch
		for i, op := range ops {
			if op.Value == nil {
				continue
			}
			seq := from + uint64(i)
			b := &queuedBatch{sequence: seq, legacy: seq < q.meta.LegacyBelow, records: 1, oldest: now}
			if !b.legacy {
				if err := decodeStoredBatch(op.Value, b); err != nil {
					b.loadErr = fmt.Errorf("stored batch %d: %w", seq, err)
				}
				for _, n := range b.nums {
					batched[n] = struct{}{}
				}
			}
			found = append(found, b)
		}
		q.mu.Lock()
		for _, b := range found {
			q.pending[b.sequence] = b
			q.held += b.records
		}
		q.ready = append(q.ready, found...)
		q.loadBatch = to
		q.mu.Unlock()
		batches += len(found)
		if len(found) > 0 {
			q.wake()
		}
	}
	for {
		select {
		case <-stop:
			return batches, records, errStopped
		default:
		}
		q.mu.Lock()
		from, end := q.loadRecord, q.loadRecordEnd
		q.mu.Unlock()
		if from >= end {
			return batches, records, nil
		}
		to := min(end, from+loadChunk)
		ops := make([]*storage.Operation, 0, to-from)
		for n := from; n < to; n++ {
			ops = append(ops, storage.GetOperation(recordKey(n)))
		}
		if err := q.client.Batch(ctx, ops...); err != nil {
			return batches, records, fmt.Errorf("read stored otlptx requests %d-%d: %w", from, to-1, err)
		}
		now := time.Now()
		var found []*record
		for i, op := range ops {
			if op.Value == nil {
				continue // a number leased but never written
			}
			if _, inBatch := batched[from+uint64(i)]; inBatch {
				continue
			}
			sig, items, payload, err := decodeRecord(op.Value)
			if err != nil {
				continue // formed into no batch; deleted once the range is passed
			}
			found = append(found, &record{num: from + uint64(i), sig: sig, items: items, size: len(payload), at: now})
		}
		q.mu.Lock()
		for _, r := range found {
			q.insertLocked(r)
		}
		q.held += len(found)
		q.loadRecord = to
		q.mu.Unlock()
		records += len(found)
		if len(found) > 0 {
			q.wake()
		}
	}
}

// stats is what the queue telemetry reports.
func (q *queue) stats(now time.Time) (held int, oldest time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var first time.Time
	if len(q.fifo) > 0 {
		first = q.fifo[0].at
	}
	for _, b := range q.pending {
		first = minTime(first, b.oldest)
	}
	if !first.IsZero() {
		oldest = now.Sub(first)
	}
	return q.held, oldest
}

// heldCount is the number of records queued or in pending batches.
func (q *queue) heldCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.held
}

func (q *queue) close(ctx context.Context) error {
	q.markClosed()
	q.mu.Lock()
	client := q.client
	q.mu.Unlock()
	if client == nil {
		return nil
	}
	return client.Close(ctx)
}

// markClosed refuses further puts and makes senders form batches at once.
func (q *queue) markClosed() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.closing)
	}
}

func minTime(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
