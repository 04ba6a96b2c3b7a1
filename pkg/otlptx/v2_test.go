package otlptx

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

var v2Compressions = []Compression{CompressionS2, CompressionZstd, CompressionNone}

// requireCanonicalEqual is the correctness gate of version 2: the decoded pdata must
// marshal to exactly the OTLP bytes of the input (pdata's own canonical encoding).
func requireCanonicalEqual(t testing.TB, td ptrace.Traces, md pmetric.Metrics, ld plog.Logs, got *Envelope) {
	t.Helper()
	gotTraces, okT, err := got.DecodeTraces()
	require.NoError(t, err)
	gotMetrics, okM, err := got.DecodeMetrics()
	require.NoError(t, err)
	gotLogs, okL, err := got.DecodeLogs()
	require.NoError(t, err)
	require.Equal(t, td != (ptrace.Traces{}) && td.ResourceSpans().Len() > 0, okT, "traces presence")
	require.Equal(t, md != (pmetric.Metrics{}) && md.ResourceMetrics().Len() > 0, okM, "metrics presence")
	require.Equal(t, ld != (plog.Logs{}) && ld.ResourceLogs().Len() > 0, okL, "logs presence")
	if okT {
		want, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		have, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(gotTraces)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, have), "traces differ from the input's canonical OTLP bytes")
	}
	if okM {
		want, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		require.NoError(t, err)
		have, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(gotMetrics)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, have), "metrics differ from the input's canonical OTLP bytes")
	}
	if okL {
		want, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		have, err := (&plog.ProtoMarshaler{}).MarshalLogs(gotLogs)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, have), "logs differ from the input's canonical OTLP bytes")
	}
}

func TestV2RoundTripCanonical(t *testing.T) {
	codec := newTestCodec(t, 0)
	gen := otlptxtest.NewGenerator(3)
	tests := []struct {
		name string
		td   ptrace.Traces
		md   pmetric.Metrics
		ld   plog.Logs
	}{
		{"generated mix", gen.Traces(120), gen.Metrics(90), gen.Logs(70)},
		{"every feature", otlptxtest.EveryFeatureTraces(), otlptxtest.EveryFeatureMetrics(), otlptxtest.EveryFeatureLogs()},
		{"traces only", otlptxtest.EveryFeatureTraces(), pmetric.Metrics{}, plog.Logs{}},
		{"metrics only", ptrace.Traces{}, otlptxtest.EveryFeatureMetrics(), plog.Logs{}},
		{"logs only", ptrace.Traces{}, pmetric.Metrics{}, otlptxtest.EveryFeatureLogs()},
		{"nesting beyond the columnar cap falls back", ptrace.Traces{}, pmetric.Metrics{}, otlptxtest.DeeplyNested(MaxValueDepth + 5)},
		{"nesting at the columnar cap", ptrace.Traces{}, pmetric.Metrics{}, otlptxtest.DeeplyNested(MaxValueDepth)},
		{"duplicate keys fall back", ptrace.Traces{}, pmetric.Metrics{}, otlptxtest.DuplicateKeys()},
		{"nothing", ptrace.NewTraces(), pmetric.NewMetrics(), plog.NewLogs()},
	}
	for _, tt := range tests {
		for _, comp := range v2Compressions {
			t.Run(fmt.Sprintf("%s/%s", tt.name, comp), func(t *testing.T) {
				hdr := Header{SenderID: "sidecar-v2", Sequence: 9, CreatedUnixNano: 1764000000000000001}
				env, err := NewEnvelopeV2(hdr, tt.td, tt.md, tt.ld)
				require.NoError(t, err)
				wire, err := codec.Encode(env, comp)
				require.NoError(t, err)
				require.True(t, IsV2Body(wire))
				got, err := codec.Decode(wire, CompressionSnappy) // a v2 body names its own compression
				require.NoError(t, err)
				assert.Equal(t, env.Header, got.Header)
				requireCanonicalEqual(t, tt.td, tt.md, tt.ld, got)
			})
		}
	}
}

func TestV2ConvertsToAndFromV1(t *testing.T) {
	codec := newTestCodec(t, 0)
	td, md, ld := otlptxtest.EveryFeatureTraces(), otlptxtest.EveryFeatureMetrics(), otlptxtest.EveryFeatureLogs()
	v1, err := NewEnvelope(Header{SenderID: "s", Sequence: 3}, td, md, ld)
	require.NoError(t, err)
	v2, err := v1.ToV2()
	require.NoError(t, err)
	require.Equal(t, FormatVersion2, v2.Header.FormatVersion)
	wire, err := codec.Encode(v2, CompressionS2)
	require.NoError(t, err)
	decoded, err := codec.Decode(wire, CompressionS2)
	require.NoError(t, err)
	requireCanonicalEqual(t, td, md, ld, decoded)

	back, err := decoded.ToV1()
	require.NoError(t, err)
	assert.Equal(t, v1.Header, back.Header)
	assert.Equal(t, v1.Traces, back.Traces)
	assert.Equal(t, v1.Metrics, back.Metrics)
	assert.Equal(t, v1.Logs, back.Logs)
}

func TestV2DeclaredCountsMustMatch(t *testing.T) {
	gen := otlptxtest.NewGenerator(5)
	env, err := NewEnvelopeV2(Header{}, gen.Traces(10), pmetric.Metrics{}, plog.Logs{})
	require.NoError(t, err)
	env.Header.SpanCount = 11
	again, err := Unmarshal(env.Marshal())
	require.NoError(t, err)
	_, _, err = again.DecodeTraces()
	require.ErrorIs(t, err, ErrMalformed)
}

func TestV2TruncatedBodiesAreMalformed(t *testing.T) {
	gen := otlptxtest.NewGenerator(6)
	env, err := NewEnvelopeV2(Header{}, gen.Traces(20), gen.Metrics(20), gen.Logs(20))
	require.NoError(t, err)
	for cut := range len(env.Columnar) {
		dec := &v2Decoder{}
		_, err := dec.decodeBody(env.Columnar[:cut])
		require.ErrorIs(t, err, ErrMalformed, "cut at %d", cut)
	}
}

func TestDuplicateKeysFixtureHasDuplicates(t *testing.T) {
	attrs := otlptxtest.DuplicateKeys().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes()
	var keys []string
	for k := range attrs.All() {
		keys = append(keys, k)
	}
	require.Equal(t, []string{"a", "a"}, keys)
}

// TestV2ConcurrentUse encodes and decodes from several goroutines at once: the pooled
// encoders and decoders and the codec must not share state between calls.
func TestV2ConcurrentUse(t *testing.T) {
	codec := newTestCodec(t, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := otlptxtest.NewStream(uint64(g), 2)
			for range 10 {
				td, md, ld := stream.Next(otlptxtest.MixAll, 60)
				env, err := NewEnvelopeV2(Header{SenderID: "c", Sequence: uint64(g)}, td, md, ld)
				if err != nil {
					errs <- err
					return
				}
				wire, err := codec.Encode(env, v2Compressions[g%len(v2Compressions)])
				if err != nil {
					errs <- err
					return
				}
				got, err := codec.Decode(wire, "")
				if err != nil {
					errs <- err
					return
				}
				gotTraces, _, err := got.DecodeTraces()
				if err != nil {
					errs <- err
					return
				}
				if !ptraceEqualCanonical(td, gotTraces) {
					errs <- fmt.Errorf("goroutine %d: traces differ", g)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func ptraceEqualCanonical(a, b ptrace.Traces) bool {
	m := &ptrace.ProtoMarshaler{}
	x, errA := m.MarshalTraces(a)
	y, errB := m.MarshalTraces(b)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}
