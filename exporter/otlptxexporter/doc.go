//go:generate mdatagen metadata.yaml

// Package otlptxexporter exports traces, metrics and logs as OTLP-TX envelopes (see
// pkg/otlptx): one exporter instance batches the three signals into shared envelopes,
// assigns each batch a sequence number, persists it (optionally through a storage
// extension) before acknowledging the data, and sends it over HTTP with retries and
// failover across several endpoints.
package otlptxexporter // import "github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter"
