package readinesshubextension

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension/internal/metadata"
)

func newTestHub(t *testing.T, maxEpisodes int) (*hub, *time.Time) {
	t.Helper()
	h, err := newHub(extensiontest.NewNopSettings(metadata.Type), &Config{MaxEpisodes: maxEpisodes})
	require.NoError(t, err)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return clock }
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })
	return h, &clock
}

func episode(id, service string) Episode {
	return Episode{
		ID: id, Rule: "goroutine-leak", Kind: "goroutine_growth", Severity: "warning",
		Target:  pprofcaptureextension.TargetKey{ServiceName: service, ServiceInstanceID: service + "-0"},
		Start:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Details: map[string]string{"rise_per_s": "4.0"},
	}
}

func TestEpisodeLifecycle(t *testing.T) {
	h, clock := newTestHub(t, 10)
	var seen []Event
	unsubscribe := h.Subscribe(func(ev Event) { seen = append(seen, ev) })

	h.Publish(Event{Phase: PhaseStart, Episode: episode("a", "checkout")})
	got, ok := h.FlaggedService("checkout", 0)
	require.True(t, ok, "an active episode flags its service")
	assert.Equal(t, "a", got.ID)
	_, ok = h.FlaggedService("cart", time.Hour)
	assert.False(t, ok, "another service is not flagged")

	upd := Episode{ID: "a", Sites: []string{"main.leak"}, Captures: []Capture{{Kind: "goroutine", Path: "/tmp/x.pb.gz"}}}
	h.Publish(Event{Phase: PhaseUpdate, Episode: upd})
	eps := h.Episodes()
	require.Len(t, eps, 1)
	assert.Equal(t, []string{"main.leak"}, eps[0].Sites, "an update adds the named sites")
	assert.Equal(t, "4.0", eps[0].Details["rise_per_s"], "an update keeps the start's details")
	assert.Equal(t, "checkout", eps[0].Target.ServiceName, "an update keeps the identity")

	*clock = clock.Add(time.Minute)
	h.Publish(Event{Phase: PhaseEnd, Episode: Episode{ID: "a", End: clock.Add(-time.Second), EndReason: "clear"}})
	eps = h.Episodes()
	require.Len(t, eps, 1)
	assert.False(t, eps[0].Active())
	assert.Equal(t, "clear", eps[0].EndReason)
	assert.Equal(t, []string{"main.leak"}, eps[0].Sites)

	_, ok = h.FlaggedService("checkout", 0)
	assert.False(t, ok, "an ended episode flags nothing without a tail")
	*clock = clock.Add(30 * time.Second)
	_, ok = h.FlaggedService("checkout", time.Minute)
	assert.True(t, ok, "an ended episode flags its service for the tail")
	*clock = clock.Add(time.Minute)
	_, ok = h.FlaggedService("checkout", time.Minute)
	assert.False(t, ok, "after the tail the service is not flagged")

	require.Len(t, seen, 3)
	assert.Equal(t, []Phase{PhaseStart, PhaseUpdate, PhaseEnd}, []Phase{seen[0].Phase, seen[1].Phase, seen[2].Phase})
	assert.Equal(t, "checkout", seen[2].Episode.Target.ServiceName, "the end event carries the whole episode")
	unsubscribe()
	h.Publish(Event{Phase: PhaseStart, Episode: episode("b", "cart")})
	assert.Len(t, seen, 3, "no events after unsubscribe")
}

func TestEndedEpisodesAreBounded(t *testing.T) {
	h, _ := newTestHub(t, 3)
	for i := range 10 {
		ep := episode(string(rune('a'+i)), "svc")
		ep.Start = ep.Start.Add(time.Duration(i) * time.Minute)
		h.Publish(Event{Phase: PhaseStart, Episode: ep})
		h.Publish(Event{Phase: PhaseEnd, Episode: Episode{ID: ep.ID}})
	}
	h.Publish(Event{Phase: PhaseStart, Episode: episode("z", "svc")})
	eps := h.Episodes()
	require.Len(t, eps, 4, "three ended episodes and the active one")
	assert.Equal(t, "j", eps[0].ID, "newest start first")
}

func TestEventsAreCopies(t *testing.T) {
	h, _ := newTestHub(t, 10)
	ep := episode("a", "svc")
	h.Publish(Event{Phase: PhaseStart, Episode: ep})
	ep.Details["rise_per_s"] = "changed"
	got := h.Episodes()
	got[0].Details["rise_per_s"] = "changed too"
	assert.Equal(t, "4.0", h.Episodes()[0].Details["rise_per_s"], "the hub shares no maps with publishers or readers")
}

type fakeSource struct{ name string }

func (fakeSource) Services() []ServiceStatus { return nil }
func (fakeSource) History(pprofcaptureextension.TargetKey) (ServiceHistory, bool) {
	return ServiceHistory{}, false
}

func TestSources(t *testing.T) {
	h, _ := newTestHub(t, 10)
	un1 := h.RegisterSource(fakeSource{"one"})
	un2 := h.RegisterSource(fakeSource{"two"})
	assert.Equal(t, []Source{fakeSource{"one"}, fakeSource{"two"}}, h.Sources())
	un1()
	assert.Equal(t, []Source{fakeSource{"two"}}, h.Sources())
	un2()
	assert.Empty(t, h.Sources())
}

type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

func TestFindHub(t *testing.T) {
	h, _ := newTestHub(t, 10)
	other, _ := newTestHub(t, 10)
	first := component.MustNewID(metadata.Type.String())
	second := component.MustNewIDWithName(metadata.Type.String(), "second")

	_, err := FindHub(hostWith{}, nil)
	assert.True(t, errors.Is(err, ErrNoHub))

	found, err := FindHub(hostWith{first: h}, nil)
	require.NoError(t, err)
	assert.Same(t, h, found)

	_, err = FindHub(hostWith{first: h, second: other}, nil)
	assert.ErrorContains(t, err, "name one")

	found, err = FindHub(hostWith{first: h, second: other}, &second)
	require.NoError(t, err)
	assert.Same(t, other, found)

	_, err = FindHub(hostWith{first: h}, &second)
	assert.ErrorContains(t, err, "not found")
}

func TestConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      string
		want    int
		wantErr string
	}{
		{id: "readiness_hub", want: defaultMaxEpisodes},
		{id: "readiness_hub/small", want: 10},
		{id: "readiness_hub/invalid", wantErr: "max_episodes"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id)
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = cfg.(*Config).Validate()
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.(*Config).MaxEpisodes)
		})
	}
}

func TestShutdownTwiceAndWithoutStart(t *testing.T) {
	h, err := newHub(extensiontest.NewNopSettings(metadata.Type), &Config{MaxEpisodes: 1})
	require.NoError(t, err)
	require.NoError(t, h.Shutdown(context.Background()))
	require.NoError(t, h.Shutdown(context.Background()))
}
