package deploy

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// binaries resolves otelcol-ready ($OTELCOL_READY_BIN, else one `go build ./distro`) and the demo service.
var binaries *testbed.Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "otelcol-ready-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binaries = testbed.NewBinaries(dir)
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// collectorBinary skips under -short (the binary is a full distribution build) and returns otelcol-ready.
func collectorBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real otelcol-ready binary; skipped with -short")
	}
	bin, err := binaries.Collector()
	if err != nil {
		t.Fatalf("otelcol-ready binary: %v", err)
	}
	return bin
}

func demoAppBinary(t *testing.T) string {
	t.Helper()
	bin, err := binaries.DemoApp()
	if err != nil {
		t.Fatalf("demoapp binary: %v", err)
	}
	return bin
}
