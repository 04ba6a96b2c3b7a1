package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import "github.com/otelcol-ready/otelcol-ready/pkg/gostack"

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

// stackShape says what a profile's stacks describe (gostack.GoroutineStacks or gostack.SampleStacks).
type stackShape = gostack.Shape

const (
	goroutineStacks = gostack.GoroutineStacks
	sampleStacks    = gostack.SampleStacks
)

// unknownFunction names a site whose stack has no symbolised frame.
const unknownFunction = "(unknown)"

// ownerOf names the site a stack (frames leaf first) belongs to, by gostack.Owner: the one rule used by every
// metric and summary of the receiver. The entry function is recorded in every case.
func ownerOf(frames []frame, shape stackShape) site {
	if len(frames) == 0 {
		return site{function: unknownFunction}
	}
	owner, entry := gostack.Owner(len(frames), func(i int) string { return frames[i].function }, shape)
	f := frames[owner]
	s := site{function: f.function, file: f.file, line: f.line}
	if entry >= 0 {
		s.entry = frames[entry].function
	}
	return s
}
