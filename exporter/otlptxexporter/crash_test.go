package otlptxexporter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

// crashStorage is a storage extension in memory. crash copies what was committed and makes
// every later call fail, as a kill -9 leaves a file_storage directory: each Batch is one
// transaction, committed entirely or not at all.
type crashStorage struct {
	component.StartFunc
	component.ShutdownFunc
	mu   sync.Mutex
	data map[string][]byte
	dead bool
}

func (s *crashStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return s, nil
}

func (s *crashStorage) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := s.Batch(ctx, op)
	return op.Value, err
}

func (s *crashStorage) Set(ctx context.Context, key string, value []byte) error {
	return s.Batch(ctx, storage.SetOperation(key, value))
}

func (s *crashStorage) Delete(ctx context.Context, key string) error {
	return s.Batch(ctx, storage.DeleteOperation(key))
}

func (s *crashStorage) Batch(_ context.Context, ops ...*storage.Operation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return errors.New("process killed")
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = s.data[op.Key]
		case storage.Set:
			s.data[op.Key] = append([]byte(nil), op.Value...)
		case storage.Delete:
			delete(s.data, op.Key)
		}
	}
	return nil
}

func (*crashStorage) Close(context.Context) error { return nil }

// crash returns a copy of the committed state and fails every later call.
func (s *crashStorage) crash() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead = true
	return maps.Clone(s.data)
}

func crashHost(s *crashStorage) component.Host {
	return &otlptxtest.Host{Extensions: map[component.ID]component.Component{otlptxtest.FileStorageID: s}}
}

func idLogs(from, n int) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := range n {
		lrs.AppendEmpty().Body().SetStr(fmt.Sprintf("id-%d", from+i))
	}
	return ld
}

// TestExactlyOnceAcrossCrashes kills the exporter (its storage stops at a random moment,
// its requests to the gateway stop too) while it sends to a gateway that loses some
// answers, then starts a new exporter on what storage held. Every acknowledged item must
// reach the gateway exactly once, whatever the moment of the crash.
func TestExactlyOnceAcrossCrashes(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	for round := range rounds {
		t.Run(fmt.Sprint(round), func(t *testing.T) { runCrashRound(t, uint64(round)) })
	}
}

func runCrashRound(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	gw := startGateway(t, "")
	// The first process's proxy: a third of the answers are lost after the gateway
	// forwarded the batch; after the crash nothing goes through any more.
	px1 := startProxy(t, gw.endpoint)
	var dead atomic.Bool
	loseSome := func(n int) int {
		if dead.Load() {
			return http.StatusServiceUnavailable
		}
		if n%3 == 1 {
			return http.StatusBadGateway
		}
		return 0
	}
	px1.after.Store(&loseSome)
	refuseWhenDead := func(int) int {
		if dead.Load() {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	px1.before.Store(&refuseWhenDead)

	first := &crashStorage{data: map[string][]byte{}}
	cfg := persistentConfig(px1.server.URL)
	cfg.Batch.MaxItems = 25
	p1 := startPipelines(t, cfg, crashHost(first))

	var mu sync.Mutex
	var acked []int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				from := (w*100_000 + i) * 10
				if p1.logs.ConsumeLogs(context.Background(), idLogs(from, 10)) == nil {
					mu.Lock()
					acked = append(acked, from)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond)
	// kill -9: what storage committed stays, nothing else happens from now on.
	mu.Lock()
	snapshot := first.crash()
	dead.Store(true)
	ackedBeforeCrash := append([]int(nil), acked...)
	mu.Unlock()
	close(stop)
	wg.Wait()
	for _, c := range []component.Component{p1.traces, p1.metrics, p1.logs} {
		_ = c.Shutdown(context.Background()) // its storage fails and its proxy refuses: nothing more happens
	}

	px2 := startProxy(t, gw.endpoint)
	second := &crashStorage{data: snapshot}
	p2 := startPipelines(t, persistentConfig(px2.server.URL), crashHost(second))
	want := len(ackedBeforeCrash) * 10
	require.Eventually(t, func() bool { return gw.logs.LogRecordCount() >= want }, 10*time.Second, 5*time.Millisecond,
		"want at least %d items at the gateway", want)
	time.Sleep(100 * time.Millisecond) // let stragglers (duplicates) arrive
	p2.shutdown(t)

	seen := map[string]int{}
	for _, ld := range gw.logs.AllLogs() {
		lrs := ld.ResourceLogs()
		for i := range lrs.Len() {
			sls := lrs.At(i).ScopeLogs()
			for j := range sls.Len() {
				recs := sls.At(j).LogRecords()
				for k := range recs.Len() {
					seen[recs.At(k).Body().Str()]++
				}
			}
		}
	}
	dups := 0
	for id, n := range seen {
		if n != 1 {
			dups++
			if dups <= 5 {
				t.Errorf("%s arrived %d times", id, n)
			}
		}
	}
	lost := 0
	for _, from := range ackedBeforeCrash {
		for i := range 10 {
			if _, ok := seen[fmt.Sprintf("id-%d", from+i)]; !ok {
				lost++
			}
		}
	}
	assert.Zero(t, dups, "items delivered more than once")
	assert.Zero(t, lost, "acknowledged items lost")
	t.Logf("acknowledged before the crash: %d requests; at the gateway: %d distinct items", len(ackedBeforeCrash), len(seen))
}

// gatedStorage holds every Batch that reads (Get) until gate is closed, except the reads of
// the queue's metadata key.
type gatedStorage struct {
	*crashStorage
	gate chan struct{}
}

func (s *gatedStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return s, nil
}

func (s *gatedStorage) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := s.Batch(ctx, op)
	return op.Value, err
}

func (s *gatedStorage) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		if op.Type == storage.Get && op.Key != metaKey {
			<-s.gate
			break
		}
	}
	return s.crashStorage.Batch(ctx, ops...)
}

// TestStartDoesNotReadStoredData: Start reads only the queue's metadata; what a previous
// run stored is read in the background (here held back until the test releases it), and
// is then delivered.
func TestStartDoesNotReadStoredData(t *testing.T) {
	gw := startGateway(t, "")
	down := "http://" + freeAddr(t)
	stored := &crashStorage{data: map[string][]byte{}}
	first := startPipelines(t, persistentConfig(down), crashHost(stored))
	sent := sendMixed(t, first, 3, 90)
	first.shutdown(t)

	gated := &gatedStorage{crashStorage: &crashStorage{data: stored.crash()}, gate: make(chan struct{})}
	host := &otlptxtest.Host{Extensions: map[component.ID]component.Component{otlptxtest.FileStorageID: gated}}
	second := startPipelines(t, persistentConfig(gw.endpoint), host) // returns with every read held back
	assert.Zero(t, gw.items())
	close(gated.gate)
	require.Eventually(t, func() bool { return gw.items() == sent }, 10*time.Second, 5*time.Millisecond)
	second.shutdown(t)
	assert.Equal(t, sent, gw.items())
}
