package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import "strings"

// frame is one stack frame of a profile or a goroutine dump.
type frame struct {
	function string
	file     string
	line     int64
}

// site is where a group of samples belongs: the owning function and where it was executing, plus the function its
// goroutine was started with (entry), so that a report can say "owner X, started in Y".
type site struct {
	function string
	file     string
	line     int64
	entry    string
}

// stackShape says what a profile's stacks describe, which decides the fallback when no frame is service code.
type stackShape int

const (
	// goroutineStacks are whole goroutine stacks (goroutine, goroutine_delta, goroutineleak profiles and dumps):
	// a goroutine made of standard library frames only is named after the function it was started with, e.g.
	// net/http.(*persistConn).readLoop, which says more than the runtime.gopark or select it sits in.
	goroutineStacks stackShape = iota
	// sampleStacks are stacks of allocation or CPU samples (heap, allocs, cpu): without service code the first
	// frame outside the runtime (bytes.Repeat, compress/flate.NewWriter) is the most telling name.
	sampleStacks
)

// unknownFunction names a site whose stack has no symbolised frame.
const unknownFunction = "(unknown)"

// ownerOf names the site a stack (frames leaf first) belongs to. This is the one rule used by every metric and
// summary of the receiver:
//
//  1. the first frame from the leaf that is service code (not the Go standard library; see isServiceFunction);
//  2. otherwise, for goroutine stacks, the goroutine's entry frame (the root-most frame above runtime.goexit);
//  3. otherwise the first frame outside the runtime, else the leaf.
//
// The entry function is recorded in every case.
func ownerOf(frames []frame, shape stackShape) site {
	if len(frames) == 0 {
		return site{function: unknownFunction}
	}
	entry, hasEntry := entryFrame(frames)
	named := func(f frame) site {
		s := site{function: f.function, file: f.file, line: f.line}
		if hasEntry {
			s.entry = entry.function
		}
		return s
	}
	for _, f := range frames {
		if isServiceFunction(f.function) {
			return named(f)
		}
	}
	if shape == goroutineStacks && hasEntry {
		return named(entry)
	}
	for _, f := range frames {
		if !isRuntimeFunction(f.function) {
			return named(f)
		}
	}
	return named(frames[0])
}

// entryFrame returns the root-most frame that is not runtime.goexit: the function the goroutine was started with.
// Protobuf and debug=1 stacks end in runtime.goexit; debug=2 dumps omit it and end in the entry frame.
func entryFrame(frames []frame) (frame, bool) {
	for i := len(frames) - 1; i >= 0; i-- {
		if frames[i].function != "runtime.goexit" && frames[i].function != "" {
			return frames[i], true
		}
	}
	return frame{}, false
}

// isServiceFunction reports whether a symbolised function name belongs to the service's code rather than to the
// Go standard library. Standard library import paths have no dot in their first element (runtime, sync,
// internal/poll, net/http, crypto/tls, vendor/golang.org/x/net/...); module paths do (github.com/...,
// example.com/...). Package main is the service's own code. A module named without a dot ("myservice/...") is
// therefore taken for the standard library: a known limit of deciding from the name alone.
func isServiceFunction(function string) bool {
	pkg := packagePath(function)
	if pkg == "" {
		return false
	}
	if pkg == "main" {
		return true
	}
	first, _, _ := strings.Cut(pkg, "/")
	return strings.Contains(first, ".")
}

// packagePath extracts the import path from a symbolised function name:
// "net/http.(*persistConn).readLoop" -> "net/http", "github.com/a/b.F[...]" -> "github.com/a/b",
// "main.main.func1" -> "main". Names without a package (compiler-generated "type:.eq...") give the text before
// the first dot, which has no dot and so counts as the standard library.
func packagePath(function string) string {
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

// isRuntimeFunction reports frames that say nothing about the application: the runtime and internal packages.
func isRuntimeFunction(fn string) bool {
	return strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "runtime/internal") ||
		strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "sync.runtime_")
}
