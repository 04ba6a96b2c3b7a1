// Package arrowbench compares OTLP-TX version 2 with OTel-Arrow (its Go producer and
// consumer) on the streams of pkg/otlptx/otlptxtest. It is a module of its own so that
// OTel-Arrow and Apache Arrow stay out of the distribution's dependency graph.
//
//	cd pkg/otlptx/arrowbench && go test -run '^$' -bench . -benchtime 20x
package arrowbench
