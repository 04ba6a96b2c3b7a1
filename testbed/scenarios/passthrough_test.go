package scenarios

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// TestPassThrough (scenario 1) measures one collector between the load generator and the mock backend for each
// pair of input transport and exporter, with the same data and load: OTLP/gRPC and OTLP/HTTP in and out, and the
// OTLP-TX pair (OTLP-TX in through the otlptx receiver, the otlptx exporter out to the backend's OTLP-TX endpoint).
// It asserts that nothing acknowledged is lost and prints bytes on the wire per item in and out.
func TestPassThrough(t *testing.T) {
	bin := scenarioSetup(t)
	const (
		inGRPC = iota
		inHTTP
		inOTLPTX
	)
	pairs := []struct {
		in       string
		sender   testbed.SenderFactory
		input    int
		exporter string
		workers  int
	}{
		{"otlp-grpc+gzip", testbed.GRPCSenderFactory("gzip"), inGRPC, "otlp_grpc", 4},
		{"otlp-grpc+gzip", testbed.GRPCSenderFactory("gzip"), inGRPC, "otlp_http", 4},
		{"otlp-http+zstd", testbed.HTTPSenderFactory("zstd"), inHTTP, "otlp_grpc", 4},
		{"otlp-http+zstd", testbed.HTTPSenderFactory("zstd"), inHTTP, "otlp_http", 4},
		// The otlptx exporter answers a pipeline call only once the call's batch is queued (at most its
		// flush_interval, 200 ms, later), so the sender needs about max_items / 500 = 16 requests in flight to fill
		// batches; with 4 it measures that latency (about 10,000 items/s), not the collector's cost.
		{"otlp-tx-v2+s2", testbed.OTLPTXSenderFactory("s2"), inOTLPTX, "otlptx", 32},
	}
	for _, p := range pairs {
		name := p.in + "->" + p.exporter
		t.Run(name, func(t *testing.T) {
			backend := testbed.StartMockBackend(t)
			mon := newMonitor(t)
			endpoint := backend.GRPCEndpoint()
			switch p.exporter {
			case "otlp_http":
				endpoint = backend.HTTPURL()
			case "otlptx":
				endpoint = backend.OTLPTXURL()
			}
			grpcIn, httpIn, otlptxIn := testbed.FreeEndpoint(t), testbed.FreeEndpoint(t), testbed.FreeEndpoint(t)
			col := testbed.NewCollector(t, bin, testbed.CollectorConfig{
				Name:     "passthrough",
				Template: "passthrough.yaml.tmpl",
				Monitor:  mon,
				Vars: map[string]any{
					"GRPCEndpoint": grpcIn, "HTTPEndpoint": httpIn, "OTLPTXEndpoint": otlptxIn,
					"Exporter": p.exporter, "BackendEndpoint": endpoint, "ExportCompression": "gzip",
					"MemoryLimitMiB": 1000, "SpikeLimitMiB": 200,
				},
			})
			col.MustStart()
			in := map[int]string{inGRPC: grpcIn, inHTTP: httpIn, inOTLPTX: otlptxIn}[p.input]
			sender := newSender(t, p.sender, in)
			gen := newGenerator(t, sender, testbed.LoadOptions{
				BatchSize: 500,
				Workers:   p.workers,
				MaxItems:  pick[int64](60_000, 20_000_000),
				Duration:  pick(20*time.Second, 30*time.Second),
			})
			mon.SampleNow()
			cpuBefore := mon.Usage(col.Name()).CPUSeconds

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			st := gen.Run(ctx)
			if st.Sent == 0 {
				t.Fatalf("nothing acknowledged: %+v, last error %v", st, gen.LastError())
			}
			res := waitDelivered(t, testbed.MergeSent(gen), backend, 60*time.Second)
			mon.SampleNow()
			usage := mon.Usage(col.Name())
			t.Logf("load: %+v; wire bytes per item: %.1f in, %.1f out", st, perItem(st.WireBytes, st.Sent), perItem(backend.WireBytes(), st.Sent))
			if p.exporter == "otlptx" {
				t.Logf("backend OTLP-TX envelopes: v1 %d, v2 %d; re-sent batches suppressed %d",
					backend.OTLPTXRequestsByVersion(1), backend.OTLPTXRequestsByVersion(2), backend.OTLPTXDuplicateBatches())
			}
			recordRow(t, testbed.Row{
				Scenario:   "1-passthrough",
				Transport:  name,
				Items:      st.Sent,
				Seconds:    st.Elapsed.Seconds(),
				CPUSeconds: usage.CPUSeconds - cpuBefore,
				PeakRSSMiB: mib(usage.PeakRSSBytes),
				BytesIn:    st.WireBytes,
				BytesOut:   backend.WireBytes(),
				Lost:       int64(res.Lost()),
				Duplicated: res.Duplicated(),
				Notes: fmt.Sprintf("%d workers x 500 items/request, as fast as acknowledged; retries %d; wire %.1f B/item in, %.1f B/item out",
					p.workers, st.Retries, perItem(st.WireBytes, st.Sent), perItem(backend.WireBytes(), st.Sent)),
			})
			if err := col.Stop(); err != nil {
				t.Errorf("graceful stop: %v", err)
			}
		})
	}
}

// perItem divides bytes by items (0 when there are none).
func perItem(bytes, items int64) float64 {
	if items == 0 {
		return 0
	}
	return float64(bytes) / float64(items)
}
