package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// TestZooScoring checks the scoring of TestReadinessZoo on a hand-written collector log, without running anything.
func TestZooScoring(t *testing.T) {
	start := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	log := strings.Join([]string{
		`{"level":"warn","msg":"readiness anomaly started","rule":"goroutine-leak","kind":"goroutine_growth","service.name":"leak-mutex","data_time":"2026-12-02T04:01:50Z"}`,
		`{"level":"info","msg":"readiness: capture taken","service.name":"leak-mutex","capture_kind":"goroutine","top":["main.wanderWorker /src/workers.go:65 value=300"]}`,
		`{"level":"warn","msg":"readiness: leak attribution","service.name":"leak-mutex","top_site":"main.lockedUpdater /src/leak_mutex.go:44 (+20)","sites":["main.lockedUpdater /src/leak_mutex.go:44 (+20)"]}`,
		`{"level":"warn","msg":"readiness anomaly started","rule":"gc-storm","kind":"gc_frequency","service.name":"healthy-gcsawtooth","data_time":"2026-12-02T04:02:00Z"}`,
		`{"level":"warn","msg":"readiness anomaly started","rule":"gc-storm","kind":"gc_frequency","service.name":"gcstorm-gogc","data_time":"2026-12-02T04:00:30Z"}`,
		`{"level":"info","msg":"readiness: capture taken","service.name":"gcstorm-gogc","capture_kind":"heap","top":["main.cacheHolder /src/alloc.go:16 value=16777216"]}`,
		`not json`,
	}, "\n")
	logPath := filepath.Join(t.TempDir(), "collector.log")
	if err := os.WriteFile(logPath, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	labels := []testbed.ZooLabel{
		{Name: "leak-mutex", Kind: "goroutine_growth", Onset: time.Minute, TargetLatencySeconds: 60, Sites: []string{"main.lockedUpdater"}},
		{Name: "healthy-gcsawtooth", Kind: "none"},
		{Name: "gcstorm-gogc", Kind: "gc_frequency", Onset: time.Minute, TargetLatencySeconds: 40, Sites: []string{"main.allocHot"}},
		{Name: "leak-chansend", Kind: "goroutine_growth", TargetLatencySeconds: 60, Sites: []string{"main.leakChanSendWorker"}},
	}
	results := scoreZooRecords(labels, func(testbed.ZooLabel) (time.Time, time.Time) {
		return start, start.Add(time.Minute)
	}, logPath)

	mutex := results[0]
	if mutex.Detected == nil || mutex.latency() != 50*time.Second || !mutex.SiteRight || len(mutex.FalseAlarms) != 0 {
		t.Errorf("leak-mutex: %+v, want detected after 50 s with the right site (the leak attribution, not the goroutine capture)", mutex)
	}
	if len(results[1].FalseAlarms) != 1 {
		t.Errorf("healthy-gcsawtooth: %d false alarms, want 1", len(results[1].FalseAlarms))
	}
	storm := results[2]
	if storm.Detected != nil || len(storm.FalseAlarms) != 1 || storm.SiteRight {
		t.Errorf("gcstorm-gogc: %+v, want its anomaly 30 s before the onset counted as a false alarm and the cache site wrong", storm)
	}
	problems := strings.Join(zooProblems(results, false), "; ")
	for _, want := range []string{"false alarm on healthy-gcsawtooth", "false alarm on gcstorm-gogc", "gcstorm-gogc (gc_frequency) never flagged", "leak-chansend (goroutine_growth) never flagged"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems %q lack %q", problems, want)
		}
	}
	if strings.Contains(problems, "leak-mutex") {
		t.Errorf("problems %q name leak-mutex, which was flagged in time with the right site", problems)
	}
	table := zooTable(results)
	if !strings.Contains(table, "| leak-mutex | goroutine_growth | 04:00:00 | +1m0s | goroutine-leak @ +50s | 50 (60) | 5.0 |") {
		t.Errorf("table row of leak-mutex not as expected:\n%s", table)
	}
}

// TestShippedReadinessBlock checks that the block cut from sidecar.yaml is the readiness processor's config.
func TestShippedReadinessBlock(t *testing.T) {
	block := shippedReadinessBlock(t)
	// The shipped sidecar relies on the defaults (readiness: {}); a rules block would be cut the same way.
	if !strings.HasPrefix(block, "  readiness:") {
		t.Errorf("readiness block:\n%s", block)
	}
}

// The episode's start record names the site when per-site counts found it; a GC storm's site comes from the
// allocation attribution; a kind the fault causes too (also_kinds) is no false alarm.
func TestZooScoringSitesAndConsequences(t *testing.T) {
	start := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	log := strings.Join([]string{
		`{"level":"warn","msg":"readiness anomaly started","rule":"goroutine-leak","kind":"goroutine_growth","service.name":"leak-httpbody","data_time":"2026-12-02T04:01:40Z","top_site":"net/http.(*persistConn).readLoop"}`,
		`{"level":"warn","msg":"readiness anomaly started","rule":"heap-growth","kind":"heap_growth","service.name":"leak-httpbody","data_time":"2026-12-02T04:02:20Z"}`,
		`{"level":"warn","msg":"readiness: leak attribution","service.name":"leak-httpbody","top_site":"main.wanderWorker /src/w.go:1 (+3)"}`,
		`{"level":"warn","msg":"readiness anomaly started","rule":"gc-storm","kind":"gc_frequency","service.name":"gcstorm-gogc","data_time":"2026-12-02T04:01:20Z"}`,
		`{"level":"info","msg":"readiness: capture taken","service.name":"gcstorm-gogc","capture_kind":"heap","top":["main.cacheHolder /src/alloc.go:16 value=16777216"]}`,
		`{"level":"warn","msg":"readiness: allocation attribution","service.name":"gcstorm-gogc","top_site":"main.allocHot /src/alloc.go:30 value=943718400"}`,
	}, "\n")
	logPath := filepath.Join(t.TempDir(), "collector.log")
	if err := os.WriteFile(logPath, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	labels := []testbed.ZooLabel{
		{Name: "leak-httpbody", Kind: "goroutine_growth", Onset: time.Minute, TargetLatencySeconds: 60,
			Sites: []string{"net/http.(*persistConn).readLoop"}, AlsoKinds: []string{"heap_growth"}},
		{Name: "gcstorm-gogc", Kind: "gc_frequency", Onset: time.Minute, TargetLatencySeconds: 40, Sites: []string{"main.allocHot"}},
	}
	results := scoreZooRecords(labels, func(testbed.ZooLabel) (time.Time, time.Time) {
		return start, start.Add(time.Minute)
	}, logPath)
	body, storm := results[0], results[1]
	if !body.SiteRight || body.SiteFrom != "episode start" || len(body.FalseAlarms) != 0 {
		t.Errorf("leak-httpbody: %+v, want the start record's site and the heap growth it causes accepted", body)
	}
	if !storm.SiteRight || storm.SiteFrom != "allocation attribution" {
		t.Errorf("gcstorm-gogc: %+v, want the allocation attribution's site", storm)
	}
}
