//go:build unix

package otlptx

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/s2"
	ksnappy "github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

// The benchmarks below produce the tables in exporter/otlptxexporter/README.md:
//
//	go test ./pkg/otlptx -run '^$' -bench 'BenchmarkWire' -benchtime 300x -count 5
//	go test ./pkg/otlptx -run '^$' -bench 'BenchmarkSnappy' -benchtime 0.3s -count 8

// BenchmarkSnappyEncoders compares the snappy-block-compatible encoders on a marshalled
// mixed envelope; the fastest one is used by Codec (s2 in snappy mode).
func BenchmarkSnappyEncoders(b *testing.B) {
	raw := benchEnvelope(b).Marshal()
	encoders := []struct {
		name   string
		encode func(dst, src []byte) []byte
	}{
		{"klauspost_s2_EncodeSnappy", s2.EncodeSnappy},
		{"klauspost_s2_EncodeSnappyBetter", s2.EncodeSnappyBetter},
		{"klauspost_snappy_Encode", ksnappy.Encode},
		{"golang_snappy_Encode", snappy.Encode},
	}
	for _, enc := range encoders {
		b.Run(enc.name, func(b *testing.B) {
			dst := make([]byte, snappy.MaxEncodedLen(len(raw)))
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				out = enc.encode(dst, raw)
			}
			check, err := snappy.Decode(nil, out)
			require.NoError(b, err)
			require.Equal(b, raw, check)
			b.ReportMetric(float64(len(out))/float64(len(raw)), "ratio")
		})
	}
}

type benchWorkload struct {
	traces, metrics, logs []byte // OTLP export requests, marshalled
	items                 int
}

const (
	benchSpans      = 300
	benchDataPoints = 300
	benchLogRecords = 300
)

func benchEnvelope(b testing.TB) *Envelope {
	gen := otlptxtest.NewGenerator(7)
	env, err := NewEnvelope(Header{SenderID: "bench", Sequence: 1, CreatedUnixNano: 1},
		gen.Traces(benchSpans), gen.Metrics(benchDataPoints), gen.Logs(benchLogRecords))
	require.NoError(b, err)
	return env
}

// BenchmarkWire measures, for one mixed workload (300 spans, 300 metric data points,
// 300 log records from the same service), the bytes on the wire per item and the CPU
// time per item of the sender (pdata -> body) plus the receiver (body -> pdata).
// OTLP/HTTP and OTLP/gRPC send one request per signal; OTLP-TX sends one envelope.
// gRPC framing counts the 5-byte length prefix, not HTTP/2 headers.
func BenchmarkWire(b *testing.B) {
	gen := otlptxtest.NewGenerator(7)
	td, md, ld := gen.Traces(benchSpans), gen.Metrics(benchDataPoints), gen.Logs(benchLogRecords)
	items := benchSpans + benchDataPoints + benchLogRecords

	codec := newTestCodec(b, 0)
	zstdEnc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	require.NoError(b, err)
	defer zstdEnc.Close()
	zstdDec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	require.NoError(b, err)
	defer zstdDec.Close()

	gzipCompress := func(src []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(src)
		_ = w.Close()
		return buf.Bytes()
	}
	gzipDecompress := func(src []byte) ([]byte, error) {
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	}
	type codecFuncs struct {
		compress   func([]byte) []byte
		decompress func([]byte) ([]byte, error)
	}
	// The OTLP/HTTP codecs are the ones confighttp uses (stdlib gzip, golang/snappy
	// block, klauspost zstd at the default level).
	otlpHTTPCodecs := map[string]codecFuncs{
		"gzip":   {gzipCompress, gzipDecompress},
		"zstd":   {func(s []byte) []byte { return zstdEnc.EncodeAll(s, nil) }, func(s []byte) ([]byte, error) { return zstdDec.DecodeAll(s, nil) }},
		"snappy": {func(s []byte) []byte { return snappy.Encode(nil, s) }, func(s []byte) ([]byte, error) { return snappy.Decode(nil, s) }},
	}

	// otlpPerSignal sends each signal in its own request, as the OTLP exporters do.
	otlpPerSignal := func(b *testing.B, c codecFuncs, grpcFraming bool) {
		var wire int
		b.ReportAllocs()
		defer pauseGC()()
		cpuStart := processCPU(b)
		for b.Loop() {
			wire = 0
			bodies := make([][]byte, 0, 3)
			for _, marshal := range []func() ([]byte, error){
				ptraceotlp.NewExportRequestFromTraces(td).MarshalProto,
				pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto,
				plogotlp.NewExportRequestFromLogs(ld).MarshalProto,
			} {
				raw, err := marshal()
				require.NoError(b, err)
				body := c.compress(raw)
				if grpcFraming {
					framed := make([]byte, 5, 5+len(body))
					framed[0] = 1 // compressed flag
					binary.BigEndian.PutUint32(framed[1:], uint32(len(body)))
					body = append(framed, body...)
				}
				wire += len(body)
				bodies = append(bodies, body)
			}
			for i, body := range bodies {
				if grpcFraming {
					body = body[5:]
				}
				raw, err := c.decompress(body)
				require.NoError(b, err)
				switch i {
				case 0:
					req := ptraceotlp.NewExportRequest()
					require.NoError(b, req.UnmarshalProto(raw))
				case 1:
					req := pmetricotlp.NewExportRequest()
					require.NoError(b, req.UnmarshalProto(raw))
				case 2:
					req := plogotlp.NewExportRequest()
					require.NoError(b, req.UnmarshalProto(raw))
				}
			}
		}
		reportPerItem(b, wire, items, cpuStart)
	}

	// Warm up (heap growth, page faults) so that the first variant measured does not pay
	// for it.
	restoreGC := pauseGC()
	for range 300 {
		env, err := NewEnvelope(Header{SenderID: "bench", Sequence: 1}, td, md, ld)
		require.NoError(b, err)
		body, err := codec.Encode(env, CompressionNone)
		require.NoError(b, err)
		got, err := codec.Decode(body, CompressionNone)
		require.NoError(b, err)
		_, _, err = got.DecodeTraces()
		require.NoError(b, err)
	}
	restoreGC()

	for _, comp := range []Compression{CompressionSnappy, CompressionZstd, CompressionNone} {
		b.Run(fmt.Sprintf("otlptx/%s", comp), func(b *testing.B) {
			var wire int
			b.ReportAllocs()
			defer pauseGC()()
			cpuStart := processCPU(b)
			for b.Loop() {
				env, err := NewEnvelope(Header{SenderID: "bench", Sequence: 1, CreatedUnixNano: 1}, td, md, ld)
				require.NoError(b, err)
				body, err := codec.Encode(env, comp)
				require.NoError(b, err)
				wire = len(body)
				got, err := codec.Decode(body, comp)
				require.NoError(b, err)
				_, _, err = got.DecodeTraces()
				require.NoError(b, err)
				_, _, err = got.DecodeMetrics()
				require.NoError(b, err)
				_, _, err = got.DecodeLogs()
				require.NoError(b, err)
			}
			reportPerItem(b, wire, items, cpuStart)
		})
	}
	for _, name := range []string{"gzip", "zstd", "snappy"} {
		b.Run("otlphttp/"+name, func(b *testing.B) { otlpPerSignal(b, otlpHTTPCodecs[name], false) })
	}
	b.Run("otlpgrpc/gzip", func(b *testing.B) { otlpPerSignal(b, otlpHTTPCodecs["gzip"], true) })
}

// pauseGC collects garbage and disables the collector until the returned function is
// called: the CPU figures then measure encoding and decoding only, independent of which
// variant ran before (allocations are reported separately as B/op and allocs/op). Run
// with a bounded -benchtime (e.g. 300x) so the heap stays small.
func pauseGC() (restore func()) {
	runtime.GC()
	old := debug.SetGCPercent(-1)
	return func() {
		debug.SetGCPercent(old)
		runtime.GC()
	}
}

// processCPU returns the user CPU time the process has used so far. System time is left
// out: it is dominated by page faults of fresh heap memory, which depend on what ran
// before, not on the codec.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano())
}

// reportPerItem reports wire bytes per item and process CPU time per item, which unlike
// ns/op does not grow when other processes compete for the cores.
func reportPerItem(b *testing.B, wireBytes, items int, cpuStart time.Duration) {
	b.ReportMetric(float64(wireBytes)/float64(items), "wire_B/item")
	b.ReportMetric(float64(processCPU(b)-cpuStart)/float64(b.N)/float64(items), "cpu_ns/item")
}

// BenchmarkSnappyDecoders compares the decoders able to read a snappy block.
func BenchmarkSnappyDecoders(b *testing.B) {
	raw := benchEnvelope(b).Marshal()
	block := s2.EncodeSnappy(nil, raw)
	decoders := []struct {
		name   string
		decode func(dst, src []byte) ([]byte, error)
	}{
		{"klauspost_s2_Decode", s2.Decode},
		{"klauspost_snappy_Decode", ksnappy.Decode},
		{"golang_snappy_Decode", snappy.Decode},
	}
	for _, dec := range decoders {
		b.Run(dec.name, func(b *testing.B) {
			dst := make([]byte, len(raw))
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				out, err := dec.decode(dst, block)
				if err != nil || len(out) != len(raw) {
					b.Fatal(err)
				}
			}
		})
	}
}
