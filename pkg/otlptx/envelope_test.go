package otlptx

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

var allCompressions = []Compression{CompressionSnappy, CompressionZstd, CompressionNone}

func newTestCodec(t testing.TB, limit int) *Codec {
	t.Helper()
	c, err := NewCodec(limit)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// TestRoundTripEverySignalCombination encodes and decodes every subset of
// {traces, metrics, logs} with every compression and checks data, counts and header.
func TestRoundTripEverySignalCombination(t *testing.T) {
	codec := newTestCodec(t, 0)
	gen := otlptxtest.NewGenerator(1)
	wantTraces, wantMetrics, wantLogs := gen.Traces(25), gen.Metrics(30), gen.Logs(20)
	for mask := range 8 {
		for _, comp := range allCompressions {
			hasTraces, hasMetrics, hasLogs := mask&1 != 0, mask&2 != 0, mask&4 != 0
			t.Run(fmt.Sprintf("traces=%t,metrics=%t,logs=%t/%s", hasTraces, hasMetrics, hasLogs, comp), func(t *testing.T) {
				var td ptrace.Traces
				var md pmetric.Metrics
				var ld plog.Logs
				if hasTraces {
					td = wantTraces
				}
				if hasMetrics {
					md = wantMetrics
				}
				if hasLogs {
					ld = wantLogs
				}
				env, err := NewEnvelope(Header{SenderID: "sidecar-a", Sequence: uint64(mask + 1), CreatedUnixNano: 1764000000000000000}, td, md, ld)
				require.NoError(t, err)
				wire, err := codec.Encode(env, comp)
				require.NoError(t, err)

				got, err := codec.Decode(wire, comp)
				require.NoError(t, err)
				assert.Equal(t, env.Header, got.Header)
				assert.Equal(t, FormatVersion, got.Header.FormatVersion)

				gotTraces, ok, err := got.DecodeTraces()
				require.NoError(t, err)
				assert.Equal(t, hasTraces, ok)
				if hasTraces {
					assert.Equal(t, wantTraces, gotTraces)
					assert.Equal(t, uint64(25), got.Header.SpanCount)
				}
				gotMetrics, ok, err := got.DecodeMetrics()
				require.NoError(t, err)
				assert.Equal(t, hasMetrics, ok)
				if hasMetrics {
					assert.Equal(t, wantMetrics, gotMetrics)
					assert.Equal(t, uint64(30), got.Header.DataPointCount)
				}
				gotLogs, ok, err := got.DecodeLogs()
				require.NoError(t, err)
				assert.Equal(t, hasLogs, ok)
				if hasLogs {
					assert.Equal(t, wantLogs, gotLogs)
					assert.Equal(t, uint64(20), got.Header.LogRecordCount)
				}
			})
		}
	}
}

// TestPayloadIsPlainOTLP checks the promise of the format: the traces field holds bytes a
// stock OTLP decoder reads, found with a generic protobuf walk rather than this package.
func TestPayloadIsPlainOTLP(t *testing.T) {
	td := otlptxtest.NewGenerator(2).Traces(10)
	env, err := NewEnvelope(Header{SenderID: "s", Sequence: 1}, td, pmetric.Metrics{}, plog.Logs{})
	require.NoError(t, err)
	data := env.Marshal()
	var tracesField []byte
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		require.Positive(t, n)
		data = data[n:]
		require.Equal(t, protowire.BytesType, typ)
		v, m := protowire.ConsumeBytes(data)
		require.Positive(t, m)
		data = data[m:]
		if num == 2 {
			tracesField = v
		}
	}
	req := ptraceotlp.NewExportRequest()
	require.NoError(t, req.UnmarshalProto(tracesField))
	assert.Equal(t, td, req.Traces())
}

// TestConcatenatedPayloadsMerge checks the batching property the exporter relies on.
func TestConcatenatedPayloadsMerge(t *testing.T) {
	gen := otlptxtest.NewGenerator(3)
	a, err := MarshalLogs(gen.Logs(3))
	require.NoError(t, err)
	b, err := MarshalLogs(gen.Logs(4))
	require.NoError(t, err)
	env := &Envelope{Header: Header{FormatVersion: FormatVersion, LogRecordCount: 7}, Logs: append(a, b...)}
	ld, ok, err := env.DecodeLogs()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 7, ld.LogRecordCount())
	assert.Equal(t, 2, ld.ResourceLogs().Len())
}

func TestMarshalledSizeIsExact(t *testing.T) {
	gen := otlptxtest.NewGenerator(4)
	env, err := NewEnvelope(Header{SenderID: "x", Sequence: 1 << 40, CreatedUnixNano: 1}, gen.Traces(3), gen.Metrics(3), plog.Logs{})
	require.NoError(t, err)
	assert.Len(t, env.Marshal(), env.MarshalledSize())
}

func TestUnmarshalRejectsMalformed(t *testing.T) {
	valid := (&Envelope{Header: Header{FormatVersion: FormatVersion, SenderID: "s", Sequence: 9}}).Marshal()
	headerOnly := func(h []byte) []byte {
		b := protowire.AppendTag(nil, 1, protowire.BytesType)
		return protowire.AppendBytes(b, h)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{name: "empty", data: nil},
		{name: "truncated", data: valid[:len(valid)-1]},
		{name: "header missing", data: protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), nil)},
		{name: "wrong version", data: headerOnly(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 2))},
		{name: "header twice", data: append(append([]byte{}, valid...), valid...)},
		{name: "payload as varint", data: append(append([]byte{}, valid...), protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1)...)},
		{name: "sender id too long", data: headerOnly(protowire.AppendString(protowire.AppendTag(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1), 2, protowire.BytesType), string(bytes.Repeat([]byte("a"), MaxSenderIDLength+1))))},
		{name: "garbage", data: []byte{0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal(tt.data)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestUnmarshalSkipsUnknownFields(t *testing.T) {
	env := &Envelope{Header: Header{FormatVersion: FormatVersion, SenderID: "s", Sequence: 3}, Logs: []byte{}}
	data := env.Marshal()
	data = protowire.AppendTag(data, 15, protowire.Fixed32Type)
	data = protowire.AppendFixed32(data, 7)
	got, err := Unmarshal(data)
	require.NoError(t, err)
	assert.Equal(t, env, got)
}

func TestDecodeSignalsChecksCounts(t *testing.T) {
	gen := otlptxtest.NewGenerator(5)
	env, err := NewEnvelope(Header{}, gen.Traces(5), gen.Metrics(5), gen.Logs(5))
	require.NoError(t, err)
	env.Header.SpanCount++
	env.Header.DataPointCount--
	env.Header.LogRecordCount = 0
	_, _, err = env.DecodeTraces()
	assert.ErrorIs(t, err, ErrMalformed)
	_, _, err = env.DecodeMetrics()
	assert.ErrorIs(t, err, ErrMalformed)
	_, _, err = env.DecodeLogs()
	assert.ErrorIs(t, err, ErrMalformed)

	absent := &Envelope{Header: Header{FormatVersion: FormatVersion, SpanCount: 1}}
	_, _, err = absent.DecodeTraces()
	assert.ErrorIs(t, err, ErrMalformed)

	corrupt := &Envelope{Header: Header{FormatVersion: FormatVersion}, Metrics: []byte{0x0a, 0x05, 0x01}}
	_, _, err = corrupt.DecodeMetrics()
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestResponseRoundTrip(t *testing.T) {
	for _, resp := range []Response{
		{},
		{Traces: SignalResult{Accepted: 10}, Metrics: SignalResult{Accepted: 3, Rejected: 2, ErrorMessage: "refused"}, Logs: SignalResult{Rejected: 5, ErrorMessage: "no logs pipeline"}},
		{Duplicate: true, Traces: SignalResult{Accepted: 1}},
		{Message: "envelope too large"},
	} {
		got, err := UnmarshalResponse(resp.Marshal())
		require.NoError(t, err)
		assert.Equal(t, resp, *got)
	}
	_, err := UnmarshalResponse([]byte{0x0a, 0x10})
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestParseContentType(t *testing.T) {
	tests := []struct {
		contentType string
		want        Compression
		wantErr     bool
	}{
		{contentType: ContentType(CompressionSnappy), want: CompressionSnappy},
		{contentType: ContentType(CompressionZstd), want: CompressionZstd},
		{contentType: ContentType(CompressionNone), want: CompressionNone},
		{contentType: MediaType, want: CompressionNone},
		{contentType: "application/x-otlptx+protobuf; compression=SNAPPY", want: CompressionSnappy},
		{contentType: "application/x-protobuf", wantErr: true},
		{contentType: MediaType + "; compression=gzip", wantErr: true},
		{contentType: "", wantErr: true},
		{contentType: "%%%", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			got, err := ParseContentType(tt.contentType)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCompressionValidate(t *testing.T) {
	for _, c := range allCompressions {
		assert.NoError(t, c.Validate())
	}
	err := Compression("gzip").Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gzip")
	_, err = newTestCodec(t, 0).Compress(nil, []byte("x"), "lz4")
	assert.Error(t, err)
	_, err = newTestCodec(t, 0).Decompress([]byte("x"), "lz4")
	assert.Error(t, err)
}
