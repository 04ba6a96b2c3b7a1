package testbed

import (
	"testing"
	"time"
)

func TestReadZooLabels(t *testing.T) {
	labels, err := ReadZooLabels()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	short := map[string]bool{}
	for _, l := range labels {
		if names[l.Name] {
			t.Errorf("service %s listed twice", l.Name)
		}
		names[l.Name] = true
		if l.Short {
			short[l.Name] = true
		}
		switch l.Kind {
		case "none", "goroutine_growth", "gc_frequency", "heap_growth":
		default:
			t.Errorf("%s: unknown kind %q", l.Name, l.Kind)
		}
		if l.Healthy() && (l.Onset != 0 || len(l.Sites) > 0) {
			t.Errorf("%s: a healthy service with an onset or sites", l.Name)
		}
	}
	// The short run (make test): the healthy shapes and the fast faults.
	for _, want := range []string{"healthy-wander", "healthy-bursts", "healthy-rampup", "healthy-gcsawtooth",
		"leak-chansend", "leak-mutex", "leak-httpbody", "gcstorm-gogc"} {
		if !short[want] {
			t.Errorf("%s is not in the short run", want)
		}
	}
	if len(short) != 8 || len(labels) != 13 {
		t.Errorf("%d services, %d of them short; want 13 and 8", len(labels), len(short))
	}
	for _, l := range labels {
		if l.Name == "healthy-restart" && l.RestartAfter != 6*time.Minute {
			t.Errorf("healthy-restart restarts after %s, want 6m", l.RestartAfter)
		}
	}
}
