package scenarios

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

const (
	zooScrapeInterval = 10 * time.Second
	// zooOnsetSlack tolerates an episode whose data_time is up to one scrape before the recorded onset (the
	// scrape that first sees the fault may carry a timestamp from just before the onset log record).
	zooOnsetSlack = zooScrapeInterval
	// zooCaptureGrace lets captures requested near the end (goroutine_delta samples for 10 s) finish and be logged.
	zooCaptureGrace = 20 * time.Second
)

// TestReadinessZoo (scenario 6) runs the fault zoo (testbed/cmd/faultzoo: healthy shapes that must never be flagged
// and faults that must be) next to ONE real otelcol-ready whose pprofscrape scrapes every service every 10 s and
// whose readiness processor runs the rules of the shipped distro/config/sidecar.yaml, copied verbatim. It reads the
// collector's JSON log for "readiness anomaly started" and the first named site of each service, prints a table
// against testbed/cmd/faultzoo/labels.yaml and asserts:
//   - short (make test, about 4.5 min): no false alarm; every fast fault flagged by the end (latencies printed next
//     to their targets, not asserted: the 2 cores are shared);
//   - full (TESTBED_FULL=1, make bench, about 16.5 min, the whole zoo incl. a restart): no false alarm, every
//     fault flagged within its target latency, the first named site right for at least 90 % of the faults.
func TestReadinessZoo(t *testing.T) {
	bin := scenarioSetup(t)
	zooBin := binaries.FaultZooForTest(t)
	labels, err := testbed.ReadZooLabels()
	if err != nil {
		t.Fatal(err)
	}
	if !testbed.Full() {
		labels = shortZooLabels(labels)
	}
	runFor := pick(4*time.Minute, 16*time.Minute)
	if v := os.Getenv("TESTBED_ZOO_DURATION"); v != "" {
		// A shorter (or longer) run while working on the scenario itself; the assertions stay the same.
		if runFor, err = time.ParseDuration(v); err != nil {
			t.Fatalf("TESTBED_ZOO_DURATION=%q: %v", v, err)
		}
	}
	mon := newMonitor(t)

	services := make([]*testbed.FaultZoo, 0, len(labels))
	targets := make([]map[string]string, 0, len(labels))
	for i, l := range labels {
		z := testbed.StartFaultZoo(t, zooBin, l, testbed.FreePort(t), uint64(i+1), runFor+5*time.Minute)
		services = append(services, z)
		targets = append(targets, map[string]string{"Addr": z.Addr(), "Name": l.Name})
	}
	dir := t.TempDir()
	captureDir := filepath.Join(dir, "captures")
	if err := os.MkdirAll(captureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	col := testbed.NewCollector(t, bin, testbed.CollectorConfig{
		Name: "zoo-collector", Template: "readiness-zoo.yaml.tmpl", Monitor: mon,
		Vars: map[string]any{
			"Targets":        targets,
			"ScrapeInterval": zooScrapeInterval.String(),
			"CaptureDir":     captureDir,
			"MetricsFile":    filepath.Join(dir, "metrics.jsonl"),
			"LogsFile":       filepath.Join(dir, "logs.jsonl"),
			"ReadinessBlock": shippedReadinessBlock(t),
		},
	})
	col.MustStart()
	begin := time.Now()
	t.Logf("%d zoo services and the collector up; running %s (log %s)", len(services), runFor, col.LogPath())

	restarted := map[string]bool{}
	lastReport := begin
	for deadline := begin.Add(runFor); time.Now().Before(deadline); {
		for _, z := range services {
			l := z.Label()
			if l.RestartAfter > 0 && !restarted[l.Name] && time.Since(z.FirstStart()) >= l.RestartAfter {
				restarted[l.Name] = true
				if err := z.Restart(); err != nil {
					t.Errorf("restarting %s: %v", l.Name, err)
				} else {
					t.Logf("%s killed and started again on %s", l.Name, z.Addr())
				}
			}
		}
		if time.Since(lastReport) >= time.Minute {
			lastReport = time.Now()
			t.Logf("+%s: %d anomalies started so far", time.Since(begin).Round(time.Second),
				len(readinessLogRecords(col.LogPath(), "readiness anomaly started")))
		}
		time.Sleep(min(5*time.Second, time.Until(deadline)+time.Millisecond))
	}
	time.Sleep(zooCaptureGrace)
	mon.SampleNow()
	usage := mon.Usage("zoo-collector")
	if err := col.Stop(); err != nil {
		t.Errorf("graceful stop of the collector: %v", err)
	}

	results := scoreZoo(services, col.LogPath())
	table := zooTable(results)
	summary := summarizeZoo(results)
	t.Logf("readiness zoo, %s mode, %s of scraping every %s, rules of distro/config/sidecar.yaml:\n%s\n%s",
		pick("short", "full"), runFor, zooScrapeInterval, table, summary)
	writeZooResults(t, results, table, summary, runFor, usage)

	if problems := zooProblems(results, testbed.Full()); len(problems) > 0 {
		t.Errorf("readiness zoo: %s\n\n%s\n%s", strings.Join(problems, "; "), table, summary)
	}
}

// shortZooLabels keeps the services marked short in labels.yaml.
func shortZooLabels(labels []testbed.ZooLabel) []testbed.ZooLabel {
	var out []testbed.ZooLabel
	for _, l := range labels {
		if l.Short {
			out = append(out, l)
		}
	}
	return out
}

// shippedReadinessBlock returns the processors.readiness block of the shipped sidecar.yaml as it is written there
// (its lines, indented as under processors:), after checking that it parses to the same value as the file's own.
func shippedReadinessBlock(t *testing.T) string {
	t.Helper()
	path := distroConfig(t, "sidecar.yaml")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	inProcessors, inReadiness := false, false
	for line := range strings.SplitSeq(string(text), "\n") {
		indent := len(line) - len(strings.TrimLeft(line, " "))
		blank := strings.TrimSpace(line) == ""
		switch {
		case !blank && indent == 0:
			inProcessors, inReadiness = strings.HasPrefix(line, "processors:"), false
		case inProcessors && !blank && indent == 2:
			inReadiness = strings.HasPrefix(line, "  readiness:")
		}
		if inReadiness {
			block = append(block, line)
		}
	}
	got := strings.TrimRight(strings.Join(block, "\n"), "\n ")
	if got == "" {
		t.Fatalf("no processors.readiness block in %s", path)
	}
	var whole, extracted struct {
		Processors map[string]any `yaml:"processors"`
	}
	if err := yaml.Unmarshal(text, &whole); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	if err := yaml.Unmarshal([]byte("processors:\n"+got+"\n"), &extracted); err != nil {
		t.Fatalf("parsing the readiness block of %s: %v\n%s", path, err, got)
	}
	if !reflect.DeepEqual(whole.Processors["readiness"], extracted.Processors["readiness"]) {
		t.Fatalf("the readiness block cut from %s differs from the parsed file:\n%s", path, got)
	}
	return got
}

// readinessLogRecords returns the collector's JSON log records with message msg, in log order.
func readinessLogRecords(logPath string, msgs ...string) []map[string]any {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return nil
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !slices.ContainsFunc(msgs, func(msg string) bool { return bytes.Contains(line, []byte(msg)) }) {
			continue
		}
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && slices.Contains(msgs, str(m["msg"])) {
			out = append(out, m)
		}
	}
	return out
}

// zooAnomaly is one "readiness anomaly started" record of a service.
type zooAnomaly struct {
	Rule, Kind string
	DataTime   time.Time
	// Offset is DataTime minus the fault onset (negative: before it).
	Offset time.Duration
}

// zooResult is the score of one service.
type zooResult struct {
	Label testbed.ZooLabel
	// Started is when the service's (first) process was started; Onset when its fault began (its "fault onset"
	// log record; the start for a healthy service).
	Started, Onset time.Time
	Anomalies      []zooAnomaly
	// Detected is the first anomaly of the expected kind at or after the onset (nil: missed, or healthy).
	Detected *zooAnomaly
	// Site is the first named site reported for the service: the top_site of the detected episode's start record
	// (per-call-site goroutine counts), else the top_site of its first "readiness: leak attribution" (call sites
	// that grew) or "readiness: allocation attribution" (what allocated during a GC storm), else the first entry of
	// "top" of its first "readiness: capture taken" that names any. SiteFrom says which.
	Site, SiteFrom string
	SiteRight      bool
	// FalseAlarms are anomalies on a healthy service, of an unexpected kind, or before the onset.
	FalseAlarms []zooAnomaly
}

func scoreZoo(services []*testbed.FaultZoo, logPath string) []zooResult {
	labels := make([]testbed.ZooLabel, len(services))
	times := map[string][2]time.Time{}
	for i, z := range services {
		labels[i] = z.Label()
		times[labels[i].Name] = [2]time.Time{z.FirstStart(), z.OnsetAt()}
	}
	return scoreZooRecords(labels, func(l testbed.ZooLabel) (time.Time, time.Time) {
		ts := times[l.Name]
		return ts[0], ts[1]
	}, logPath)
}

// scoreZooRecords scores each labelled service from the collector's log; startAndOnset gives the service's start
// and fault onset.
func scoreZooRecords(labels []testbed.ZooLabel, startAndOnset func(testbed.ZooLabel) (started, onset time.Time), logPath string) []zooResult {
	started := readinessLogRecords(logPath, "readiness anomaly started")
	// In log order: the first attribution of a service is the first site it named.
	attributions := readinessLogRecords(logPath, "readiness: leak attribution", "readiness: allocation attribution")
	captures := readinessLogRecords(logPath, "readiness: capture taken")
	results := make([]zooResult, 0, len(labels))
	for _, l := range labels {
		r := zooResult{Label: l}
		r.Started, r.Onset = startAndOnset(l)
		for _, rec := range started {
			if rec["service.name"] != l.Name {
				continue
			}
			s, _ := rec["data_time"].(string)
			dt, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				continue
			}
			a := zooAnomaly{Rule: str(rec["rule"]), Kind: str(rec["kind"]), DataTime: dt, Offset: dt.Sub(r.Onset)}
			r.Anomalies = append(r.Anomalies, a)
			switch {
			case !l.Healthy() && slices.Contains(l.AlsoKinds, a.Kind) && a.Offset >= -zooOnsetSlack:
			case l.Healthy() || a.Kind != l.Kind || a.Offset < -zooOnsetSlack:
				r.FalseAlarms = append(r.FalseAlarms, a)
			case r.Detected == nil:
				r.Detected = &a
				if site := str(rec["top_site"]); site != "" {
					r.Site, r.SiteFrom = site, "episode start"
				}
			}
		}
		if r.Site == "" {
			for _, rec := range attributions {
				if rec["service.name"] == l.Name {
					r.Site, r.SiteFrom = str(rec["top_site"]), strings.TrimPrefix(str(rec["msg"]), "readiness: ")
					break
				}
			}
		}
		if r.Site == "" {
			for _, rec := range captures {
				if top, _ := rec["top"].([]any); rec["service.name"] == l.Name && len(top) > 0 {
					r.Site, r.SiteFrom = str(top[0]), "capture "+str(rec["capture_kind"])
					break
				}
			}
		}
		fn, _, _ := strings.Cut(r.Site, " ")
		for _, want := range l.Sites {
			r.SiteRight = r.SiteRight || fn == want
		}
		results = append(results, r)
	}
	return results
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func (r zooResult) latency() time.Duration {
	if r.Detected == nil {
		return 0
	}
	return max(r.Detected.Offset, 0)
}

// zooTable renders the results as a Markdown table.
func zooTable(results []zooResult) string {
	var b strings.Builder
	b.WriteString("| service | expected kind | started (UTC) | onset | anomalies (rule @ data time - onset) | latency s (target) | scrapes | first named site | site | false alarms |\n")
	b.WriteString("|---|---|---|---:|---|---:|---:|---|---|---:|\n")
	for _, r := range results {
		l := r.Label
		var anomalies []string
		for _, a := range r.Anomalies {
			anomalies = append(anomalies, fmt.Sprintf("%s @ %+.0fs", a.Rule, a.Offset.Seconds()))
		}
		latency, scrapes, siteVerdict := "-", "-", "-"
		switch {
		case l.Healthy():
		case r.Detected == nil:
			latency = fmt.Sprintf("MISSED (%.0f)", l.TargetLatencySeconds)
		default:
			s := r.latency().Seconds()
			mark := ""
			if s > l.TargetLatencySeconds {
				mark = " LATE"
			}
			latency = fmt.Sprintf("%.0f (%.0f)%s", s, l.TargetLatencySeconds, mark)
			scrapes = fmt.Sprintf("%.1f", s/zooScrapeInterval.Seconds())
		}
		if !l.Healthy() {
			siteVerdict = "wrong"
			if r.SiteRight {
				siteVerdict = "right"
			}
		}
		site := r.Site
		if site == "" {
			site = "(none)"
		} else {
			site = fmt.Sprintf("`%s` (%s)", site, r.SiteFrom)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | +%s | %s | %s | %s | %s | %s | %d |\n", l.Name, l.Kind, r.Started.UTC().Format("15:04:05"),
			r.Onset.Sub(r.Started).Round(time.Second), orDash(strings.Join(anomalies, ", ")),
			latency, scrapes, site, siteVerdict, len(r.FalseAlarms))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// summarizeZoo counts faults detected, in time, with the right site, and false alarms.
func summarizeZoo(results []zooResult) string {
	faults, detected, inTime, sitesRight, falseAlarms := 0, 0, 0, 0, 0
	var latencies []float64
	for _, r := range results {
		falseAlarms += len(r.FalseAlarms)
		if r.Label.Healthy() {
			continue
		}
		faults++
		if r.SiteRight {
			sitesRight++
		}
		if r.Detected != nil {
			detected++
			latencies = append(latencies, r.latency().Seconds())
			if r.latency().Seconds() <= r.Label.TargetLatencySeconds {
				inTime++
			}
		}
	}
	mean := math.NaN()
	if len(latencies) > 0 {
		mean = 0
		for _, v := range latencies {
			mean += v / float64(len(latencies))
		}
	}
	return fmt.Sprintf("faults detected %d/%d, within target %d/%d, first named site right %d/%d; false alarms %d; mean latency %.0f s",
		detected, faults, inTime, faults, sitesRight, faults, falseAlarms, mean)
}

// zooProblems lists what fails the scenario. Both modes: any false alarm, any fault never flagged. Full mode also:
// a fault flagged later than its target, and fewer than 90 % of the faults with the right first named site.
func zooProblems(results []zooResult, full bool) []string {
	var problems []string
	faults, sitesRight := 0, 0
	for _, r := range results {
		l := r.Label
		for _, a := range r.FalseAlarms {
			problems = append(problems, fmt.Sprintf("false alarm on %s: %s (%s) at onset%+.0fs", l.Name, a.Rule, a.Kind, a.Offset.Seconds()))
		}
		if l.Healthy() {
			continue
		}
		faults++
		if r.SiteRight {
			sitesRight++
		}
		switch {
		case r.Detected == nil:
			problems = append(problems, fmt.Sprintf("%s (%s) never flagged", l.Name, l.Kind))
		case full && r.latency().Seconds() > l.TargetLatencySeconds:
			problems = append(problems, fmt.Sprintf("%s flagged after %.0f s, target %.0f s", l.Name, r.latency().Seconds(), l.TargetLatencySeconds))
		}
	}
	if full && sitesRight*10 < faults*9 {
		problems = append(problems, fmt.Sprintf("first named site right for %d of %d faults, want at least 90 %%", sitesRight, faults))
	}
	return problems
}

// writeZooResults writes a report row and the table next to it (full mode, or TESTBED_RESULTS_DIR).
func writeZooResults(t *testing.T, results []zooResult, table, summary string, runFor time.Duration, usage testbed.ProcessUsage) {
	t.Helper()
	recordRow(t, testbed.Row{
		Scenario:   "6-readiness-zoo",
		Transport:  "faultzoo x pprofscrape -> readiness (sidecar.yaml rules)",
		Seconds:    runFor.Seconds(),
		CPUSeconds: usage.CPUSeconds,
		PeakRSSMiB: mib(usage.PeakRSSBytes),
		Notes:      fmt.Sprintf("%d services scraped every %s; %s", len(results), zooScrapeInterval, summary),
	})
	dir, err := testbed.ResultsDir()
	if err != nil || dir == "" {
		return
	}
	name := fmt.Sprintf("6-readiness-zoo_%s_table.md", pick("short", "full"))
	text := fmt.Sprintf("# Readiness zoo (%s mode, %s, %s)\n\n%s\n%s\n", pick("short", "full"), runFor,
		time.Now().UTC().Format(time.RFC3339), table, summary)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Errorf("writing the zoo table: %v", err)
	}
}
