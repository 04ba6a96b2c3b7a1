// Package pprofcaptureextension is the in-process broker through which components ask for profile captures of the
// Go services a pprofscrape receiver scrapes. Receivers register as capturers; processors (readiness) send requests
// naming a target by its resource identity. A request never carries a URL: the capturer resolves the identity to a
// target the operator configured, so telemetry data can never point the collector at an arbitrary address.
package pprofcaptureextension // import "github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"

import (
	"context"
	"errors"
	"time"
)

// Kind names one kind of capture.
type Kind string

const (
	// KindHeap is /debug/pprof/heap (protobuf, with allocation sites).
	KindHeap Kind = "heap"
	// KindGoroutine is /debug/pprof/goroutine?debug=2 (full stacks of every goroutine).
	KindGoroutine Kind = "goroutine"
	// KindGoroutineDelta is /debug/pprof/goroutine?seconds=N: the per-stack change over N seconds.
	KindGoroutineDelta Kind = "goroutine_delta"
	// KindGoroutineLeak is /debug/pprof/goroutineleak (Go 1.26 with GOEXPERIMENT=goroutineleakprofile).
	KindGoroutineLeak Kind = "goroutineleak"
	// KindCPU is /debug/pprof/profile?seconds=N.
	KindCPU Kind = "cpu"
	// KindAllocsDelta is /debug/pprof/allocs?seconds=N: what was allocated during N seconds, per site. It names the
	// function that allocates at a furious rate (a GC storm's cause), which the live heap does not show.
	KindAllocsDelta Kind = "allocs_delta"
	// KindHeapDelta is /debug/pprof/heap?seconds=N: the change of the live heap during N seconds, per site. It names
	// the site that retained memory from a single capture.
	KindHeapDelta Kind = "heap_delta"
)

// Kinds lists every kind, in the order of the documentation.
func Kinds() []Kind {
	return []Kind{KindHeap, KindGoroutine, KindGoroutineDelta, KindGoroutineLeak, KindCPU, KindAllocsDelta, KindHeapDelta}
}

// Sampled reports whether the kind samples the target for the request's Duration.
func (k Kind) Sampled() bool {
	switch k {
	case KindCPU, KindGoroutineDelta, KindAllocsDelta, KindHeapDelta:
		return true
	}
	return false
}

// TargetKey identifies a scraped Go service by its resource identity.
type TargetKey struct {
	ServiceName       string
	ServiceInstanceID string
}

// Request asks for captures of one target.
type Request struct {
	Target TargetKey
	Kinds  []Kind
	// Reason says why the capture is requested (for the readiness processor: the rule name).
	Reason string
	// Details are the values that triggered the request; they are copied into the capture's log record.
	Details map[string]string
	// Duration is the sampling time of the cpu, goroutine_delta, allocs_delta and heap_delta kinds; zero means the
	// capturer's default.
	Duration time.Duration
}

// SummaryEntry is one line of a profile summary: a function and its value in the profile's main sample type.
// For a comparison of two profiles, Before and After hold the two values and Value their difference.
type SummaryEntry struct {
	// Function owns the samples: the first frame from the leaf in the service's code (not the Go standard
	// library); for goroutines without such a frame, the function the goroutine was started with (e.g.
	// net/http.(*persistConn).readLoop); for allocation and CPU samples without one, the first frame outside the
	// runtime. File and Line are where Function was executing.
	Function string
	File     string
	Line     int64
	// Entry is the function the goroutine was started with (the root-most frame above runtime.goexit), so a
	// report can say "owner Function, started in Entry"; empty when the stack does not show it.
	Entry  string
	Value  int64
	Before int64
	After  int64
}

// Result is the outcome of one kind of one request.
type Result struct {
	Kind Kind
	// Path is the file the raw profile was written to, as the target served it.
	Path string
	// Size is the file's size in bytes.
	Size int64
	// SampleType is the sample type the summary is ranked by (e.g. "inuse_space", "goroutine").
	SampleType string
	// Summary is the top entries of the profile; for goroutine_delta and heap_delta, the sites that grew during the
	// window; for allocs_delta, the sites that allocated the most bytes during it.
	Summary []SummaryEntry
	// Err is why this kind could not be captured; nil on success.
	Err error
}

// Capturer is implemented by a component that can capture profiles of the targets it scrapes.
type Capturer interface {
	// Owns reports whether the capturer scrapes the target with this identity.
	Owns(target TargetKey) bool
	// Capture performs the request synchronously and returns one result per requested kind.
	// It returns an error (and no results) when the whole request is refused: unknown target,
	// kind not allowed, or rate limit.
	Capture(ctx context.Context, req Request) ([]Result, error)
}

// Broker routes capture requests to the capturer that owns the target.
type Broker interface {
	// Register adds a capturer; the returned function removes it again (call it on shutdown).
	Register(c Capturer) (unregister func())
	// Capture routes req to the capturer that owns req.Target.
	Capture(ctx context.Context, req Request) ([]Result, error)
}

var (
	// ErrUnknownTarget is returned when no registered capturer scrapes the requested target.
	ErrUnknownTarget = errors.New("no pprofscrape receiver scrapes the requested target")
	// ErrKindNotAllowed is returned when the request asks for a kind the target's configuration does not allow.
	ErrKindNotAllowed = errors.New("capture kind not allowed by the receiver's configuration")
	// ErrRateLimited is returned when the target was captured more recently than its minimum interval allows.
	ErrRateLimited = errors.New("capture refused: minimum interval between captures of this target not elapsed")
)
