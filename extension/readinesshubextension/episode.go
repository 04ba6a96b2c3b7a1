package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"time"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

// Phase is the moment of an episode an Event reports.
type Phase string

const (
	// PhaseStart: a rule started firing for a service.
	PhaseStart Phase = "start"
	// PhaseUpdate: more is known about an active episode (its captures and the sites they name).
	PhaseUpdate Phase = "update"
	// PhaseEnd: the rule is clear again (or the service stopped reporting).
	PhaseEnd Phase = "end"
)

// Capture is one profile taken for an episode.
type Capture struct {
	Kind string
	// Path is the file the profile was written to; the hub does not read it.
	Path       string
	Size       int64
	Time       time.Time
	SampleType string
	Summary    []pprofcaptureextension.SummaryEntry
	// Err says why the capture failed; empty on success.
	Err string
}

// Episode is one stretch of time during which a rule fired for one service instance.
type Episode struct {
	// ID is unique among the episodes of a collector run (service instance, rule and start time).
	ID       string
	Rule     string
	Kind     string
	Severity string
	Target   pprofcaptureextension.TargetKey
	// Identity holds the resource's identity attributes (service.name, k8s.pod.name, ...).
	Identity map[string]string
	// Start and End are data times (the timestamps of the points that started and ended it); End is zero while the
	// episode is active.
	Start     time.Time
	End       time.Time
	EndReason string
	// Details are the values that crossed the rule when it started (as in the "readiness anomaly started" log).
	Details map[string]string
	// Sites names the functions the evidence points at, best first.
	Sites    []string
	Captures []Capture

	// SeenAt and EndedAt are the collector clock when the hub learnt of the start and of the end, for decisions
	// that must not depend on the data's clock (e.g. how long to keep sampling after an episode).
	SeenAt  time.Time
	EndedAt time.Time
}

// Active reports whether the episode has not ended.
func (e *Episode) Active() bool { return e.EndedAt.IsZero() }

// Event is what a publisher reports about one episode.
type Event struct {
	Phase   Phase
	Episode Episode
}

// Clone returns a copy that shares no maps or slices with e.
func (e Episode) Clone() Episode {
	c := e
	c.Identity = cloneMap(e.Identity)
	c.Details = cloneMap(e.Details)
	c.Sites = append([]string(nil), e.Sites...)
	c.Captures = make([]Capture, len(e.Captures))
	for i, cp := range e.Captures {
		cp.Summary = append([]pprofcaptureextension.SummaryEntry(nil), cp.Summary...)
		c.Captures[i] = cp
	}
	return c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Merge adds what an update or end event knows (upd) to the episode: sites and captures replace the known ones,
// details are added, an end is recorded. Nothing of upd is shared.
func (e *Episode) Merge(upd *Episode) {
	if len(upd.Sites) > 0 {
		e.Sites = append([]string(nil), upd.Sites...)
	}
	if len(upd.Captures) > 0 {
		e.Captures = append([]Capture(nil), upd.Captures...)
	}
	for k, v := range upd.Details {
		if e.Details == nil {
			e.Details = map[string]string{}
		}
		if _, ok := e.Details[k]; !ok {
			e.Details[k] = v
		}
	}
	if !upd.End.IsZero() {
		e.End = upd.End
	}
	if upd.EndReason != "" {
		e.EndReason = upd.EndReason
	}
	if !upd.EndedAt.IsZero() {
		e.EndedAt = upd.EndedAt
	}
}
