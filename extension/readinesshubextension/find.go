package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension/internal/metadata"
	"github.com/otelcol-ready/otelcol-ready/pkg/hostext"
)

// ErrNoHub is wrapped by FindHub's error when the host runs no readiness_hub extension.
var ErrNoHub = hostext.ErrNotFound

// FindHub looks up the hub among the host's extensions. With a non-nil id it returns that extension (an error when
// it is missing or is not a hub). With a nil id it returns the only readiness_hub extension present, an error
// wrapping ErrNoHub when there is none and an error when there are several (the component must then name one).
func FindHub(host component.Host, id *component.ID) (Hub, error) {
	return hostext.Find[Hub](host, id, metadata.Type)
}
