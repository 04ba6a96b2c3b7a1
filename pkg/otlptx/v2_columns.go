package otlptx // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx"

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// Columns of a v2 section. Every value of a section is written to one of these byte
// streams, chosen by its kind, so similar bytes sit next to each other and the whole-
// envelope compressor (s2 or zstd) finds long matches; the encoder and decoder still walk
// the data in message order, which keeps both simple. The order below is the order of the
// columns on the wire (see docs/otlptx-wire-format.md); it is part of the format.
const (
	colShape    = iota // counts, kinds, presence bit masks, small enums: uvarints
	colKey             // attribute keys: string-table indices
	colType            // AnyValue type tags: one byte each
	colString          // string values, names, units, trace states: string-table indices
	colInt             // integer values: zigzag varints
	colDouble          // double values: XOR against the previous double of the same column state
	colTime            // timestamps: zigzag deltas against the previous timestamp of the same kind
	colDuration        // span durations, observed-minus-event time of logs: zigzag varints
	colTraceID         // trace ids: 16 raw bytes
	colSpanID          // span ids: 8 raw bytes
	colCount           // histogram counts and bucket counts: uvarints
	colBytes           // bytes values and fallback OTLP messages: uvarint length + bytes
	numColumns
)

// columnWriter accumulates the columns of one section.
type columnWriter struct {
	cols [numColumns][]byte
}

func (w *columnWriter) reset() {
	for i := range w.cols {
		w.cols[i] = w.cols[i][:0]
	}
}

func (w *columnWriter) uvarint(col int, v uint64) {
	w.cols[col] = binary.AppendUvarint(w.cols[col], v)
}

func (w *columnWriter) varint(col int, v int64) {
	w.cols[col] = binary.AppendVarint(w.cols[col], v)
}

func (w *columnWriter) byte(col int, v byte) {
	w.cols[col] = append(w.cols[col], v)
}

func (w *columnWriter) raw(col int, v []byte) {
	w.cols[col] = append(w.cols[col], v...)
}

func (w *columnWriter) bytes(col int, v []byte) {
	w.cols[col] = binary.AppendUvarint(w.cols[col], uint64(len(v)))
	w.cols[col] = append(w.cols[col], v...)
}

// xorDouble appends v XOR prev without its leading and trailing zero bytes: one header
// byte (leading zero bytes << 4 | trailing zero bytes) and the bytes in between. Values
// close to the previous one share sign, exponent and high mantissa bits, and round
// numbers have zero low mantissa bits, so both ends are often zero (the Gorilla idea at
// byte granularity, which keeps decoding branch-light).
func (w *columnWriter) xorDouble(col int, prev *uint64, v float64) {
	cur := math.Float64bits(v)
	x := cur ^ *prev
	*prev = cur
	if x == 0 {
		w.cols[col] = append(w.cols[col], 0x88)
		return
	}
	lead := bits.LeadingZeros64(x) / 8
	trail := bits.TrailingZeros64(x) / 8
	w.cols[col] = append(w.cols[col], byte(lead<<4|trail))
	var tmp [8]byte
	binary.BigEndian.PutUint64(tmp[:], x)
	w.cols[col] = append(w.cols[col], tmp[lead:8-trail]...)
}

// appendTo writes the column lengths and then the columns.
func (w *columnWriter) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, numColumns)
	for _, c := range w.cols {
		b = binary.AppendUvarint(b, uint64(len(c)))
	}
	for _, c := range w.cols {
		b = append(b, c...)
	}
	return b
}

// columnReader reads the columns of one section. Every read checks the bytes that
// remain; the first failure is kept in err and later reads return zero values, so the
// decoding code checks err at loop boundaries instead of after every value.
type columnReader struct {
	cols [numColumns][]byte
	err  error
	// budget is how many more elements counts may declare in this body. Every element
	// takes at least one byte of its own, so a valid body never declares more elements
	// than it has bytes; the budget stops nested counts from each claiming the same
	// remaining bytes (which would multiply allocations by the nesting depth).
	budget int
}

func (r *columnReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// load splits a section into its columns and returns the bytes after it.
func (r *columnReader) load(b []byte) ([]byte, error) {
	n, m := binary.Uvarint(b)
	if m <= 0 || n != numColumns {
		return nil, fmt.Errorf("%w: section declares %d columns, want %d", ErrMalformed, n, numColumns)
	}
	b = b[m:]
	var lengths [numColumns]uint64
	for i := range lengths {
		v, m := binary.Uvarint(b)
		if m <= 0 {
			return nil, fmt.Errorf("%w: column %d length", ErrMalformed, i)
		}
		lengths[i] = v
		b = b[m:]
	}
	for i, l := range lengths {
		if l > uint64(len(b)) {
			return nil, fmt.Errorf("%w: column %d declares %d bytes, %d remain", ErrMalformed, i, l, len(b))
		}
		r.cols[i] = b[:l:l]
		b = b[l:]
	}
	return b, nil
}

// remaining is the number of unread bytes of a column: every count is checked against it
// (each counted element takes at least one byte of that column) before allocating.
func (r *columnReader) remaining(col int) int { return len(r.cols[col]) }

// count reads a uvarint count of elements that each take at least minBytes of column
// elemCol, and fails if the column cannot hold them.
func (r *columnReader) count(elemCol, minBytes int, what string) int {
	n := r.uvarint(colShape)
	if n > uint64(r.remaining(elemCol)/minBytes) {
		r.fail("%s count %d exceeds the %d bytes left in column %d", what, n, r.remaining(elemCol), elemCol)
		return 0
	}
	if n > uint64(r.budget) {
		r.fail("%s count %d exceeds the element budget of the body", what, n)
		return 0
	}
	r.budget -= int(n)
	return int(n)
}

func (r *columnReader) uvarint(col int) uint64 {
	v, m := binary.Uvarint(r.cols[col])
	if m <= 0 {
		r.fail("truncated varint in column %d", col)
		r.cols[col] = nil
		return 0
	}
	r.cols[col] = r.cols[col][m:]
	return v
}

func (r *columnReader) uint32(col int, what string) uint32 {
	v := r.uvarint(col)
	if v > math.MaxUint32 {
		r.fail("%s %d overflows 32 bits", what, v)
		return 0
	}
	return uint32(v)
}

func (r *columnReader) varint(col int) int64 {
	v, m := binary.Varint(r.cols[col])
	if m <= 0 {
		r.fail("truncated varint in column %d", col)
		r.cols[col] = nil
		return 0
	}
	r.cols[col] = r.cols[col][m:]
	return v
}

func (r *columnReader) byte(col int) byte {
	if len(r.cols[col]) == 0 {
		r.fail("column %d exhausted", col)
		return 0
	}
	v := r.cols[col][0]
	r.cols[col] = r.cols[col][1:]
	return v
}

func (r *columnReader) raw(col, n int) []byte {
	if len(r.cols[col]) < n {
		r.fail("column %d has %d bytes, need %d", col, len(r.cols[col]), n)
		r.cols[col] = nil
		return make([]byte, n)
	}
	v := r.cols[col][:n:n]
	r.cols[col] = r.cols[col][n:]
	return v
}

func (r *columnReader) bytes(col int) []byte {
	n := r.uvarint(col)
	if n > uint64(len(r.cols[col])) {
		r.fail("bytes value of %d bytes, %d left in column %d", n, len(r.cols[col]), col)
		r.cols[col] = nil
		return nil
	}
	return r.raw(col, int(n))
}

func (r *columnReader) xorDouble(col int, prev *uint64) float64 {
	h := r.byte(col)
	lead, trail := int(h>>4), int(h&0x0f)
	if h == 0x88 {
		return math.Float64frombits(*prev)
	}
	if lead+trail >= 8 {
		r.fail("double header 0x%02x", h)
		return 0
	}
	mid := r.raw(col, 8-lead-trail)
	var tmp [8]byte
	copy(tmp[lead:], mid)
	x := binary.BigEndian.Uint64(tmp[:])
	*prev ^= x
	return math.Float64frombits(*prev)
}

// stringTable interns the strings of one envelope on the encoding side.
type stringTable struct {
	index   map[string]uint32
	strings []string
	size    int
}

func (t *stringTable) reset() {
	clear(t.index)
	t.strings = t.strings[:0]
	t.size = 0
}

func (t *stringTable) ref(s string) uint64 {
	if i, ok := t.index[s]; ok {
		return uint64(i)
	}
	i := uint32(len(t.strings))
	t.index[s] = i
	t.strings = append(t.strings, s)
	t.size += len(s)
	return uint64(i)
}

// truncate forgets the strings added after the first n (used when a resource falls back
// to OTLP bytes after part of it was encoded).
func (t *stringTable) truncate(n int) {
	for _, s := range t.strings[n:] {
		delete(t.index, s)
		t.size -= len(s)
	}
	t.strings = t.strings[:n]
}

// appendTo writes the count, every length, then every string's bytes.
func (t *stringTable) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(t.strings)))
	for _, s := range t.strings {
		b = binary.AppendUvarint(b, uint64(len(s)))
	}
	for _, s := range t.strings {
		b = append(b, s...)
	}
	return b
}

// readStringTable decodes a string table. All strings share one backing string (one
// allocation for the table, none per reference).
func readStringTable(b []byte, strs []string) ([]string, []byte, error) {
	n, m := binary.Uvarint(b)
	if m <= 0 {
		return nil, nil, fmt.Errorf("%w: string table count", ErrMalformed)
	}
	b = b[m:]
	if n > uint64(len(b)) { // every length takes at least one byte
		return nil, nil, fmt.Errorf("%w: string table declares %d strings, %d bytes remain", ErrMalformed, n, len(b))
	}
	lengths := b
	total := uint64(0)
	for range n {
		l, m := binary.Uvarint(b)
		if m <= 0 {
			return nil, nil, fmt.Errorf("%w: string table length", ErrMalformed)
		}
		b = b[m:]
		total += l
		if total > uint64(len(b)) {
			return nil, nil, fmt.Errorf("%w: string table needs %d bytes, %d remain", ErrMalformed, total, len(b))
		}
	}
	all := string(b[:total])
	b = b[total:]
	strs = strs[:0]
	if cap(strs) < int(n) {
		strs = make([]string, 0, n)
	}
	off := uint64(0)
	for range n {
		l, m := binary.Uvarint(lengths)
		lengths = lengths[m:]
		strs = append(strs, all[off:off+l])
		off += l
	}
	return strs, b, nil
}

// str reads a string-table reference.
func (d *v2Decoder) str(col int) string {
	i := d.r.uvarint(col)
	if i >= uint64(len(d.strings)) {
		d.r.fail("string reference %d, table has %d", i, len(d.strings))
		return ""
	}
	return d.strings[i]
}
