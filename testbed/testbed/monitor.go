package testbed

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicksPerSecond is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; Linux fixes it at 100 on every
// architecture Go supports.
const clockTicksPerSecond = 100

// ProcessUsage is what the monitor saw of one named process (summed over its restarts).
type ProcessUsage struct {
	Name string
	// CPUSeconds is user+system CPU time of all runs.
	CPUSeconds float64
	// PeakRSSBytes is the largest VmHWM (peak resident set) of any run.
	PeakRSSBytes int64
	// PeakAnonRSSBytes is the largest sampled RssAnon (heap, stacks: the part a memory limit governs; VmHWM also
	// counts the mapped binary). Sampled, so a short spike between samples can be missed.
	PeakAnonRSSBytes int64
	// Samples counts successful reads of /proc.
	Samples int
	// Runs counts distinct pids seen under this name.
	Runs int
}

type trackedProcess struct {
	usage ProcessUsage
	pid   int
	// cpuOfEndedRuns is the CPU time of previous pids (kept when the process restarts).
	cpuOfEndedRuns float64
	lastCPU        float64
}

// ResourceMonitor samples CPU seconds (/proc/<pid>/stat) and peak RSS (VmHWM in /proc/<pid>/status) of child
// processes by name.
type ResourceMonitor struct {
	interval time.Duration

	mu    sync.Mutex
	procs map[string]*trackedProcess

	stop chan struct{}
	done chan struct{}
}

// NewResourceMonitor starts sampling every interval (250 ms when zero); call Stop to end it.
func NewResourceMonitor(interval time.Duration) *ResourceMonitor {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	m := &ResourceMonitor{
		interval: interval,
		procs:    map[string]*trackedProcess{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go m.loop()
	return m
}

// Track starts (or, after a restart, continues) sampling pid under name.
func (m *ResourceMonitor) Track(name string, pid int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.procs[name]
	if !ok {
		p = &trackedProcess{usage: ProcessUsage{Name: name}}
		m.procs[name] = p
	}
	if p.pid != pid {
		p.cpuOfEndedRuns += p.lastCPU
		p.lastCPU = 0
		p.pid = pid
		p.usage.Runs++
	}
	m.sampleLocked(p)
}

func (m *ResourceMonitor) loop() {
	defer close(m.done)
	ticker := time.NewTicker(m.interval)
	defer ticker.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-ticker.C:
			m.SampleNow()
		}
	}
}

// SampleNow reads /proc for every tracked process immediately (call it right before killing a process so its last
// CPU seconds are counted).
func (m *ResourceMonitor) SampleNow() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.procs {
		m.sampleLocked(p)
	}
}

func (m *ResourceMonitor) sampleLocked(p *trackedProcess) {
	if p.pid == 0 {
		return
	}
	cpu, err := ReadCPUSeconds(p.pid)
	if err != nil {
		return // exited: keep the last sample
	}
	hwm, anon, err := readRSS(p.pid)
	if err != nil {
		return
	}
	if anon > p.usage.PeakAnonRSSBytes {
		p.usage.PeakAnonRSSBytes = anon
	}
	p.lastCPU = cpu
	if hwm > p.usage.PeakRSSBytes {
		p.usage.PeakRSSBytes = hwm
	}
	p.usage.Samples++
}

// Usage returns the figures of one process name.
func (m *ResourceMonitor) Usage(name string) ProcessUsage {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.procs[name]
	if !ok {
		return ProcessUsage{Name: name}
	}
	u := p.usage
	u.CPUSeconds = p.cpuOfEndedRuns + p.lastCPU
	return u
}

// All returns the figures of every tracked process, sorted by name.
func (m *ResourceMonitor) All() []ProcessUsage {
	m.mu.Lock()
	names := make([]string, 0, len(m.procs))
	for n := range m.procs {
		names = append(names, n)
	}
	m.mu.Unlock()
	sort.Strings(names)
	out := make([]ProcessUsage, 0, len(names))
	for _, n := range names {
		out = append(out, m.Usage(n))
	}
	return out
}

// Stop takes a last sample and ends the sampling goroutine.
func (m *ResourceMonitor) Stop() {
	select {
	case <-m.stop:
		return
	default:
	}
	m.SampleNow()
	close(m.stop)
	<-m.done
}

// ReadCPUSeconds returns utime+stime of pid from /proc/<pid>/stat.
func ReadCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading stat of pid %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads fields 14 (utime) and 15 (stime). The command name (field 2) may hold spaces and parentheses,
// so fields are counted after its last ')'.
func parseStatCPU(stat []byte) (float64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("malformed /proc stat: no ')'")
	}
	fields := strings.Fields(string(stat[end+1:]))
	// fields[0] is field 3 (state); utime is field 14 -> index 11, stime index 12.
	if len(fields) < 13 {
		return 0, fmt.Errorf("malformed /proc stat: %d fields after the command name", len(fields))
	}
	utime, err := strconv.ParseUint(fields[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing utime %q: %w", fields[11], err)
	}
	stime, err := strconv.ParseUint(fields[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing stime %q: %w", fields[12], err)
	}
	return float64(utime+stime) / clockTicksPerSecond, nil
}

// ReadPeakRSS returns VmHWM of pid in bytes from /proc/<pid>/status.
func ReadPeakRSS(pid int) (int64, error) {
	hwm, _, err := readRSS(pid)
	return hwm, err
}

// readRSS returns VmHWM and RssAnon of pid in bytes.
func readRSS(pid int) (hwm, anon int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("reading status of pid %d: %w", pid, err)
	}
	kb, err := parseStatusKB(b, "VmHWM:", "RssAnon:")
	if err != nil {
		return 0, 0, err
	}
	return kb[0] * 1024, kb[1] * 1024, nil
}

// parseStatusKB returns the kB values of keys in a /proc/<pid>/status text, in the order of keys.
func parseStatusKB(status []byte, keys ...string) ([]int64, error) {
	out := make([]int64, len(keys))
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		for i, key := range keys {
			if !strings.HasPrefix(line, key) {
				continue
			}
			fields := strings.Fields(line[len(key):])
			if len(fields) < 1 {
				return nil, fmt.Errorf("empty %s line in status", key)
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parsing %s %q: %w", key, fields[0], err)
			}
			out[i] = kb
			found++
		}
	}
	if found < len(keys) {
		return nil, fmt.Errorf("status lacks one of %v", keys)
	}
	return out, nil
}
