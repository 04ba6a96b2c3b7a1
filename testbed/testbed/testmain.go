package testbed

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// RunTestMain is the TestMain of a package whose tests run the real binaries: it hands run a Binaries resolver
// whose builds go to a temporary folder, runs the tests, checks for leaked goroutines after a passing run, removes
// the folder and returns the exit code for os.Exit.
func RunTestMain(m *testing.M, setBinaries func(*Binaries)) int {
	dir, err := os.MkdirTemp("", "otelcol-ready-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	setBinaries(NewBinaries(dir))
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}

// CollectorForTest returns the otelcol-ready binary, skipping the test under -short (it is a full distribution
// build) and failing it when the binary cannot be had.
func (b *Binaries) CollectorForTest(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("runs the real otelcol-ready binary; skipped with -short")
	}
	bin, err := b.Collector()
	if err != nil {
		tb.Fatalf("otelcol-ready binary: %v", err)
	}
	return bin
}

// SidecarCollectorForTest returns the slim otelcol-ready-sidecar binary, skipping the test under -short and failing
// it when the binary cannot be had.
func (b *Binaries) SidecarCollectorForTest(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("runs the real otelcol-ready-sidecar binary; skipped with -short")
	}
	bin, err := b.SidecarCollector()
	if err != nil {
		tb.Fatalf("otelcol-ready-sidecar binary: %v", err)
	}
	return bin
}

// DemoAppForTest returns the demo service binary, failing the test when it cannot be had.
func (b *Binaries) DemoAppForTest(tb testing.TB) string {
	tb.Helper()
	bin, err := b.DemoApp()
	if err != nil {
		tb.Fatalf("demoapp binary: %v", err)
	}
	return bin
}

// FaultZooForTest returns the fault zoo binary, failing the test when it cannot be had.
func (b *Binaries) FaultZooForTest(tb testing.TB) string {
	tb.Helper()
	bin, err := b.FaultZoo()
	if err != nil {
		tb.Fatalf("faultzoo binary: %v", err)
	}
	return bin
}
