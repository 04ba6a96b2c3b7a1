package otlptxexporter

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

func persistentConfig(endpoint string) *Config {
	cfg := testConfig(endpoint)
	id := otlptxtest.FileStorageID
	cfg.Queue.Storage = &id
	return cfg
}

// TestPersistentQueueSurvivesRestartWhileGatewayIsDown: data accepted while the gateway
// is down is stored; a new exporter instance on the same storage delivers it, with the
// sender id and sequence numbers of the first run.
func TestPersistentQueueSurvivesRestartWhileGatewayIsDown(t *testing.T) {
	dir := t.TempDir()
	gatewayAddr := freeAddr(t)

	host, stopStorage := otlptxtest.StartFileStorage(t, dir)
	first := startPipelines(t, persistentConfig("http://"+gatewayAddr), host)
	sent := sendMixed(t, first, 3, 60) // returns once persisted
	first.shutdown(t)
	stopStorage()

	gw := startGateway(t, gatewayAddr)
	px := startProxy(t, gw.endpoint)
	host, stopStorage = otlptxtest.StartFileStorage(t, dir)
	defer stopStorage()
	second := startPipelines(t, persistentConfig(px.server.URL), host)
	require.Eventually(t, func() bool { return gw.items() == sent }, 10*time.Second, 10*time.Millisecond)
	second.shutdown(t)

	assert.Equal(t, sent, gw.items())
	recs := px.records()
	require.NotEmpty(t, recs)
	for _, r := range recs {
		assert.Equal(t, recs[0].header.SenderID, r.header.SenderID)
	}
}

// TestExactlyOnceWhenAnswerLostAndSenderRestarts is the kill -9 case: the gateway
// processed a batch but the sidecar stopped before it saw the answer. The batch is still
// stored, the next run re-sends it with the same (sender id, sequence), and the gateway
// acknowledges it without forwarding it again.
func TestExactlyOnceWhenAnswerLostAndSenderRestarts(t *testing.T) {
	dir := t.TempDir()
	gw := startGateway(t, "")
	px := startProxy(t, gw.endpoint)
	loseAll := func(int) int { return http.StatusBadGateway }
	px.after.Store(&loseAll)

	host, stopStorage := otlptxtest.StartFileStorage(t, dir)
	first := startPipelines(t, persistentConfig(px.server.URL), host)
	// One round: three requests, at most three batches, one per sender, so every request
	// is in a batch that keeps being retried (a sender retries its batch until it is
	// acknowledged; requests queued behind four such batches would wait).
	sent := sendMixed(t, first, 1, 70)
	require.Eventually(t, func() bool { return gw.items() == sent }, 10*time.Second, 10*time.Millisecond)
	first.shutdown(t) // stops with the batches still stored: their answers never arrived
	stopStorage()
	firstRunRequests := len(px.records())
	t.Logf("first run: %d requests", firstRunRequests)

	keepAll := func(int) int { return 0 }
	px.after.Store(&keepAll)
	host, stopStorage = otlptxtest.StartFileStorage(t, dir)
	defer stopStorage()
	second := startPipelines(t, persistentConfig(px.server.URL), host)
	require.Eventually(t, func() bool {
		recs := px.records()
		return len(recs) > firstRunRequests && recs[len(recs)-1].status == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)
	// New data after the restart continues the sequence.
	sent += sendMixed(t, second, 1, 80)
	require.Eventually(t, func() bool { return gw.items() == sent }, 10*time.Second, 10*time.Millisecond)
	second.shutdown(t)

	assert.Equal(t, sent, gw.items(), "every item exactly once")
	recs := px.records()
	resent := recs[firstRunRequests]
	assert.Equal(t, recs[0].header.SenderID, resent.header.SenderID)
	maxFirst := uint64(0)
	for _, r := range recs[:firstRunRequests] {
		maxFirst = max(maxFirst, r.header.Sequence)
	}
	assert.LessOrEqual(t, resent.header.Sequence, maxFirst, "re-sent batch keeps its sequence")
	assert.Greater(t, recs[len(recs)-1].header.Sequence, maxFirst, "new batches get new sequences")
}
