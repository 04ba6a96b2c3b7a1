//go:build unix

package otlptx

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"golang.org/x/sys/unix"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

// The comparison table of OTLP-TX v2 (docs/otlptx-wire-format.md, the exporter README):
//
//	go test ./pkg/otlptx -run '^$' -bench '^BenchmarkFormats$' -benchtime 40x
//
// prints one row per mix, size and variant and a summary table at the end.

// benchBatch is one batch of a stream in every form a variant needs.
type benchBatch struct {
	td    ptrace.Traces
	md    pmetric.Metrics
	ld    plog.Logs
	items int
}

// benchStreamLength is how many distinct batches each mix and size cycles through.
const benchStreamLength = 16

func benchStream(mix otlptxtest.Mix, items int) []benchBatch {
	stream := otlptxtest.NewStream(11, 3)
	batches := make([]benchBatch, benchStreamLength)
	for i := range batches {
		td, md, ld := stream.Next(mix, items)
		n := 0
		if td != (ptrace.Traces{}) {
			n += td.SpanCount()
		}
		if md != (pmetric.Metrics{}) {
			n += md.DataPointCount()
		}
		if ld != (plog.Logs{}) {
			n += ld.LogRecordCount()
		}
		batches[i] = benchBatch{td: td, md: md, ld: ld, items: n}
	}
	return batches
}

// formatVariant encodes a batch to wire bodies and decodes bodies back to pdata.
type formatVariant struct {
	name   string
	encode func(b benchBatch) ([][]byte, error)
	decode func(bodies [][]byte) error
}

type benchRow struct {
	mix                      otlptxtest.Mix
	size                     int
	variant                  string
	wire, encodeNs, decodeNs float64 // per item
	totalNs                  float64 // process CPU per item, GC included
	allocs                   float64 // per item, encode and decode
}

func formatVariants(tb testing.TB, codec *Codec) []formatVariant {
	zstdEnc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = zstdEnc.Close() })
	zstdDec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	require.NoError(tb, err)
	tb.Cleanup(zstdDec.Close)
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
	// otlp sends one request per signal, as the OTLP exporters do; grpc adds the 5-byte
	// message prefix (HTTP/2 headers are not counted).
	otlp := func(name string, compress func([]byte) []byte, decompress func([]byte) ([]byte, error), grpc bool) formatVariant {
		return formatVariant{
			name: name,
			encode: func(b benchBatch) ([][]byte, error) {
				bodies := make([][]byte, 3)
				for i, marshal := range []func() ([]byte, error){
					func() ([]byte, error) { return ptraceotlp.NewExportRequestFromTraces(b.td).MarshalProto() },
					func() ([]byte, error) { return pmetricotlp.NewExportRequestFromMetrics(b.md).MarshalProto() },
					func() ([]byte, error) { return plogotlp.NewExportRequestFromLogs(b.ld).MarshalProto() },
				} {
					if (i == 0 && b.td == (ptrace.Traces{})) || (i == 1 && b.md == (pmetric.Metrics{})) || (i == 2 && b.ld == (plog.Logs{})) {
						continue
					}
					raw, err := marshal()
					if err != nil {
						return nil, err
					}
					body := compress(raw)
					if grpc {
						framed := make([]byte, 5, 5+len(body))
						framed[0] = 1
						binary.BigEndian.PutUint32(framed[1:], uint32(len(body)))
						body = append(framed, body...)
					}
					bodies[i] = body
				}
				return bodies, nil
			},
			decode: func(bodies [][]byte) error {
				for i, body := range bodies {
					if body == nil {
						continue
					}
					if grpc {
						body = body[5:]
					}
					raw, err := decompress(body)
					if err != nil {
						return err
					}
					switch i {
					case 0:
						err = ptraceotlp.NewExportRequest().UnmarshalProto(raw)
					case 1:
						err = pmetricotlp.NewExportRequest().UnmarshalProto(raw)
					case 2:
						err = plogotlp.NewExportRequest().UnmarshalProto(raw)
					}
					if err != nil {
						return err
					}
				}
				return nil
			},
		}
	}
	otlptx := func(name string, v2 bool, comp Compression) formatVariant {
		return formatVariant{
			name: name,
			encode: func(b benchBatch) ([][]byte, error) {
				hdr := Header{SenderID: "bench", Sequence: 1, CreatedUnixNano: 1}
				var env *Envelope
				var err error
				if v2 {
					env, err = NewEnvelopeV2(hdr, b.td, b.md, b.ld)
				} else {
					env, err = NewEnvelope(hdr, b.td, b.md, b.ld)
				}
				if err != nil {
					return nil, err
				}
				body, err := codec.Encode(env, comp)
				return [][]byte{body}, err
			},
			decode: func(bodies [][]byte) error {
				env, err := codec.Decode(bodies[0], comp)
				if err != nil {
					return err
				}
				_, _, _, err = env.decodeAll()
				return err
			},
		}
	}
	// viaOTLP is the path of the otlptx exporter today: the batch is collected as OTLP
	// requests and converted to version 2 when it closes.
	viaOTLP := otlptx("otlptx-v2/s2-via-otlp", true, CompressionS2)
	viaOTLP.encode = func(b benchBatch) ([][]byte, error) {
		v1, err := NewEnvelope(Header{SenderID: "bench", Sequence: 1, CreatedUnixNano: 1}, b.td, b.md, b.ld)
		if err != nil {
			return nil, err
		}
		env, err := v1.ToV2()
		if err != nil {
			return nil, err
		}
		body, err := codec.Encode(env, CompressionS2)
		return [][]byte{body}, err
	}
	return []formatVariant{
		otlptx("otlptx-v2/s2", true, CompressionS2),
		viaOTLP,
		otlptx("otlptx-v2/zstd", true, CompressionZstd),
		otlptx("otlptx-v1/snappy", false, CompressionSnappy),
		otlp("otlphttp/zstd", func(s []byte) []byte { return zstdEnc.EncodeAll(s, nil) }, func(s []byte) ([]byte, error) { return zstdDec.DecodeAll(s, nil) }, false),
		otlp("otlphttp/gzip", gzipCompress, gzipDecompress, false),
		otlp("otlpgrpc/gzip", gzipCompress, gzipDecompress, true),
	}
}

const referenceVariant = "otlphttp/zstd"

// BenchmarkFormats measures every variant on streams of distinct batches of four mixes at
// three sizes: wire bytes, encode (pdata to body) and decode (body to pdata) CPU time
// per item and allocations per item. Before timing, every v2 batch of the stream must decode
// to the canonical OTLP bytes of its input.
func BenchmarkFormats(b *testing.B) {
	codec := newTestCodec(b, 64<<20)
	variants := formatVariants(b, codec)
	var rows []benchRow
	for _, mix := range otlptxtest.Mixes {
		for _, size := range []int{100, 1000, 5000} {
			batches := benchStream(mix, size)
			for _, batch := range batches {
				env, err := NewEnvelopeV2(Header{SenderID: "gate"}, batch.td, batch.md, batch.ld)
				require.NoError(b, err)
				wire, err := codec.Encode(env, CompressionS2)
				require.NoError(b, err)
				got, err := codec.Decode(wire, CompressionS2)
				require.NoError(b, err)
				requireCanonicalEqual(b, batch.td, batch.md, batch.ld, got)
			}
			for _, v := range variants {
				b.Run(fmt.Sprintf("%s/%d/%s", mix, size, v.name), func(b *testing.B) {
					row := benchRow{mix: mix, size: size, variant: v.name}
					var wireBytes, items int
					var encodeTime, decodeTime time.Duration
					b.ReportAllocs()
					// The GC runs as usual: its cost belongs to the variants that allocate.
					// Encode and decode are timed with the CPU clock of the benchmark's
					// thread (precise; unaffected by waiting for a core that other processes
					// hold); the total is the process's CPU time over the loop, which also
					// counts the GC's background work on other threads.
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					runtime.GC()
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					processStart := processCPUTotal(b)
					i := 0
					for b.Loop() {
						batch := batches[i%len(batches)]
						i++
						t0 := threadCPU(b)
						bodies, err := v.encode(batch)
						t1 := threadCPU(b)
						require.NoError(b, err)
						require.NoError(b, v.decode(bodies))
						decodeTime += threadCPU(b) - t1
						encodeTime += t1 - t0
						for _, body := range bodies {
							wireBytes += len(body)
						}
						items += batch.items
					}
					b.StopTimer()
					row.totalNs = float64(processCPUTotal(b)-processStart) / float64(items)
					runtime.ReadMemStats(&after)
					row.allocs = float64(after.Mallocs-before.Mallocs) / float64(items)
					row.wire = float64(wireBytes) / float64(items)
					row.encodeNs = float64(encodeTime.Nanoseconds()) / float64(items)
					row.decodeNs = float64(decodeTime.Nanoseconds()) / float64(items)
					b.ReportMetric(row.wire, "wire_B/item")
					b.ReportMetric(row.encodeNs, "enc_ns/item")
					b.ReportMetric(row.decodeNs, "dec_ns/item")
					b.ReportMetric(row.allocs, "allocs/item")
					b.ReportMetric(row.totalNs, "cpu_ns/item")
					rows = append(rows, row)
				})
			}
		}
	}
	// Printed rather than logged: a parent benchmark's log is not shown when it has
	// sub-benchmarks.
	fmt.Println(formatTable(rows))
}

// threadCPU returns the CPU time of the calling thread (a precise clock, unlike the
// tick-sampled user/system split of getrusage).
func threadCPU(tb testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		tb.Fatalf("thread CPU clock: %v", err)
	}
	return time.Duration(ts.Nano())
}

// processCPUTotal returns the CPU time of the whole process (all threads, user and system).
func processCPUTotal(tb testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		tb.Fatalf("process CPU clock: %v", err)
	}
	return time.Duration(ts.Nano())
}

// formatTable prints the rows with their ratios to OTLP/HTTP+zstd of the same mix and
// size; the CPU ratio compares total CPU (encode, decode and GC). With -count N every
// sub-benchmark runs N times in the same process and each column is the median of the N
// runs (the ratio is computed from the medians).
func formatTable(rows []benchRow) string {
	type key struct {
		mix     otlptxtest.Mix
		size    int
		variant string
	}
	runs := map[key][]benchRow{}
	var order []key
	for _, r := range rows {
		k := key{r.mix, r.size, r.variant}
		if _, seen := runs[k]; !seen {
			order = append(order, k)
		}
		runs[k] = append(runs[k], r)
	}
	median := func(rs []benchRow, field func(benchRow) float64) float64 {
		vals := make([]float64, len(rs))
		for i, r := range rs {
			vals[i] = field(r)
		}
		slices.Sort(vals)
		if len(vals)%2 == 1 {
			return vals[len(vals)/2]
		}
		return (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2
	}
	summary := map[key]benchRow{}
	for k, rs := range runs {
		summary[k] = benchRow{
			mix: k.mix, size: k.size, variant: k.variant,
			wire:     median(rs, func(r benchRow) float64 { return r.wire }),
			encodeNs: median(rs, func(r benchRow) float64 { return r.encodeNs }),
			decodeNs: median(rs, func(r benchRow) float64 { return r.decodeNs }),
			totalNs:  median(rs, func(r benchRow) float64 { return r.totalNs }),
			allocs:   median(rs, func(r benchRow) float64 { return r.allocs }),
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "| mix | items | variant | wire B/item | encode ns/item | decode ns/item | total CPU ns/item | allocs/item | bytes vs otlphttp/zstd | CPU vs otlphttp/zstd |\n")
	fmt.Fprintf(&sb, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range order {
		r := summary[k]
		ref, ok := summary[key{k.mix, k.size, referenceVariant}]
		bytesRatio, cpuRatio := "", ""
		if ok && ref.wire > 0 {
			bytesRatio = fmt.Sprintf("%.2f", r.wire/ref.wire)
			cpuRatio = fmt.Sprintf("%.2f", r.totalNs/ref.totalNs)
		}
		fmt.Fprintf(&sb, "| %s | %d | %s | %.1f | %.0f | %.0f | %.0f | %.1f | %s | %s |\n",
			r.mix, r.size, r.variant, r.wire, r.encodeNs, r.decodeNs, r.totalNs, r.allocs, bytesRatio, cpuRatio)
	}
	fmt.Fprintf(&sb, "(median of %d runs per row)\n", len(runs[order[0]]))
	return sb.String()
}
