//go:generate mdatagen metadata.yaml

// Package readinesssamplerprocessor samples traces consistently by trace id: at a base rate, and at a higher rate
// for every service with an active readiness episode (plus a tail), which it learns from the readiness_hub
// extension, never from the data.
package readinesssamplerprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinesssamplerprocessor"
