package arrowbench

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/open-telemetry/otel-arrow/go/pkg/otel/arrow_record"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

type batch struct {
	td    ptrace.Traces
	md    pmetric.Metrics
	ld    plog.Logs
	items int
}

func stream(seed uint64, mix otlptxtest.Mix, size, length int) []batch {
	s := otlptxtest.NewStream(seed, 3)
	out := make([]batch, length)
	for i := range out {
		td, md, ld := s.Next(mix, size)
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
		out[i] = batch{td, md, ld, n}
	}
	return out
}

// variant encodes a batch and decodes it back to pdata, returning the wire bytes and the
// CPU time of each phase (thread CPU clock).
type variant struct {
	name string
	run  func(b batch) (wire int, encode, decode time.Duration, err error)
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func newVariants(tb testing.TB) []variant {
	codec, err := otlptx.NewCodec(64 << 20)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(codec.Close)
	zenc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	zdec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	tb.Cleanup(func() { _ = zenc.Close(); zdec.Close() })
	// OTel-Arrow is stateful: one producer and one consumer per stream, as on a gRPC
	// stream, so later batches profit from the dictionaries and schemas of earlier ones.
	producer := arrow_record.NewProducer()
	consumer := arrow_record.NewConsumer()
	tb.Cleanup(func() { _ = producer.Close(); _ = consumer.Close() })

	return []variant{
		{"otel-arrow (stream)", func(b batch) (int, time.Duration, time.Duration, error) {
			var wire int
			var enc, dec time.Duration
			signals := []func() error{
				func() error {
					if b.td == (ptrace.Traces{}) {
						return nil
					}
					t0 := threadCPU()
					bar, err := producer.BatchArrowRecordsFromTraces(b.td)
					if err != nil {
						return err
					}
					raw, err := proto.Marshal(bar)
					t1 := threadCPU()
					enc += t1 - t0
					if err != nil {
						return err
					}
					wire += len(raw)
					_, err = consumer.TracesFrom(bar)
					dec += threadCPU() - t1
					return err
				},
				func() error {
					if b.md == (pmetric.Metrics{}) {
						return nil
					}
					t0 := threadCPU()
					bar, err := producer.BatchArrowRecordsFromMetrics(b.md)
					if err != nil {
						return err
					}
					raw, err := proto.Marshal(bar)
					t1 := threadCPU()
					enc += t1 - t0
					if err != nil {
						return err
					}
					wire += len(raw)
					_, err = consumer.MetricsFrom(bar)
					dec += threadCPU() - t1
					return err
				},
				func() error {
					if b.ld == (plog.Logs{}) {
						return nil
					}
					t0 := threadCPU()
					bar, err := producer.BatchArrowRecordsFromLogs(b.ld)
					if err != nil {
						return err
					}
					raw, err := proto.Marshal(bar)
					t1 := threadCPU()
					enc += t1 - t0
					if err != nil {
						return err
					}
					wire += len(raw)
					_, err = consumer.LogsFrom(bar)
					dec += threadCPU() - t1
					return err
				},
			}
			for _, s := range signals {
				if err := s(); err != nil {
					return 0, 0, 0, err
				}
			}
			return wire, enc, dec, nil
		}},
		{"otlptx-v2/s2", func(b batch) (int, time.Duration, time.Duration, error) {
			t0 := threadCPU()
			env, err := otlptx.NewEnvelopeV2(otlptx.Header{SenderID: "bench", Sequence: 1}, b.td, b.md, b.ld)
			if err != nil {
				return 0, 0, 0, err
			}
			body, err := codec.Encode(env, otlptx.CompressionS2)
			t1 := threadCPU()
			if err != nil {
				return 0, 0, 0, err
			}
			got, err := codec.Decode(body, otlptx.CompressionS2)
			if err == nil {
				_, _, err = got.DecodeTraces()
			}
			if err == nil {
				_, _, err = got.DecodeMetrics()
			}
			if err == nil {
				_, _, err = got.DecodeLogs()
			}
			return len(body), t1 - t0, threadCPU() - t1, err
		}},
		{"otlphttp/zstd", func(b batch) (int, time.Duration, time.Duration, error) {
			var wire int
			var enc, dec time.Duration
			type codecPair struct {
				present   bool
				marshal   func() ([]byte, error)
				unmarshal func([]byte) error
			}
			for _, c := range []codecPair{
				{b.td != (ptrace.Traces{}), func() ([]byte, error) { return ptraceotlp.NewExportRequestFromTraces(b.td).MarshalProto() },
					func(r []byte) error { return ptraceotlp.NewExportRequest().UnmarshalProto(r) }},
				{b.md != (pmetric.Metrics{}), func() ([]byte, error) { return pmetricotlp.NewExportRequestFromMetrics(b.md).MarshalProto() },
					func(r []byte) error { return pmetricotlp.NewExportRequest().UnmarshalProto(r) }},
				{b.ld != (plog.Logs{}), func() ([]byte, error) { return plogotlp.NewExportRequestFromLogs(b.ld).MarshalProto() },
					func(r []byte) error { return plogotlp.NewExportRequest().UnmarshalProto(r) }},
			} {
				if !c.present {
					continue
				}
				t0 := threadCPU()
				raw, err := c.marshal()
				if err != nil {
					return 0, 0, 0, err
				}
				body := zenc.EncodeAll(raw, nil)
				t1 := threadCPU()
				wire += len(body)
				raw, err = zdec.DecodeAll(body, nil)
				if err == nil {
					err = c.unmarshal(raw)
				}
				dec += threadCPU() - t1
				enc += t1 - t0
				if err != nil {
					return 0, 0, 0, err
				}
			}
			return wire, enc, dec, nil
		}},
	}
}

type row struct {
	mix                     otlptxtest.Mix
	size                    int
	name                    string
	wire, enc, dec, totalNs float64
}

// BenchmarkArrow prints wire bytes and encode/decode CPU per item of OTel-Arrow, OTLP-TX
// v2 (s2) and OTLP/HTTP+zstd on the same streams.
func BenchmarkArrow(b *testing.B) {
	var rows []row
	for _, mix := range otlptxtest.Mixes {
		for _, size := range []int{100, 1000, 5000} {
			batches := stream(11, mix, size, 16)
			// A stateful stream is warmed up with other batches of the same services (same
			// vocabulary, other ids, values and timestamps) before it is measured, as a
			// long-lived OTel-Arrow stream would be.
			warmup := stream(99, mix, size, 4)
			for _, v := range newVariants(b) {
				b.Run(fmt.Sprintf("%s/%d/%s", mix, size, v.name), func(b *testing.B) {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					for _, bt := range warmup {
						if _, _, _, err := v.run(bt); err != nil {
							b.Fatal(err)
						}
					}
					var wire, items int
					var enc, dec time.Duration
					var p0, p1 unix.Timespec
					_ = unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &p0)
					i := 0
					for b.Loop() {
						bt := batches[i%len(batches)]
						i++
						w, e, d, err := v.run(bt)
						if err != nil {
							b.Fatal(err)
						}
						wire += w
						enc += e
						dec += d
						items += bt.items
					}
					_ = unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &p1)
					r := row{mix, size, v.name, float64(wire) / float64(items), float64(enc) / float64(items),
						float64(dec) / float64(items), float64(p1.Nano()-p0.Nano()) / float64(items)}
					b.ReportMetric(r.wire, "wire_B/item")
					b.ReportMetric(r.totalNs, "cpu_ns/item")
					rows = append(rows, r)
				})
			}
		}
	}
	// A sub-benchmark can run more than once; its last run counts.
	last := map[string]int{}
	var unique []row
	for _, r := range rows {
		k := fmt.Sprintf("%s/%d/%s", r.mix, r.size, r.name)
		if i, seen := last[k]; seen {
			unique[i] = r
			continue
		}
		last[k] = len(unique)
		unique = append(unique, r)
	}
	rows = unique
	var sb strings.Builder
	sb.WriteString("| mix | items | variant | wire B/item | encode ns/item | decode ns/item | total CPU ns/item | bytes vs otlphttp/zstd | CPU vs otlphttp/zstd |\n|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
	ref := map[string]row{}
	for _, r := range rows {
		if r.name == "otlphttp/zstd" {
			ref[fmt.Sprintf("%s/%d", r.mix, r.size)] = r
		}
	}
	for _, r := range rows {
		x := ref[fmt.Sprintf("%s/%d", r.mix, r.size)]
		fmt.Fprintf(&sb, "| %s | %d | %s | %.1f | %.0f | %.0f | %.0f | %.2f | %.2f |\n",
			r.mix, r.size, r.name, r.wire, r.enc, r.dec, r.totalNs, r.wire/x.wire, r.totalNs/x.totalNs)
	}
	fmt.Println(sb.String())
}
