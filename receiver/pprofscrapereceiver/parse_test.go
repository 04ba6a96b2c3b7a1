package pprofscrapereceiver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

// The fixtures come from testdata/gen (a real Go program with 30 goroutines parked in each of two functions).

func openFixture(t testing.TB, name string) *os.File {
	f, err := os.Open(filepath.Join("testdata", "fixtures", name))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseGoroutineStacksFixture(t *testing.T) {
	total, stacks, err := parseGoroutineStacks(openFixture(t, "goroutine_debug1.txt"))
	require.NoError(t, err)
	assert.Equal(t, int64(61), total)
	require.Len(t, stacks, 3, "every group, largest first: the two parked sets and the main goroutine")
	functions := []string{stacks[0].Function, stacks[1].Function}
	assert.ElementsMatch(t, []string{"main.parkedWorker", "main.otherParkedWorker"}, functions)
	for _, s := range stacks[:2] {
		assert.Equal(t, int64(30), s.Count)
		assert.Equal(t, s.Function, s.Entry, "started with the function they are parked in")
		assert.Len(t, s.ID, 16)
	}
	assert.NotEqual(t, stacks[0].ID, stacks[1].ID)
	assert.Equal(t, "main.main", stacks[2].Function)
	assert.Equal(t, "runtime.main", stacks[2].Entry)
}

func TestParseGoroutineStacksRejectsMismatch(t *testing.T) {
	_, _, err := parseGoroutineStacks(strings.NewReader("goroutine profile: total 5\n2 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go:1\n"))
	assert.ErrorContains(t, err, "add up to 2")
}

func TestParseHeapMemStatsFixture(t *testing.T) {
	m, err := parseHeapMemStats(openFixture(t, "heap_debug1.txt"))
	require.NoError(t, err)
	assert.Positive(t, m.NumGC)
	assert.Positive(t, m.HeapInuse)
	assert.GreaterOrEqual(t, m.TotalAlloc, m.HeapAlloc)
	assert.Greater(t, m.HeapAlloc, uint64(64*64<<10)) // the generator retains 4 MiB
	assert.True(t, m.hasPauseTotal, "few GCs: the pause ring buffer holds them all")
	assert.Positive(t, m.PauseTotalNs)
}

func TestParseExpvarFixture(t *testing.T) {
	page, err := parseExpvar(openFixture(t, "vars.json"))
	require.NoError(t, err)
	require.NotNil(t, page.MemStats)
	assert.Positive(t, page.MemStats.NumGC)
	assert.Positive(t, page.MemStats.PauseTotalNs)
	assert.True(t, page.MemStats.hasPauseTotal)
}

func TestParseProfileTotal(t *testing.T) {
	n, err := parseProfileTotal(openFixture(t, "threadcreate_debug1.txt"), "threadcreate")
	require.NoError(t, err)
	assert.Positive(t, n)

	for _, body := range []string{"", "<html>oops</html>", "threadcreate profile: total -3\n", strings.Repeat("x", 1000)} {
		_, err := parseProfileTotal(strings.NewReader(body), "threadcreate")
		assert.Error(t, err, body)
	}
}

func TestParseContentionFixtures(t *testing.T) {
	for _, name := range []string{"mutex_debug1.txt", "block_debug1.txt"} {
		n, err := parseContentionCount(openFixture(t, name))
		require.NoError(t, err, name)
		assert.Positive(t, n, name)
	}
	_, err := parseContentionCount(strings.NewReader("garbage\n"))
	assert.Error(t, err)
}

func TestSummarizeFixtures(t *testing.T) {
	entries, err := summarizeGoroutineDump(openFixture(t, "goroutine_debug2.txt"), 2)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, int64(30), entries[0].Value)
	assert.Contains(t, []string{"main.parkedWorker", "main.otherParkedWorker"}, entries[0].Function)
	assert.True(t, strings.HasSuffix(entries[0].File, "main.go"))
	assert.Positive(t, entries[0].Line)

	_, sampleType, top, err := summarizeProfile(filepath.Join("testdata", "fixtures", "heap.pb.gz"), pprofcaptureextension.KindHeap, 3)
	require.NoError(t, err)
	assert.Equal(t, "inuse_space", sampleType)
	require.NotEmpty(t, top)
	assert.Equal(t, "main.retainHeap", top[0].Function)

	_, sampleType, top, err = summarizeProfile(filepath.Join("testdata", "fixtures", "goroutine.pb.gz"), pprofcaptureextension.KindGoroutine, 2)
	require.NoError(t, err)
	assert.Equal(t, "goroutine", sampleType)
	require.Len(t, top, 2)
	assert.Equal(t, int64(30), top[0].Value)

	_, _, _, err = summarizeProfile(filepath.Join("testdata", "fixtures", "vars.json"), pprofcaptureextension.KindHeap, 2)
	assert.ErrorContains(t, err, "not a pprof profile")
}

func TestParseIndexCountsFixture(t *testing.T) {
	counts, err := parseIndexCounts(openFixture(t, "index.html"))
	require.NoError(t, err)
	assert.Equal(t, int64(61), counts["goroutine"])
	assert.Positive(t, counts["threadcreate"])
	assert.Contains(t, counts, "heap")
	assert.NotContains(t, counts, "goroutineleak", "the generator is built without GOEXPERIMENT=goroutineleakprofile")

	_, err = parseIndexCounts(strings.NewReader("<html>some other index</html>"))
	assert.ErrorContains(t, err, "no goroutine count")
}

func TestParseExpvarIdentity(t *testing.T) {
	for _, body := range []string{
		`{"memstats":{"NumGC":1},"service.name":"checkout","service.instance.id":"pod-1"}`,
		`{"memstats":{"NumGC":1},"service_name":"checkout","service_instance_id":"pod-1"}`,
	} {
		page, err := parseExpvar(strings.NewReader(body))
		require.NoError(t, err)
		assert.Equal(t, "checkout", page.ServiceName)
		assert.Equal(t, "pod-1", page.ServiceInstanceID)
	}
}
