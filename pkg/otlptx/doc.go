// Package otlptx implements OTLP-TX, the wire format used between an otelcol-ready
// sidecar (exporter "otlptx") and gateway (receiver "otlptx").
//
// One request carries one Envelope: a small header (format version, sender id, batch
// sequence number, creation time, item counts per signal) plus up to three standard OTLP
// requests (ExportTraceServiceRequest, ExportMetricsServiceRequest,
// ExportLogsServiceRequest) as embedded messages, so any OTLP protobuf library can decode
// the payloads. The envelope is compressed as a whole (snappy block format by default,
// zstd or none). The schema is documented in otlptx.proto next to this file and in
// docs/otlptx-wire-format.md at the repository root.
package otlptx // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
