package pprofcaptureextension // import "github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension/internal/metadata"
)

// ErrNoBroker is returned by FindBroker when the host runs no pprofcapture extension.
var ErrNoBroker = errors.New("no pprofcapture extension is configured in service::extensions")

// FindBroker looks up the broker among the host's extensions. With a non-nil id it returns that extension (an
// error when it is missing or is not a Broker). With a nil id it returns the only pprofcapture extension present,
// ErrNoBroker when there is none and an error when there are several (the component must then name one).
func FindBroker(host component.Host, id *component.ID) (Broker, error) {
	extensions := host.GetExtensions()
	if id != nil {
		ext, ok := extensions[*id]
		if !ok {
			return nil, fmt.Errorf("extension %q not found: add it to service::extensions", id.String())
		}
		b, ok := ext.(Broker)
		if !ok {
			return nil, fmt.Errorf("extension %q is not a pprofcapture extension", id.String())
		}
		return b, nil
	}
	var found []component.ID
	var broker Broker
	for extID, ext := range extensions {
		if extID.Type() != metadata.Type {
			continue
		}
		if b, ok := ext.(Broker); ok {
			found = append(found, extID)
			broker = b
		}
	}
	switch len(found) {
	case 0:
		return nil, ErrNoBroker
	case 1:
		return broker, nil
	default:
		return nil, fmt.Errorf("%d pprofcapture extensions are configured (%v): name one in the component's configuration", len(found), found)
	}
}
