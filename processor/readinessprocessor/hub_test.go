package readinessprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
)

// The hub learns an episode's start, the sites its captures name, and its end, under one episode ID.
func TestEpisodesPublishedToHub(t *testing.T) {
	rule := goroutineRule()
	rule.Actions = []string{ActionCapture, ActionAnnotate}
	rule.Capture.Kinds = []pprofcaptureextension.Kind{"goroutine_delta"}
	h := newHarness(t, testConfig(rule))
	events := make(chan readinesshubextension.Event, 16)
	t.Cleanup(h.hub.Subscribe(func(ev readinesshubextension.Event) { events <- ev }))
	h.capturer.results = []pprofcaptureextension.Result{
		{Kind: pprofcaptureextension.KindGoroutineDelta, Path: "/tmp/d.pb.gz", Size: 100, SampleType: "goroutine",
			Summary: []pprofcaptureextension.SummaryEntry{{Function: "main.leakyHandler.func1", File: "leak.go", Line: 42, Value: 60}}},
	}
	h.replay(namingPprofscrape, serviceResource("svc", "a"), leakSeries())

	next := func() readinesshubextension.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event reached the hub")
			return readinesshubextension.Event{}
		}
	}
	start := next()
	require.Equal(t, readinesshubextension.PhaseStart, start.Phase)
	assert.Equal(t, "goroutine-leak", start.Episode.Rule)
	assert.Equal(t, pprofcaptureextension.TargetKey{ServiceName: "svc", ServiceInstanceID: "a"}, start.Episode.Target)
	assert.Equal(t, "svc", start.Episode.Identity["service.name"])
	assert.Contains(t, start.Episode.Details, "growth")
	assert.False(t, start.Episode.Start.IsZero())

	update := next()
	require.Equal(t, readinesshubextension.PhaseUpdate, update.Phase)
	assert.Equal(t, start.Episode.ID, update.Episode.ID)
	assert.Equal(t, []string{"main.leakyHandler.func1"}, update.Episode.Sites, "the function, without file and counts")
	require.Len(t, update.Episode.Captures, 1)
	assert.Equal(t, "/tmp/d.pb.gz", update.Episode.Captures[0].Path)
	flagged, ok := h.hub.FlaggedService("svc", 0)
	require.True(t, ok)
	assert.Equal(t, []string{"main.leakyHandler.func1"}, flagged.Sites)

	h.clock = h.clock.Add(h.p.cfg.IdleTimeout + time.Minute)
	h.feed(toMetrics(namingPprofscrape, serviceResource("svc", "b"), epoch, runtimeSample{OffsetMillis: 1, Goroutines: 5}))
	end := next()
	require.Equal(t, readinesshubextension.PhaseEnd, end.Phase)
	assert.Equal(t, start.Episode.ID, end.Episode.ID)
	assert.Equal(t, "series idle", end.Episode.EndReason)
	assert.Equal(t, "goroutine-leak", end.Episode.Rule, "the hub completes the end event from the start")
	_, ok = h.hub.FlaggedService("svc", 0)
	assert.False(t, ok)
}

func TestHubExtensionNamedButMissing(t *testing.T) {
	cfg := testConfig(goroutineRule())
	id := component.MustNewIDWithName("readiness_hub", "missing")
	cfg.HubExtension = &id
	p, err := newReadinessProcessor(processortest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = p.start(context.Background(), &testHost{})
	assert.ErrorContains(t, err, "hub_extension")
	require.NoError(t, p.shutdown(context.Background()))
}
