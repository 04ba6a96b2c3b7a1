package scenarios

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// TestOverload (scenario 3): the backend first fails, then answers slower than the input; the collector's
// memory_limiter and bounded queue refuse with retryable errors, which the generator retries. Then the backend
// recovers, the load goes on, and everything the collector acknowledged must arrive. Peak RSS is printed next to
// the configured limit.
func TestOverload(t *testing.T) {
	bin := scenarioSetup(t)
	backend := testbed.StartMockBackend(t)
	mon := newMonitor(t)
	const limitMiB, spikeMiB = 200, 40
	// Short: a small queue per signal is the first bound, so refusals come early even when a busy CI machine slows
	// the generator. Full: the queue is far larger than the memory limit, so memory_limiter is the bound.
	queueItems := pick(40_000, 4_000_000)
	grpcIn := testbed.FreeEndpoint(t)
	col := testbed.NewCollector(t, bin, testbed.CollectorConfig{
		Name: "overloaded", Template: "overload.yaml.tmpl", Monitor: mon,
		Vars: map[string]any{
			"GRPCEndpoint": grpcIn, "HTTPEndpoint": testbed.FreeEndpoint(t),
			"BackendEndpoint": backend.GRPCEndpoint(), "QueueItems": queueItems,
			"MemoryLimitMiB": limitMiB, "SpikeLimitMiB": spikeMiB,
		},
	})
	col.MustStart()

	failFor := pick(3*time.Second, 10*time.Second)
	slowFor := pick(9*time.Second, 40*time.Second)
	recoverFor := pick(5*time.Second, 20*time.Second)
	gen := newGenerator(t, newSender(t, testbed.GRPCSenderFactory(""), grpcIn), testbed.LoadOptions{
		BatchSize: 500, Workers: 4, Duration: failFor + slowFor + recoverFor,
		AttemptTimeout: 5 * time.Second, RetryFor: 2 * time.Minute,
	})

	backend.SetFailure(&testbed.Failure{GRPCCode: codes.Unavailable, HTTPStatus: 503})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := make(chan testbed.LoadStats, 1)
	start := time.Now()
	go func() { done <- gen.Run(ctx) }()

	sleepUntil(start.Add(failFor))
	backend.SetFailure(nil)
	backend.SetDelay(4 * time.Second) // 4 consumers x at most 4000 items per 4 s: far below the input rate
	sleepUntil(start.Add(failFor + slowFor))
	overloaded := gen.Stats()
	if totals, err := col.TelemetryTotals("otelcol_processor_", "otelcol_exporter_enqueue_failed", "otelcol_exporter_queue", "otelcol_receiver_refused"); err == nil {
		t.Logf("collector telemetry at the end of the overload: %v", totals)
	}
	backend.SetDelay(0)
	st := <-done

	t.Logf("during overload: %+v", overloaded)
	t.Logf("whole run: %+v", st)
	refused := overloaded.Refusals["Unavailable"] + overloaded.Refusals["ResourceExhausted"]
	if refused == 0 {
		t.Errorf("the collector never refused with a retryable error while the backend was slow: %+v", overloaded)
	}
	if st.Sent <= overloaded.Sent {
		t.Errorf("no item was acknowledged after the backend recovered (%d before, %d after)", overloaded.Sent, st.Sent)
	}
	if st.Failed > 0 {
		t.Errorf("the generator gave up on %d items: %v", st.Failed, gen.LastError())
	}
	res := waitDelivered(t, testbed.MergeSent(gen), backend, pick(2*time.Minute, 4*time.Minute))
	mon.SampleNow()
	usage := mon.Usage(col.Name())
	t.Logf("peak RSS %.0f MiB (anonymous %.0f MiB) with memory_limiter limit_mib %d; backend refused %d requests on purpose",
		mib(usage.PeakRSSBytes), mib(usage.PeakAnonRSSBytes), limitMiB, backend.Refused())
	// RssAnon (heap, stacks) is what limit_mib governs; VmHWM adds the mapped binary. The margin covers memory the
	// Go runtime has freed but not yet returned; without the limiter the queue alone would hold every refused item.
	if limit := int64(limitMiB) << 20; usage.PeakAnonRSSBytes > limit*3/2 {
		t.Errorf("peak anonymous RSS %.0f MiB exceeds 1.5 x limit_mib %d", mib(usage.PeakAnonRSSBytes), limitMiB)
	}
	recordRow(t, testbed.Row{
		Scenario:   "3-overload",
		Transport:  "otlp-grpc -> otlp_grpc (slow backend)",
		Items:      st.Sent,
		Seconds:    st.Elapsed.Seconds(),
		CPUSeconds: usage.CPUSeconds,
		PeakRSSMiB: mib(usage.PeakRSSBytes),
		BytesIn:    st.WireBytes,
		BytesOut:   backend.WireBytes(),
		Lost:       int64(res.Lost()),
		Duplicated: res.Duplicated(),
		Notes: fmt.Sprintf("peak anon RSS %.0f MiB; limit_mib %d; backend fails %s then 4 s/request for %s, then recovers; queue %d items/signal; refusals %s",
			mib(usage.PeakAnonRSSBytes), limitMiB, failFor, slowFor, queueItems, formatCounts(st.Refusals)),
	})
	if err := col.Stop(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
}

func formatCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
