package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

// identityAttributes are the resource attributes that identify a series, in key order.
var identityAttributes = []string{
	"service.namespace", "service.name", "service.instance.id",
	"host.name", "k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid", "container.id",
}

// sample is one point of a signal: Unix nanoseconds and value.
type sample struct {
	ts int64
	v  float64
}

// ring is a bounded, time-ordered history of samples. Its buffer grows with the data up to its capacity, so a
// signal sampled rarely costs little.
type ring struct {
	buf      []sample
	start    int
	n        int
	capacity int
	// low is the lowest value held, kept as samples come and go (lowKnown false: to be found again).
	low      float64
	lowKnown bool
}

func newRing(capacity int) *ring { return &ring{capacity: capacity} }

func (r *ring) len() int { return r.n }

func (r *ring) at(i int) sample { return r.buf[(r.start+i)%len(r.buf)] }

func (r *ring) last() (sample, bool) {
	if r.n == 0 {
		return sample{}, false
	}
	return r.at(r.n - 1), true
}

func (r *ring) push(s sample) {
	if r.lowKnown && r.n < r.capacity {
		r.low = min(r.low, s.v)
	} else {
		r.lowKnown = false // full: the oldest sample goes
	}
	if r.n == len(r.buf) && len(r.buf) < r.capacity {
		grown := make([]sample, min(max(8, len(r.buf)*3/2), r.capacity))
		for i := 0; i < r.n; i++ {
			grown[i] = r.at(i)
		}
		r.buf, r.start = grown, 0
	}
	if r.n == len(r.buf) {
		r.buf[r.start] = s
		r.start = (r.start + 1) % len(r.buf)
		return
	}
	r.buf[(r.start+r.n)%len(r.buf)] = s
	r.n++
}

// dropBefore forgets samples older than ts.
func (r *ring) dropBefore(ts int64) {
	for r.n > 0 && r.buf[r.start].ts < ts {
		if r.buf[r.start].v <= r.low {
			r.lowKnown = false
		}
		r.start = (r.start + 1) % len(r.buf)
		r.n--
	}
}

func (r *ring) reset() { r.start, r.n, r.lowKnown = 0, 0, false }

// spread returns the lowest sample the ring holds and the highest of its last `recent` samples: enough to tell
// that nothing rose. The lowest is kept as samples come and go, so this costs a few reads.
func (r *ring) spread(recent int) (lowest, highestRecent float64) {
	if r.n == 0 {
		return math.Inf(1), math.Inf(-1)
	}
	if !r.lowKnown {
		r.low = math.Inf(1)
		for i := 0; i < r.n; i++ {
			r.low = min(r.low, r.at(i).v)
		}
		r.lowKnown = true
	}
	highestRecent = math.Inf(-1)
	for i := max(0, r.n-recent); i < r.n; i++ {
		highestRecent = max(highestRecent, r.at(i).v)
	}
	return r.low, highestRecent
}

// window returns the samples with from < ts <= to, in order, appended to dst.
func (r *ring) window(dst []sample, from, to int64) []sample {
	// The buffer holds the samples in at most two runs: from start to the end of the buffer, then from its start.
	first := r.buf[r.start:min(r.start+r.n, len(r.buf))]
	second := r.buf[:r.n-len(first)]
	for _, run := range [2][]sample{first, second} {
		for _, s := range run {
			if s.ts > from && s.ts <= to {
				dst = append(dst, s)
			}
		}
	}
	return dst
}

// series is the state kept for one resource identity.
type series struct {
	key      string
	target   pprofcaptureextension.TargetKey
	identity []attr // identity attributes present on the resource

	signals    [numSignals]*ring
	startTimes [numSignals]int64 // start timestamp of the last point of cumulative signals

	latest        int64     // newest data timestamp seen (data clock of the series)
	observedSince int64     // data time of the first point since the series appeared or the process restarted
	lastEval      int64     // data time of the last windowed evaluation
	lastSeen      time.Time // collector clock, for idle eviction
	touched       bool      // received a point in the current batch

	// sites holds the goroutine count per call site (pprofscrape stacks), at most maxSitesPerSeries.
	sites       map[string]*ring
	sitesLatest int64 // data time of the newest site sample
	sitesSince  int64 // data time of the first site sample (since the series appeared or the process restarted)
	sitesJudged int64 // sitesLatest when the sites were last judged
	siteFinding siteFinding

	view *viewHistory // the readiness page's hour of history (view.go); nil without a hub

	rules      []ruleState                // indexed by rule.index (windowed kinds)
	thresholds map[string]*thresholdState // key: rule name + point attributes
	gcBaseline []gcBaseline               // indexed by rule.index (gc_frequency)
}

type attr struct{ key, value string }

// seriesIdentity derives the series key and identity of a resource.
func seriesIdentity(res pcommon.Resource) (key string, identity []attr, target pprofcaptureextension.TargetKey) {
	attrs := res.Attributes()
	var b strings.Builder
	for _, k := range identityAttributes {
		v, ok := attrs.Get(k)
		if !ok {
			continue
		}
		s := v.AsString()
		identity = append(identity, attr{k, s})
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(s)
		b.WriteByte(0)
		switch k {
		case "service.name":
			target.ServiceName = s
		case "service.instance.id":
			target.ServiceInstanceID = s
		}
	}
	return b.String(), identity, target
}

// restarted forgets the history of a process that restarted: it belongs to the previous process.
func (s *series) restarted() {
	for _, r := range s.signals {
		if r != nil {
			r.reset()
		}
	}
	for i := range s.startTimes {
		s.startTimes[i] = 0
	}
	s.sites, s.sitesSince = nil, 0
}

// sitesBefore returns the data time of the last stack read before ts (any site's sample): when a site first appears
// at ts, it had no goroutines then.
func (s *series) sitesBefore(ts int64) int64 {
	var before int64
	for _, rg := range s.sites {
		for i := rg.len() - 1; i >= 0; i-- {
			if t := rg.at(i).ts; t < ts {
				before = max(before, t)
				break
			}
		}
	}
	if before == 0 {
		return ts
	}
	return before
}

// maxSitesPerSeries bounds the call sites tracked per series; the receiver already bounds what it sends.
const maxSitesPerSeries = 64
