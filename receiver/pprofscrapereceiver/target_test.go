package pprofscrapereceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestCostlyReadsAreDueDespiteJitter(t *testing.T) {
	cfg := createDefaultConfig().(*Config) // collection_interval 30s
	tg := &target{rcfg: cfg}
	last := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		elapsed time.Duration
		want    bool
	}{
		{elapsed: 30 * time.Second, want: false},
		{elapsed: 59*time.Second + 900*time.Millisecond, want: true}, // the second scrape, a little early
		{elapsed: 60 * time.Second, want: true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tg.due(last.Add(tt.elapsed), last, time.Minute), tt.elapsed)
	}
	assert.True(t, tg.due(last, time.Time{}, time.Hour), "never read: due")
}
