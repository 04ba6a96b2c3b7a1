// Package testbed is the end-to-end harness around the real otelcol-ready binary: it starts collectors from
// config templates on free loopback ports (Collector), drives OTLP load with a unique id on every item
// (LoadGenerator, Sender), receives the collectors' output in a controllable mock backend (MockBackend), samples
// CPU and memory of child processes from /proc (ResourceMonitor), compares what was sent with what arrived
// (Validate) and writes one report row per scenario (Row, WriteRow).
//
// Everything listens on 127.0.0.1 only, every wait is bounded, and every child process is killed in t.Cleanup.
package testbed
