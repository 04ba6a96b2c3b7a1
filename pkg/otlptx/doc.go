// Package otlptx implements OTLP-TX, the wire format used between an otelcol-ready
// sidecar (exporter "otlptx") and gateway (receiver "otlptx").
//
// One request carries one Envelope: a small header (format version, sender id, batch
// sequence number, creation time, item counts per signal) plus up to three standard OTLP
// requests (ExportTraceServiceRequest, ExportMetricsServiceRequest,
// ExportLogsServiceRequest) as embedded messages, so any OTLP protobuf library can decode
// the payloads. The envelope is compressed as a whole (snappy block format by default,
// zstd or none).
//
// Format version 2 (FormatVersion2, NewEnvelopeV2, Codec.EncodeV2) keeps the header and
// replaces the OTLP requests by one columnar body: a per-envelope string table and one
// section per signal whose values are split into columns by kind (delta-encoded
// timestamps, XOR-encoded doubles, trace ids once per run of spans, parents as
// back-references), encoded from pdata and decoded into pdata without an OTLP protobuf
// step, compressed with s2 or zstd behind the magic "OTX2". The schema is documented in otlptx.proto next to this file and in
// docs/otlptx-wire-format.md at the repository root.
package otlptx // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
