package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

// identityAttributes are the resource attributes that identify a series, in key order.
var identityAttributes = [...]string{
	"service.namespace", "service.name", "service.instance.id",
	"host.name", "k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid", "container.id",
}

// identityIndex is the position of k in identityAttributes, -1 when it is not an identity attribute.
func identityIndex(k string) int {
	switch k {
	case "service.namespace":
		return 0
	case "service.name":
		return 1
	case "service.instance.id":
		return 2
	case "host.name":
		return 3
	case "k8s.namespace.name":
		return 4
	case "k8s.pod.name":
		return 5
	case "k8s.pod.uid":
		return 6
	case "container.id":
		return 7
	}
	return -1
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
	// low is a lower bound of the values held, for spread: exact after a scan and kept exact by pushes. When the
	// lowest sample leaves, low stays as a stale bound until rescanAfter more samples have left: a bound below the
	// true lowest only makes the screen more cautious, and a scan per evaluation was half the processor's cost.
	low           float64
	lowKnown      bool
	lowStale      bool
	leftSinceScan int
}

// rescanAfter is how many samples leave a ring before a stale lowest value is found again.
const rescanAfter = 32

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
	r.low = min(r.low, s.v)
	if r.n == r.capacity {
		r.leave(r.at(0)) // full: the oldest sample goes
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
		r.leave(r.buf[r.start])
		r.start = (r.start + 1) % len(r.buf)
		r.n--
	}
}

// leave notes that s is about to leave the ring.
func (r *ring) leave(s sample) {
	r.leftSinceScan++
	if s.v <= r.low {
		r.lowStale = true
	}
}

func (r *ring) reset() { r.start, r.n, r.lowKnown = 0, 0, false }

// spread returns the lowest sample the ring holds and the highest of its last `recent` samples: enough to tell
// that nothing rose. The lowest is kept as samples come and go, so this costs a few reads.
func (r *ring) spread(recent int) (lowest, highestRecent float64) {
	if r.n == 0 {
		return math.Inf(1), math.Inf(-1)
	}
	if !r.lowKnown || (r.lowStale && r.leftSinceScan >= rescanAfter) {
		r.low = math.Inf(1)
		for i := 0; i < r.n; i++ {
			r.low = min(r.low, r.at(i).v)
		}
		r.lowKnown, r.lowStale, r.leftSinceScan = true, false, 0
	}
	highestRecent = math.Inf(-1)
	for i := max(0, r.n-recent); i < r.n; i++ {
		highestRecent = max(highestRecent, r.at(i).v)
	}
	return r.low, highestRecent
}

// counterRate is counterRate over the samples of (to-window-maxGap, to] from the last one at or before to-window on,
// read in place (no copy of the window).
func (r *ring) counterRate(to, window, maxGap int64) (perMinute float64, covered int64) {
	var acc counterAccumulator
	first := -1
	for i := r.n - 1; i >= 0; i-- {
		s := r.at(i)
		if s.ts <= to-window-maxGap {
			break
		}
		first = i
		if s.ts <= to-window {
			break
		}
	}
	for i := first + 1; first >= 0 && i < r.n; i++ {
		b := r.at(i)
		if b.ts > to {
			break
		}
		acc.add(r.at(i-1), b, maxGap)
	}
	return acc.perMinute()
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
	lastAnnotated int64     // data time of the last annotation (0: none yet)
	changed       bool      // an episode of the series started or ended in the current batch
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
// appendIdentityKey appends the series key of a resource (the key seriesIdentity returns) to dst without allocating;
// identified reports whether service.name or service.instance.id is present.
func appendIdentityKey(dst []byte, attrs pcommon.Map) (key []byte, identified bool) {
	// One pass over the attributes, not a lookup per identity attribute.
	var values [len(identityAttributes)]pcommon.Value
	var present [len(identityAttributes)]bool
	for k, v := range attrs.All() {
		if i := identityIndex(k); i >= 0 {
			values[i], present[i] = v, true
		}
	}
	for i, k := range identityAttributes {
		if !present[i] {
			continue
		}
		v := values[i]
		identified = identified || k == "service.name" || k == "service.instance.id"
		dst = append(dst, k...)
		dst = append(dst, '=')
		if v.Type() == pcommon.ValueTypeStr {
			dst = append(dst, v.Str()...)
		} else {
			dst = append(dst, v.AsString()...)
		}
		dst = append(dst, 0)
	}
	return dst, identified
}

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
