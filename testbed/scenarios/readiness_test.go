package scenarios

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// TestReadinessSupport (scenario 4) exercises the helpers the pprofscrape and readiness scenarios build on: the
// demo service runs with a goroutine leak next to a collector that scrapes it; the test waits for the leak to show
// in what the collector wrote, switches the leak off through the control API, and reads OTLP logs back from the
// file exporter's output.
func TestReadinessSupport(t *testing.T) {
	bin := scenarioSetup(t)
	rig := testbed.StartBeside(t, bin, demoAppBinary(t), testbed.BesideOptions{
		DemoApp: testbed.DemoAppOptions{Modes: []string{"healthy", "leak"}, Args: []string{"-leak-rate", "50"}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	leaked := func(points []testbed.MetricPoint) (latest float64, seen int) {
		for _, p := range points {
			if p.Name == "demoapp_leaked_goroutines" && p.Resource["service.instance.id"] == rig.App.Addr() {
				latest, seen = p.Value, seen+1
			}
		}
		return latest, seen
	}
	points, err := testbed.WaitForMetrics(ctx, rig.MetricsFile, 30*time.Second, func(ps []testbed.MetricPoint) bool {
		v, n := leaked(ps)
		return n >= 2 && v > 0
	})
	if err != nil {
		t.Fatalf("the leak did not show in the scraped metrics: %v", err)
	}
	grown, _ := leaked(points)
	t.Logf("demoapp_leaked_goroutines = %.0f after %d points", grown, len(points))

	if err := rig.App.Control(ctx, "leak", false, nil); err != nil {
		t.Fatal(err)
	}

	// Application logs through the collector's OTLP receiver, read back from the file exporter.
	gen := newGenerator(t, newSender(t, testbed.GRPCSenderFactory(""), rig.OTLPEndpoint), testbed.LoadOptions{
		Signals: []testbed.Signal{testbed.Logs}, BatchSize: 50, MaxItems: 200,
	})
	if st := gen.Run(ctx); st.Sent != 200 {
		t.Fatalf("sent %d of 200 log records: %v", st.Sent, gen.LastError())
	}
	got := testbed.NewIDCounter()
	_, err = testbed.WaitForLogs(ctx, rig.LogsFile, 30*time.Second, func(batches []plog.Logs) bool {
		got = testbed.NewIDCounter()
		for _, ld := range batches {
			testbed.LogIDs(ld, func(id int64) { got.Add(id) })
		}
		return got.ContainsAll(gen.Sent(testbed.Logs))
	})
	if err != nil {
		t.Fatalf("log records missing from %s: %v (have %d of 200)", rig.LogsFile, err, got.Unique())
	}
	res := testbed.Validate(testbed.MergeSent(gen), map[testbed.Signal]*testbed.IDCounter{testbed.Logs: got})
	if res.Lost() != 0 || res.Duplicated() != 0 {
		t.Errorf("file exporter output differs from what was sent:\n%s", res)
	}
	if err := rig.Collector.Stop(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
}
