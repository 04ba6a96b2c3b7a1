package deploy

import (
	"os"
	"testing"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// binaries resolves otelcol-ready ($OTELCOL_READY_BIN, else one `go build ./distro`), otelcol-ready-sidecar
// ($OTELCOL_READY_SIDECAR_BIN, else one `go build ./distro-sidecar`) and the demo service.
var binaries *testbed.Binaries

func TestMain(m *testing.M) {
	os.Exit(testbed.RunTestMain(m, func(b *testbed.Binaries) { binaries = b }))
}

func collectorBinary(t *testing.T) string {
	t.Helper()
	return binaries.CollectorForTest(t)
}

func sidecarCollectorBinary(t *testing.T) string {
	t.Helper()
	return binaries.SidecarCollectorForTest(t)
}

// binaryFor is the binary the image of a collector run holds: the slim one for sidecarImage.
func binaryFor(t *testing.T, run collectorRun) string {
	t.Helper()
	switch run.Image {
	case sidecarImage:
		return sidecarCollectorBinary(t)
	case collectorImage:
		return collectorBinary(t)
	}
	t.Fatalf("%s: image %q is neither %s nor %s", run.Source, run.Image, collectorImage, sidecarImage)
	return ""
}

func demoAppBinary(t *testing.T) string {
	t.Helper()
	return binaries.DemoAppForTest(t)
}
