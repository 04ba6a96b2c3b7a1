// Package scenarios runs the testbed scenarios against the real otelcol-ready binary. Plain `go test` runs the
// short versions (make test); TESTBED_FULL=1 runs the full ones and writes report rows to testbed/results
// (make bench). `go test -short` skips them.
package scenarios

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

var binaries *testbed.Binaries

func TestMain(m *testing.M) {
	os.Exit(testbed.RunTestMain(m, func(b *testbed.Binaries) { binaries = b }))
}

// scenarioSetup skips under -short and returns the collector binary.
func scenarioSetup(t *testing.T) string {
	t.Helper()
	return binaries.CollectorForTest(t)
}

func demoAppBinary(t *testing.T) string {
	t.Helper()
	return binaries.DemoAppForTest(t)
}

// pick returns short in make test, full under TESTBED_FULL=1.
func pick[T any](short, full T) T {
	if testbed.Full() {
		return full
	}
	return short
}

// recordRow completes, logs and (in full mode or with TESTBED_RESULTS_DIR) writes a report row.
func recordRow(t *testing.T, row testbed.Row) {
	t.Helper()
	row.Fill()
	t.Logf("report row:\n%s%s", testbed.MarkdownHeader, row.Markdown())
	dir, err := testbed.ResultsDir()
	if err != nil {
		t.Fatalf("results dir: %v", err)
	}
	if dir == "" {
		return
	}
	if err := testbed.WriteRow(dir, row); err != nil {
		t.Fatalf("writing report row: %v", err)
	}
}

// newMonitor starts a resource monitor stopped in t.Cleanup.
func newMonitor(t *testing.T) *testbed.ResourceMonitor {
	m := testbed.NewResourceMonitor(200 * time.Millisecond)
	t.Cleanup(m.Stop)
	return m
}

// newSender makes a sender closed in t.Cleanup.
func newSender(t *testing.T, f testbed.SenderFactory, endpoint string) testbed.Sender {
	t.Helper()
	s, err := f(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newGenerator makes a load generator or fails the test.
func newGenerator(t *testing.T, s testbed.Sender, opts testbed.LoadOptions) *testbed.LoadGenerator {
	t.Helper()
	g, err := testbed.NewLoadGenerator(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// waitDelivered waits until the backend holds every acknowledged id (or nothing new arrived for 30 s, or timeout
// passed), then validates; it fails the test on loss.
func waitDelivered(t *testing.T, sent map[testbed.Signal]*testbed.IDCounter, backend *testbed.MockBackend, timeout time.Duration) testbed.Result {
	t.Helper()
	const stallAfter = 30 * time.Second
	lastTotal, lastProgress := int64(-1), time.Now()
	testbed.WaitUntil(context.Background(), timeout, 250*time.Millisecond, func() bool {
		if testbed.AllReceived(sent, backend.ReceivedBySignal()) {
			return true
		}
		var total int64
		for _, c := range backend.ReceivedBySignal() {
			total += c.Total()
		}
		if total != lastTotal {
			lastTotal, lastProgress = total, time.Now()
		}
		return time.Since(lastProgress) > stallAfter
	})
	// Give in-flight duplicates (re-sent after a restart) a moment to land, so they are counted.
	time.Sleep(500 * time.Millisecond)
	res := testbed.Validate(sent, backend.ReceivedBySignal())
	t.Logf("validation:\n%s", res)
	if res.Lost() > 0 {
		t.Errorf("%d acknowledged items never reached the backend", res.Lost())
	}
	return res
}

// distroConfig returns the path of a shipped config: distro/config/<name>, or <$TESTBED_DISTRO_CONFIG_DIR>/<name>
// to try a candidate change before it is shipped.
func distroConfig(t *testing.T, name string) string {
	t.Helper()
	if dir := os.Getenv("TESTBED_DISTRO_CONFIG_DIR"); dir != "" {
		return filepath.Join(dir, name)
	}
	p, err := testbed.RepoPath("distro/config/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
