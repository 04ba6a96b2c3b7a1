package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"time"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

// Source is a publisher's read-only view of the services it watches (the readiness processor implements it). The
// hub keeps no copy: readers ask the source, which answers from the history it keeps anyway.
type Source interface {
	// Services lists every watched service instance with its current state.
	Services() []ServiceStatus
	// History returns what the source keeps of one service instance; false when it does not watch it.
	History(target pprofcaptureextension.TargetKey) (ServiceHistory, bool)
}

// Signal names used in ServiceStatus.Latest and ServiceHistory.Signals.
const (
	SignalGoroutines    = "goroutines"
	SignalHeapLive      = "heap_live"
	SignalHeapGoal      = "heap_goal"
	SignalGCPerMinute   = "gc_per_minute"
	SignalGCPausePerMin = "gc_pause_seconds_per_minute"
)

// ServiceStatus is the current state of one watched service instance.
type ServiceStatus struct {
	Target   pprofcaptureextension.TargetKey
	Identity map[string]string
	// LastData is the newest data time seen; LastSeen the collector clock when it arrived.
	LastData time.Time
	LastSeen time.Time
	// Latest holds the newest value of each signal the source knows for the service.
	Latest map[string]float64
	// ActiveRules names the rules with an active episode.
	ActiveRules []string
	// Down is true when the service sent nothing for longer than the source tolerates (its max_gap): the target is
	// down or unreachable, and Latest is what it reported last.
	Down bool
}

// Point is one value at one data time.
type Point struct {
	Time  time.Time
	Value float64
}

// RuleStatus is what one rule sees now for one service instance.
type RuleStatus struct {
	Name     string
	Kind     string
	Severity string
	Firing   bool
	// Measure, Threshold and Why explain the last evaluation in words (e.g. "rise 4.1/s over 2m0s",
	// "≥ 5 × noise", "second half decelerates: start-up ramp").
	Measure   string
	Threshold string
	Why       string
	// Since is the data time the active episode started; zero when the rule is not firing.
	Since time.Time
}

// ServiceHistory is the stored history of one service instance.
type ServiceHistory struct {
	ServiceStatus
	Signals map[string][]Point
	// Sites holds goroutines per owning function over time (pprofscrape sources only).
	Sites map[string][]Point
	Rules []RuleStatus
}
