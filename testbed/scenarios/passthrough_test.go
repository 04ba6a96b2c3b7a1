package scenarios

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// TestPassThrough (scenario 1) measures one collector between the load generator and the mock backend for each
// pair of input transport and exporter, with the same data and load. It asserts that nothing acknowledged is lost.
func TestPassThrough(t *testing.T) {
	bin := scenarioSetup(t)
	pairs := []struct {
		in       string
		sender   testbed.SenderFactory
		useHTTP  bool
		exporter string
	}{
		{"otlp-grpc+gzip", testbed.GRPCSenderFactory("gzip"), false, "otlp_grpc"},
		{"otlp-grpc+gzip", testbed.GRPCSenderFactory("gzip"), false, "otlp_http"},
		{"otlp-http+zstd", testbed.HTTPSenderFactory("zstd"), true, "otlp_grpc"},
		{"otlp-http+zstd", testbed.HTTPSenderFactory("zstd"), true, "otlp_http"},
	}
	for _, p := range pairs {
		name := p.in + "->" + p.exporter
		t.Run(name, func(t *testing.T) {
			backend := testbed.StartMockBackend(t)
			mon := newMonitor(t)
			endpoint := backend.GRPCEndpoint()
			if p.exporter == "otlp_http" {
				endpoint = backend.HTTPURL()
			}
			grpcIn, httpIn := testbed.FreeEndpoint(t), testbed.FreeEndpoint(t)
			col := testbed.NewCollector(t, bin, testbed.CollectorConfig{
				Name:     "passthrough",
				Template: "passthrough.yaml.tmpl",
				Monitor:  mon,
				Vars: map[string]any{
					"GRPCEndpoint": grpcIn, "HTTPEndpoint": httpIn,
					"Exporter": p.exporter, "BackendEndpoint": endpoint, "ExportCompression": "gzip",
					"MemoryLimitMiB": 1000, "SpikeLimitMiB": 200,
				},
			})
			col.MustStart()
			in := grpcIn
			if p.useHTTP {
				in = httpIn
			}
			sender := newSender(t, p.sender, in)
			gen := newGenerator(t, sender, testbed.LoadOptions{
				BatchSize: 500,
				Workers:   4,
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
			t.Logf("load: %+v", st)
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
				Notes:      fmt.Sprintf("4 workers x 500 items/request, as fast as acknowledged; retries %d", st.Retries),
			})
			if err := col.Stop(); err != nil {
				t.Errorf("graceful stop: %v", err)
			}
		})
	}
}
