package testbed

import (
	"os"
	"os/exec"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    float64
		wantErr bool
	}{
		{"plain", "1234 (otelcol) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0", 3.0, false},
		{"name with spaces and parens", "1234 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0", 0.1, false},
		{"truncated", "1234 (x) S 1 2 3", 0, true},
		{"no parens", "1234 x S", 0, true},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 a 3 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\totelcol\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nRssAnon:\t   51200 kB\n"
	got, err := parseStatusKB([]byte(status), "VmHWM:", "RssAnon:")
	if err != nil || got[0] != 204800 || got[1] != 51200 {
		t.Errorf("parseStatusKB = %v, %v", got, err)
	}
	if _, err := parseStatusKB([]byte("Name:\tx\n"), "VmHWM:"); err == nil {
		t.Error("a status without VmHWM was accepted")
	}
}

func TestResourceMonitorAddsUpRestarts(t *testing.T) {
	m := NewResourceMonitor(0)
	defer m.Stop()
	m.Track("p", os.Getpid())
	first := m.Usage("p")
	if first.Samples == 0 || first.PeakRSSBytes == 0 || first.PeakAnonRSSBytes == 0 {
		t.Fatalf("no sample of the test process: %+v", first)
	}
	// A second "run" under the same name: a short-lived child.
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	m.Track("p", cmd.Process.Pid)
	u := m.Usage("p")
	if u.Runs != 2 {
		t.Errorf("Runs = %d, want 2", u.Runs)
	}
	if u.CPUSeconds < first.CPUSeconds {
		t.Errorf("CPU of the first run was dropped on restart: %v < %v", u.CPUSeconds, first.CPUSeconds)
	}
	if got := m.All(); len(got) != 1 || got[0].Name != "p" {
		t.Errorf("All = %+v", got)
	}
	if _, err := ReadCPUSeconds(-1); err == nil {
		t.Error("reading a non-existent pid succeeded")
	}
}
