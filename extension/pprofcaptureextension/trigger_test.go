package pprofcaptureextension

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

func loadConfig(t *testing.T, name string) *Config {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(component.MustNewType("pprofcapture"), name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigs(t *testing.T) {
	def := loadConfig(t, "")
	require.NoError(t, confmap.Validate(def))
	assert.Nil(t, def.Trigger, "the trigger is off by default")

	trig := loadConfig(t, "trigger")
	require.NoError(t, confmap.Validate(trig))
	assert.Equal(t, "127.0.0.1:13134", trig.Trigger.Endpoint)
	assert.Equal(t, time.Minute, trig.Trigger.RequestTimeout)

	assert.ErrorContains(t, confmap.Validate(loadConfig(t, "public")), "loopback")
}

func freeLoopback(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return addr
}

func TestTrigger(t *testing.T) {
	endpoint := freeLoopback(t)
	f := NewFactory()
	cfg := &Config{Trigger: &TriggerConfig{Endpoint: endpoint}}
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()
	capturer := &fakeCapturer{owned: map[TargetKey]bool{checkout: true}}
	defer ext.(Broker).Register(capturer)()

	post := func(query string) *http.Response {
		resp, err := http.Post("http://"+endpoint+"/captures?"+query, "", http.NoBody)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp := post("service.name=checkout&service.instance.id=pod-1&kind=heap,goroutine&duration=5s")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var results []resultJSON
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&results))
	require.Len(t, results, 2)
	assert.Equal(t, KindHeap, results[0].Kind)
	assert.Equal(t, "/captures/heap", results[0].Path)
	require.Len(t, results[0].Summary, 1)
	assert.Equal(t, summaryJSON{Function: "main.grow", Value: 7}, results[0].Summary[0])
	require.Len(t, capturer.requests, 1)
	assert.Equal(t, "operator", capturer.requests[0].Reason)
	assert.Equal(t, 5*time.Second, capturer.requests[0].Duration)

	assert.Equal(t, http.StatusNotFound, post("service.name=other&service.instance.id=x&kind=heap").StatusCode)
	assert.Equal(t, http.StatusBadRequest, post("service.name=checkout").StatusCode)
	capturer.refuse = ErrRateLimited
	assert.Equal(t, http.StatusTooManyRequests, post("service.name=checkout&service.instance.id=pod-1&kind=heap").StatusCode)

	getResp, err := http.Get("http://" + endpoint + "/captures")
	require.NoError(t, err)
	getResp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, getResp.StatusCode)
}
