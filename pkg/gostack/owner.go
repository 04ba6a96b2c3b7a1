// Package gostack names the function that owns a Go stack: the one rule the pprofscrape receiver (its metrics and
// capture summaries) and the testbed's recordings use, so that a call site means the same thing everywhere.
package gostack // import "github.com/otelcol-ready/otelcol-ready/pkg/gostack"

import "strings"

// Shape says what a profile's stacks describe, which decides the fallback when no frame is service code.
type Shape int

const (
	// GoroutineStacks are whole goroutine stacks (goroutine, goroutine_delta, goroutineleak profiles and dumps): a
	// goroutine made of standard library frames only is named after the function it was started with, e.g.
	// net/http.(*persistConn).readLoop, which says more than the runtime.gopark or select it sits in.
	GoroutineStacks Shape = iota
	// SampleStacks are stacks of allocation or CPU samples (heap, allocs, cpu): without service code the first frame
	// outside the runtime (bytes.Repeat, compress/flate.NewWriter) is the most telling name.
	SampleStacks
)

// Owner returns the index of the frame that owns a stack of n frames, leaf first (function(i) is frame i's
// symbolised function name), and the index of its entry frame (-1 when there is none):
//
//  1. the first frame from the leaf that is service code (not the Go standard library; see IsServiceFunction);
//  2. otherwise, for goroutine stacks, the goroutine's entry frame (the root-most frame above runtime.goexit);
//  3. otherwise the first frame outside the runtime, else the leaf.
//
// n must be positive.
func Owner(n int, function func(i int) string, shape Shape) (owner, entry int) {
	entry = -1
	// Protobuf and debug=1 stacks end in runtime.goexit; debug=2 dumps omit it and end in the entry frame.
	for i := n - 1; i >= 0; i-- {
		if fn := function(i); fn != "runtime.goexit" && fn != "" {
			entry = i
			break
		}
	}
	for i := 0; i < n; i++ {
		if IsServiceFunction(function(i)) {
			return i, entry
		}
	}
	if shape == GoroutineStacks && entry >= 0 {
		return entry, entry
	}
	for i := 0; i < n; i++ {
		if !IsRuntimeFunction(function(i)) {
			return i, entry
		}
	}
	return 0, entry
}

// IsServiceFunction reports whether a symbolised function name belongs to the service's code rather than to the
// Go standard library. Standard library import paths have no dot in their first element (runtime, sync,
// internal/poll, net/http, crypto/tls, vendor/golang.org/x/net/...); module paths do (github.com/...,
// example.com/...). Package main is the service's own code. A module named without a dot ("myservice/...") is
// therefore taken for the standard library: a known limit of deciding from the name alone.
func IsServiceFunction(function string) bool {
	pkg := PackagePath(function)
	if pkg == "" {
		return false
	}
	if pkg == "main" {
		return true
	}
	first, _, _ := strings.Cut(pkg, "/")
	return strings.Contains(first, ".")
}

// PackagePath extracts the import path from a symbolised function name:
// "net/http.(*persistConn).readLoop" -> "net/http", "github.com/a/b.F[...]" -> "github.com/a/b",
// "main.main.func1" -> "main". Names without a package (compiler-generated "type:.eq...") give the text before
// the first dot, which has no dot and so counts as the standard library.
func PackagePath(function string) string {
	name := function
	// Type arguments may themselves hold import paths with slashes and dots.
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	slash := strings.LastIndexByte(name, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return ""
	}
	return name[:slash+1+dot]
}

// IsRuntimeFunction reports frames that say nothing about the application: the runtime and internal packages.
func IsRuntimeFunction(fn string) bool {
	return strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "runtime/internal") ||
		strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "sync.runtime_")
}
