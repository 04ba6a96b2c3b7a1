//go:generate mdatagen metadata.yaml

// Package otlptxreceiver receives OTLP-TX envelopes (see pkg/otlptx) over HTTP,
// forwards each signal to the pipelines of that signal and suppresses batches it has
// already accepted (same sender id and sequence).
package otlptxreceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver"
