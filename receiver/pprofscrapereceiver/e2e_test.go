package pprofscrapereceiver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-ready/otelcol-ready/testbed/testbed"
)

// envE2E enables the end-to-end test when no prebuilt binary is given ($OTELCOL_READY_BIN): building the
// distribution takes minutes, too long for the package's unit test run.
const envE2E = "PPROFSCRAPE_E2E"

// TestEndToEnd runs the demo service and the real otelcol-ready binary with this receiver: the goroutine count
// follows the demo's leak knob, and a capture requested through the pprofcapture trigger writes a heap profile
// that google/pprof parses and a log record on the logs pipeline.
func TestEndToEnd(t *testing.T) {
	if os.Getenv(testbed.EnvCollectorBinary) == "" && os.Getenv(envE2E) == "" {
		t.Skipf("set $%s (prebuilt distro/otelcol-ready) or %s=1 to run the end-to-end test", testbed.EnvCollectorBinary, envE2E)
	}
	bins := testbed.NewBinaries(t.TempDir())
	collectorBin, err := bins.Collector()
	require.NoError(t, err)
	demoBin, err := bins.DemoApp()
	require.NoError(t, err)

	demo := testbed.StartDemoApp(t, demoBin, testbed.DemoAppOptions{
		Modes: []string{"idle"}, Args: []string{"-service-name", "checkout", "-duration", "5m", "-leak-rate", "200"},
	})
	dir := t.TempDir()
	metricsFile, logsFile := filepath.Join(dir, "metrics.json"), filepath.Join(dir, "logs.json")
	trigger := testbed.FreeEndpoint(t)
	col := testbed.NewCollector(t, collectorBin, testbed.CollectorConfig{
		Name:     "pprofscrape",
		Template: filepath.Join(mustAbs(t, "testdata"), "e2e.yaml.tmpl"),
		Vars: map[string]any{
			"DemoAddr": demo.Addr(), "TriggerEndpoint": trigger, "CaptureDir": filepath.Join(dir, "captures"),
			"MetricsFile": metricsFile, "LogsFile": logsFile,
		},
	})
	col.MustStart()
	ctx := context.Background()

	goroutines := func(points []testbed.MetricPoint) (last float64, instance string) {
		for _, p := range points {
			if p.Name == "go.goroutine.count" && p.Resource["service.name"] == "checkout" {
				last = p.Value
				instance, _ = p.Resource["service.instance.id"].(string)
			}
		}
		return last, instance
	}
	points, err := testbed.WaitForMetrics(ctx, metricsFile, 60*time.Second, func(p []testbed.MetricPoint) bool {
		v, _ := goroutines(p)
		return v > 0
	})
	require.NoError(t, err)
	baseline, instance := goroutines(points)
	require.NotEmpty(t, instance)
	for _, p := range points {
		if p.Name == "pprofscrape.target.up" {
			assert.Equal(t, 1.0, p.Value)
			assert.Equal(t, "e2e", p.Resource["deployment.environment.name"])
		}
	}

	require.NoError(t, demo.Control(ctx, "leak", true, nil))
	_, err = testbed.WaitForMetrics(ctx, metricsFile, 60*time.Second, func(p []testbed.MetricPoint) bool {
		v, _ := goroutines(p)
		return v >= baseline+400
	})
	require.NoError(t, err, "the goroutine count follows the leak knob")
	require.NoError(t, demo.Control(ctx, "leak", false, nil))
	// The demo binary is built with GOEXPERIMENT=goroutineleakprofile: the leaked workers are found by the GC.
	_, err = testbed.WaitForMetrics(ctx, metricsFile, 60*time.Second, func(p []testbed.MetricPoint) bool {
		for _, pt := range p {
			if pt.Name == "pprofscrape.goroutine.leaked" && pt.Value >= 100 {
				return true
			}
		}
		return false
	})
	require.NoError(t, err, "the goroutineleak profile reports the leaked workers")

	q := url.Values{"service.name": {"checkout"}, "service.instance.id": {instance}, "kind": {"heap"}, "reason": {"e2e"}}
	resp, err := http.Post("http://"+trigger+"/captures?"+q.Encode(), "", http.NoBody)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var results []struct {
		Kind  string `json:"kind"`
		Path  string `json:"path"`
		Error string `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&results))
	require.Len(t, results, 1)
	require.Empty(t, results[0].Error)
	f, err := os.Open(results[0].Path)
	require.NoError(t, err)
	defer f.Close()
	prof, err := profile.Parse(f)
	require.NoError(t, err)
	assert.NotEmpty(t, prof.Sample)

	_, err = testbed.WaitForLogs(ctx, logsFile, 30*time.Second, func(logs []plog.Logs) bool {
		for _, l := range logs {
			for i := 0; i < l.ResourceLogs().Len(); i++ {
				sls := l.ResourceLogs().At(i).ScopeLogs()
				for j := 0; j < sls.Len(); j++ {
					lrs := sls.At(j).LogRecords()
					for k := 0; k < lrs.Len(); k++ {
						path, _ := lrs.At(k).Attributes().Get("file.path")
						if lrs.At(k).EventName() == captureEventName && path.Str() == results[0].Path {
							return true
						}
					}
				}
			}
		}
		return false
	})
	require.NoError(t, err, "the capture is reported on the logs pipeline")
	require.NoError(t, col.Stop())
}

func mustAbs(t *testing.T, rel string) string {
	abs, err := filepath.Abs(rel)
	require.NoError(t, err)
	return abs
}
