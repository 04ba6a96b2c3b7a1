// Package hostext finds an extension of a known type among a host's extensions, the way components find the
// in-process brokers of this distribution (pprofcapture, readiness_hub).
package hostext // import "github.com/otelcol-ready/otelcol-ready/pkg/hostext"

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
)

// ErrNotFound is wrapped by Find when no extension of the type is configured.
var ErrNotFound = errors.New("extension not configured")

// Find returns the extension of type typ implementing T. With a non-nil id it returns that extension (an error when
// it is missing or does not implement T). With a nil id it returns the only such extension, an error wrapping
// ErrNotFound when there is none, and an error when there are several (the component must then name one).
func Find[T any](host component.Host, id *component.ID, typ component.Type) (T, error) {
	var zero T
	extensions := host.GetExtensions()
	if id != nil {
		ext, ok := extensions[*id]
		if !ok {
			return zero, fmt.Errorf("extension %q not found: add it to service::extensions", id.String())
		}
		found, ok := ext.(T)
		if !ok {
			return zero, fmt.Errorf("extension %q is not a %s extension", id.String(), typ)
		}
		return found, nil
	}
	var ids []component.ID
	var only T
	for extID, ext := range extensions {
		if extID.Type() != typ {
			continue
		}
		if found, ok := ext.(T); ok {
			ids = append(ids, extID)
			only = found
		}
	}
	switch len(ids) {
	case 0:
		return zero, fmt.Errorf("no %s extension is configured in service::extensions: %w", typ, ErrNotFound)
	case 1:
		return only, nil
	default:
		return zero, fmt.Errorf("%d %s extensions are configured (%v): name one in the component's configuration", len(ids), typ, ids)
	}
}
