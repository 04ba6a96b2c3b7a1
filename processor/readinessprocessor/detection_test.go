package readinessprocessor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The detection matrix: synthetic services of every healthy shape and fault class the rules must tell apart, at
// the shipped 10 s scrape interval, replayed through the default rules (`readiness: {}`) under several seeds and
// source namings. Data time is injected, so the latencies asserted here are data time, never wall-clock time.
// The zoo scenario in testbed/ measures the same classes on real Go programs.

// simService describes one synthetic Go service. Functions of t are evaluated at every scrape.
type simService struct {
	name   string
	expect string        // rule kind that must fire; "" for a healthy service
	onset  time.Duration // when the fault starts
	target time.Duration // latest acceptable episode start after onset
	// sitesOnly: only per-call-site tracking can see the fault (it needs goroutine stacks, so pprofscrape).
	sitesOnly bool
	// site, when set, is the call site the episode's start record may name (it may also name none, leaving it to
	// the captures; never another one).
	site string

	goroutines func(t time.Duration, rng *rand.Rand) float64
	// sites, when set, splits the goroutines per call site (read every 30 s, as pprofscrape does).
	sites      func(t time.Duration, rng *rand.Rand, total float64) map[string]float64
	gcPerMin   func(t time.Duration) float64 // GC cycles per minute
	allocRatio func(t time.Duration) float64 // bytes allocated per cycle / heap goal (GOGC=100: 0.5)
	liveHeap   func(t time.Duration, rng *rand.Rand) float64
	memLimit   float64
	restartAt  time.Duration
}

const simInterval = 10 * time.Second

func (svc simService) generate(duration time.Duration, seed uint64) []runtimeSample {
	rng := rand.New(rand.NewPCG(seed, seed^0x51ed27))
	var out []runtimeSample
	var gc, pause, alloc float64
	for t := time.Duration(0); t <= duration; t += simInterval {
		if svc.restartAt > 0 && t == svc.restartAt.Truncate(simInterval) {
			gc, pause, alloc = 0, 0, 0
		}
		s := runtimeSample{OffsetMillis: t.Milliseconds(), Leaked: -1}
		s.Goroutines = math.Round(max(1, svc.goroutines(t, rng)))
		if svc.sites != nil && t%(30*time.Second) == 0 {
			s.Sites = svc.sites(t, rng, s.Goroutines)
		}
		// GC counters grow over the interval that ends at t: read the rates in its middle.
		mid := max(0, t-simInterval/2)
		rate, ratio := 20.0, 0.5
		if svc.gcPerMin != nil {
			rate = svc.gcPerMin(mid)
		}
		if svc.allocRatio != nil {
			ratio = svc.allocRatio(mid)
		}
		live := 40e6
		if svc.liveHeap != nil {
			live = svc.liveHeap(t, rng)
		}
		goal := live / (1 - ratio)
		if svc.memLimit > 0 {
			goal = min(goal, svc.memLimit)
		}
		cycles := max(0, rate*simInterval.Minutes()*(0.8+0.4*rng.Float64()))
		gc += cycles
		pause += cycles * 150e-6
		alloc += cycles * ratio * goal
		s.GCCycles = math.Floor(gc)
		s.GCPauseSeconds = pause
		s.TotalAlloc = alloc
		s.NextGC = goal
		s.HeapInuse = live + rng.Float64()*(goal-live)
		s.HeapAlloc = s.HeapInuse * 0.95
		s.MemoryLimit = svc.memLimit
		s.GCCPUFraction = 0.01
		out = append(out, s)
	}
	return out
}

// wander is a smooth drift of ±amplitude around base (two slow waves of random phase and period) plus 2 % noise.
func wander(base, amplitude float64, seed uint64) func(time.Duration, *rand.Rand) float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	p1, p2 := 3+7*r.Float64(), 3+7*r.Float64() // minutes
	f1, f2 := r.Float64()*2*math.Pi, r.Float64()*2*math.Pi
	return func(t time.Duration, rng *rand.Rand) float64 {
		m := t.Minutes()
		w := 0.6*math.Sin(2*math.Pi*m/p1+f1) + 0.4*math.Sin(2*math.Pi*m/p2+f2)
		return base * (1 + amplitude*w + 0.02*rng.NormFloat64())
	}
}

// linearFrom adds perSecond × (t - onset) after onset.
func linearFrom(onset time.Duration, perSecond float64) func(time.Duration) float64 {
	return func(t time.Duration) float64 { return perSecond * max(0, (t-onset).Seconds()) }
}

// ramp is a warm-up: from 0 to height, decelerating (pools and caches filling), 95 % done at `done`.
func ramp(height float64, done time.Duration, shape string) func(time.Duration) float64 {
	return func(t time.Duration) float64 {
		x := min(t.Seconds()/done.Seconds(), 1)
		switch shape {
		case "sqrt":
			return height * math.Sqrt(x)
		case "log":
			return height * math.Log1p(9*x) / math.Log(10)
		default: // exponential approach
			return height * min(1, (1-math.Exp(-3*x))/0.95)
		}
	}
}

// siteSplit spreads total over a few named sites with their own wander; extra adds named sites on top.
func siteSplit(extra func(t time.Duration) map[string]float64) func(time.Duration, *rand.Rand, float64) map[string]float64 {
	return func(t time.Duration, rng *rand.Rand, total float64) map[string]float64 {
		out := map[string]float64{}
		var named float64
		if extra != nil {
			for k, v := range extra(t) {
				out[k] = math.Round(v)
				named += out[k]
			}
		}
		rest := max(0, total-named)
		shares := []float64{0.5, 0.3, 0.15, 0.05}
		for i, sh := range shares {
			out[fmt.Sprintf("main.pool%d", i)] = math.Round(rest * sh * (1 + 0.1*rng.NormFloat64()))
		}
		return out
	}
}

func simZoo(seed uint64) []simService {
	healthyGC := func(time.Duration) float64 { return 12 }
	return []simService{
		// Healthy shapes.
		{name: "healthy-wander", goroutines: wander(300, 0.15, seed), sites: siteSplit(nil)},
		{name: "healthy-wander-small", goroutines: wander(60, 0.15, seed+1)},
		{name: "healthy-bursts", goroutines: func(t time.Duration, rng *rand.Rand) float64 {
			v := 100 * (1 + 0.05*rng.NormFloat64())
			if rng.Float64() < 0.25 { // a scrape lands inside a burst of up to 20x the base
				v += 2000 * rng.Float64()
			}
			return v
		}, gcPerMin: func(time.Duration) float64 { return 40 }},
		{name: "healthy-ramp-exp", goroutines: func(t time.Duration, rng *rand.Rand) float64 {
			return (50 + ramp(950, 3*time.Minute, "exp")(t)) * (1 + 0.03*rng.NormFloat64())
		}, liveHeap: func(t time.Duration, rng *rand.Rand) float64 { return 10e6 + ramp(90e6, 3*time.Minute, "exp")(t) }},
		{name: "healthy-ramp-fast", goroutines: func(t time.Duration, rng *rand.Rand) float64 {
			return (50 + ramp(950, 90*time.Second, "exp")(t)) * (1 + 0.03*rng.NormFloat64())
		}, liveHeap: func(t time.Duration, rng *rand.Rand) float64 { return 10e6 + ramp(90e6, 2*time.Minute, "log")(t) }},
		{name: "healthy-ramp-sqrt", goroutines: func(t time.Duration, rng *rand.Rand) float64 {
			return (50 + ramp(950, 3*time.Minute, "sqrt")(t)) * (1 + 0.03*rng.NormFloat64())
		}, liveHeap: func(t time.Duration, rng *rand.Rand) float64 { return 10e6 + ramp(90e6, 3*time.Minute, "sqrt")(t) }},
		{name: "healthy-gc-sawtooth", goroutines: wander(200, 0.1, seed+2),
			gcPerMin: func(time.Duration) float64 { return 300 }, liveHeap: func(time.Duration, *rand.Rand) float64 { return 50e6 }},
		{name: "healthy-load-steps", goroutines: wander(200, 0.1, seed+3), gcPerMin: func(t time.Duration) float64 {
			if int(t.Minutes())%6 >= 3 { // load triples for three minutes: more GC at a normal GOGC
				return 90
			}
			return 30
		}},
		{name: "healthy-restart", goroutines: func(t time.Duration, rng *rand.Rand) float64 {
			if t >= 15*time.Minute {
				t -= 15 * time.Minute
			}
			return (40 + ramp(260, 2*time.Minute, "exp")(t)) * (1 + 0.03*rng.NormFloat64())
		}, restartAt: 15 * time.Minute},

		// Goroutine leaks.
		{name: "leak-20ps-start", expect: KindGoroutineGrowth, target: time.Minute,
			goroutines: func(t time.Duration, rng *rand.Rand) float64 {
				return wander(300, 0.1, seed+4)(t, rng) + linearFrom(0, 20)(t)
			}},
		// 2/s from the first scrape is judged on the seventh scrape; a curved start (a ramp) needs one more.
		{name: "leak-2ps-start", expect: KindGoroutineGrowth, target: 70 * time.Second,
			goroutines: func(t time.Duration, rng *rand.Rand) float64 {
				return wander(300, 0.1, seed+5)(t, rng) + linearFrom(0, 2)(t)
			}},
		{name: "leak-5ps-after-90s", expect: KindGoroutineGrowth, onset: 90 * time.Second, target: time.Minute,
			site: "main.lockedUpdater",
			goroutines: func(t time.Duration, rng *rand.Rand) float64 {
				return wander(300, 0.1, seed+6)(t, rng) + linearFrom(90*time.Second, 5)(t)
			},
			sites: siteSplit(func(t time.Duration) map[string]float64 {
				if t < 90*time.Second {
					return nil // the site has no goroutine before the onset: the receiver does not list it
				}
				return map[string]float64{"main.lockedUpdater": linearFrom(90*time.Second, 5)(t)}
			})},
		{name: "leak-2ps-after-90s-on-400", expect: KindGoroutineGrowth, onset: 90 * time.Second, target: 70 * time.Second,
			goroutines: func(t time.Duration, rng *rand.Rand) float64 {
				return wander(400, 0.1, seed+7)(t, rng) + linearFrom(90*time.Second, 2)(t)
			}},
		{name: "leak-slow-site", expect: KindGoroutineGrowth, onset: time.Minute, target: 8 * time.Minute, sitesOnly: true,
			goroutines: func(t time.Duration, rng *rand.Rand) float64 {
				return wander(1000, 0.1, seed+8)(t, rng) + linearFrom(time.Minute, 5.0/60)(t)
			},
			sites: siteSplit(func(t time.Duration) map[string]float64 {
				return map[string]float64{"main.slowLeak": math.Floor(linearFrom(time.Minute, 5.0/60)(t))}
			})},

		// GC storms.
		{name: "gcstorm-gogc10-start", expect: KindGCFrequency, target: 40 * time.Second,
			goroutines: wander(100, 0.1, seed+9), gcPerMin: func(time.Duration) float64 { return 800 },
			allocRatio: func(time.Duration) float64 { return 0.09 }},
		{name: "gcstorm-gogc10-after-90s", expect: KindGCFrequency, onset: 90 * time.Second, target: 40 * time.Second,
			goroutines: wander(100, 0.1, seed+10),
			gcPerMin: func(t time.Duration) float64 {
				if t >= 90*time.Second {
					return 800
				}
				return healthyGC(t)
			},
			allocRatio: func(t time.Duration) float64 {
				if t >= 90*time.Second {
					return 0.09
				}
				return 0.5
			}},
		// A small heap at the GC's 4 MB minimum: allocation per cycle stays a large share of the goal in the storm
		// (big allocations), so only the fall of bytes per cycle against the service's own baseline tells.
		{name: "gcstorm-small-heap", expect: KindGCFrequency, onset: 3 * time.Minute, target: 40 * time.Second,
			goroutines: wander(100, 0.1, seed+14), liveHeap: func(time.Duration, *rand.Rand) float64 { return 1 << 20 },
			gcPerMin: func(t time.Duration) float64 {
				if t >= 3*time.Minute {
					return 600
				}
				return 40
			},
			allocRatio: func(t time.Duration) float64 {
				if t >= 3*time.Minute {
					return 0.4
				}
				return 0.75
			}},
		{name: "gcstorm-memlimit", expect: KindGCFrequency, onset: 2 * time.Minute, target: 40 * time.Second,
			goroutines: wander(100, 0.1, seed+11), memLimit: 100e6,
			liveHeap: func(t time.Duration, _ *rand.Rand) float64 { return 60e6 + min(35e6, 35e6*t.Seconds()/120) },
			gcPerMin: func(t time.Duration) float64 {
				if t >= 2*time.Minute {
					return 400
				}
				return 15
			},
			allocRatio: func(t time.Duration) float64 {
				if t >= 2*time.Minute {
					return 0.05
				}
				return 0.5
			}},

		// Heap growth.
		{name: "heap-2MiB-per-10s", expect: KindHeapGrowth, target: 3 * time.Minute, goroutines: wander(100, 0.1, seed+12),
			liveHeap: func(t time.Duration, _ *rand.Rand) float64 { return 28<<20 + float64(2<<20)*t.Seconds()/10 }},
		{name: "heap-5pct-per-min", expect: KindHeapGrowth, target: 3 * time.Minute, goroutines: wander(100, 0.1, seed+13),
			liveHeap: func(t time.Duration, _ *rand.Rand) float64 { return 60e6 * math.Pow(1.05, t.Minutes()) }},
	}
}

type simOutcome struct {
	service  string
	naming   naming
	seed     uint64
	latency  time.Duration // episode start of the expected kind after onset; -1: not flagged
	site     string        // top_site of that episode
	unwanted []string      // other episodes (rule@offset)
}

func runSim(t *testing.T, svc simService, n naming, seed uint64, duration time.Duration) simOutcome {
	h := newHarness(t, &Config{
		EvaluationInterval: 10 * time.Second, MaxSeries: 10, MaxHistoryPoints: 240, IdleTimeout: time.Hour,
		MaxGap: 2 * time.Minute, CaptureQueueSize: 16, CaptureTimeout: time.Minute,
	})
	samples := svc.generate(duration, seed)
	h.replay(n, serviceResource(svc.name, "a"), samples)
	out := simOutcome{service: svc.name, naming: n, seed: seed, latency: -1}
	for _, e := range h.logs.FilterMessage("readiness anomaly started").All() {
		fields := e.ContextMap()
		kind, _ := fields["kind"].(string)
		at := startOffset(t, e)
		if kind == svc.expect && out.latency < 0 && at >= svc.onset {
			out.latency = at - svc.onset
			out.site, _ = fields["top_site"].(string)
			continue
		}
		out.unwanted = append(out.unwanted, fmt.Sprintf("%s@%s(%v %v growth=%v rel=%v level=%v latest=%v p=%v site=%v %v %v %v)", fields["rule"], at,
			fields["evidence"], fields["horizon"], fields["growth"], fields["relative_growth"], fields["level"], fields["latest"], fields["p_value"], fields["top_site"], fields["site_horizon"], fields["site_growth"], fields["site_latest"]))
	}
	return out
}

func TestDetectionMatrix(t *testing.T) {
	duration := 30 * time.Minute
	seeds := []uint64{1, 2, 3}
	namings := []naming{namingPprofscrape, namingPrometheus}
	if testing.Short() {
		duration, seeds = 15*time.Minute, seeds[:1]
	}
	var rows []simOutcome
	for _, seed := range seeds {
		for _, svc := range simZoo(seed) {
			for _, n := range namings {
				if svc.sitesOnly && n != namingPprofscrape {
					continue
				}
				rows = append(rows, runSim(t, svc, n, seed, duration))
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].service < rows[j].service })
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-28s %-12s %4s %10s %-18s %s\n", "service", "source", "seed", "latency", "top_site", "unwanted")
	zoo := map[string]simService{}
	for _, svc := range simZoo(0) {
		zoo[svc.name] = svc
	}
	for _, r := range rows {
		svc := zoo[r.service]
		lat := "-"
		if r.latency >= 0 {
			lat = r.latency.String()
		}
		fmt.Fprintf(&b, "%-28s %-12s %4d %10s %-18s %s\n", r.service, r.naming, r.seed, lat, r.site, strings.Join(r.unwanted, " "))
		if svc.expect == "" {
			assert.Emptyf(t, r.unwanted, "%s (%s, seed %d): false alarm", r.service, r.naming, r.seed)
			continue
		}
		if assert.GreaterOrEqualf(t, r.latency, time.Duration(0), "%s (%s, seed %d): not flagged", r.service, r.naming, r.seed) {
			assert.LessOrEqualf(t, r.latency, svc.target, "%s (%s, seed %d): flagged too late", r.service, r.naming, r.seed)
		}
		assert.Emptyf(t, r.unwanted, "%s (%s, seed %d): unexpected episodes", r.service, r.naming, r.seed)
		if svc.site != "" && r.site != "" {
			assert.Equalf(t, svc.site, r.site, "%s (%s, seed %d): named the wrong site", r.service, r.naming, r.seed)
		}
	}
	t.Log(b.String())
}
