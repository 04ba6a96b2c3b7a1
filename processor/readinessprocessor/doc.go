//go:generate mdatagen metadata.yaml

// Package readinessprocessor watches Go runtime metrics, evaluates readiness rules per service and acts on anomalies.
package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"
