package deploy

import (
	"os"
	"testing"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// binaries resolves otelcol-ready ($OTELCOL_READY_BIN, else one `go build ./distro`) and the demo service.
var binaries *testbed.Binaries

func TestMain(m *testing.M) {
	os.Exit(testbed.RunTestMain(m, func(b *testbed.Binaries) { binaries = b }))
}

func collectorBinary(t *testing.T) string {
	t.Helper()
	return binaries.CollectorForTest(t)
}

func demoAppBinary(t *testing.T) string {
	t.Helper()
	return binaries.DemoAppForTest(t)
}
