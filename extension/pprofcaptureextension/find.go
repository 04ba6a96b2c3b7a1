package pprofcaptureextension // import "github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"

import (
	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension/internal/metadata"
	"github.com/otelcol-ready/otelcol-ready/pkg/hostext"
)

// ErrNoBroker is wrapped by FindBroker's error when the host runs no pprofcapture extension.
var ErrNoBroker = hostext.ErrNotFound

// FindBroker looks up the broker among the host's extensions. With a non-nil id it returns that extension (an
// error when it is missing or is not a Broker). With a nil id it returns the only pprofcapture extension present,
// an error wrapping ErrNoBroker when there is none and an error when there are several (the component must then
// name one).
func FindBroker(host component.Host, id *component.ID) (Broker, error) {
	return hostext.Find[Broker](host, id, metadata.Type)
}
