package testbed

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// zooListeningPrefix starts the single line faultzoo prints on stdout once it serves.
const zooListeningPrefix = "faultzoo listening on "

// ZooLabel is one service of testbed/cmd/faultzoo/labels.yaml: what the readiness processor should report for it.
type ZooLabel struct {
	Name  string        `yaml:"name"`
	Shape string        `yaml:"shape"`
	Onset time.Duration `yaml:"onset"`
	// Kind is the expected rule kind: goroutine_growth, gc_frequency, heap_growth, or "none".
	Kind                 string   `yaml:"kind"`
	TargetLatencySeconds float64  `yaml:"target_latency_seconds"`
	Sites                []string `yaml:"sites"`
	// AlsoKinds are rule kinds that may fire too, as a consequence of the fault (leaked HTTP connections hold
	// their buffers: the heap grows with the goroutines).
	AlsoKinds    []string      `yaml:"also_kinds"`
	Short        bool          `yaml:"short"`
	RestartAfter time.Duration `yaml:"restart_after"`
}

// Healthy reports whether the service must never be flagged.
func (l ZooLabel) Healthy() bool { return l.Kind == "none" }

// ReadZooLabels reads testbed/cmd/faultzoo/labels.yaml.
func ReadZooLabels() ([]ZooLabel, error) {
	path, err := RepoPath("testbed/cmd/faultzoo/labels.yaml")
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading zoo labels: %w", err)
	}
	var doc struct {
		Services []ZooLabel `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	for _, l := range doc.Services {
		if l.Name == "" || l.Shape == "" || l.Kind == "" {
			return nil, fmt.Errorf("%s: service %+v lacks a name, shape or kind", path, l)
		}
		if !l.Healthy() && (l.TargetLatencySeconds <= 0 || len(l.Sites) == 0) {
			return nil, fmt.Errorf("%s: fault %s lacks target_latency_seconds or sites", path, l.Name)
		}
	}
	return doc.Services, nil
}

// FaultZoo is one running testbed/cmd/faultzoo service; Restart kills it and starts it again on the same port.
type FaultZoo struct {
	tb      testing.TB
	bin     string
	label   ZooLabel
	args    []string
	addr    string
	logPath string

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	startedAt time.Time // of the current process
	firstAt   time.Time // of the first process
}

// StartFaultZoo runs the label's shape on 127.0.0.1:port (a FreePort) with the label's onset and the given seed.
// lifetime is passed as -duration so the process ends by itself even if the test binary is killed hard; it is also
// killed in t.Cleanup.
func StartFaultZoo(tb testing.TB, bin string, label ZooLabel, port int, seed uint64, lifetime time.Duration) *FaultZoo {
	tb.Helper()
	z := &FaultZoo{
		tb: tb, bin: bin, label: label,
		addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		logPath: filepath.Join(tb.TempDir(), label.Name+".log"),
	}
	z.args = []string{"-listen", z.addr, "-shape", label.Shape, "-onset", label.Onset.String(),
		"-seed", strconv.FormatUint(seed, 10), "-duration", lifetime.String()}
	tb.Cleanup(func() {
		z.Kill()
		if tb.Failed() {
			b, _ := os.ReadFile(z.logPath)
			tb.Logf("faultzoo %s stderr:\n%s", label.Name, tailString(string(b), 4<<10))
		}
	})
	if err := z.start(); err != nil {
		tb.Fatal(err)
	}
	z.firstAt = z.startedAt
	return z
}

func (z *FaultZoo) start() error {
	logFile, err := os.OpenFile(z.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("faultzoo %s log: %w", z.label.Name, err)
	}
	cmd := exec.Command(z.bin, z.args...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return fmt.Errorf("faultzoo stdout: %w", err)
	}
	startedAt := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting faultzoo %s: %w", z.label.Name, err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	z.mu.Lock()
	z.cmd, z.exited, z.startedAt = cmd, exited, startedAt
	z.mu.Unlock()
	select {
	case line, ok := <-lines:
		if !ok || line != zooListeningPrefix+z.addr {
			return fmt.Errorf("faultzoo %s printed %q instead of %q", z.label.Name, line, zooListeningPrefix+z.addr)
		}
	case <-time.After(30 * time.Second):
		return fmt.Errorf("faultzoo %s did not print its listening line within 30s", z.label.Name)
	}
	return nil
}

// Label returns the service's label; Addr its host:port; LogPath its stderr.
func (z *FaultZoo) Label() ZooLabel       { return z.label }
func (z *FaultZoo) Addr() string          { return z.addr }
func (z *FaultZoo) LogPath() string       { return z.logPath }
func (z *FaultZoo) FirstStart() time.Time { return z.firstAt }

// StartedAt returns when the current process was started.
func (z *FaultZoo) StartedAt() time.Time {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.startedAt
}

// faultOnsetLine matches the zoo's "fault onset" log record (slog text format).
var faultOnsetLine = regexp.MustCompile(`(?m)^time=(\S+) level=INFO msg="fault onset"`)

// OnsetAt returns when the fault started: the time of the first process's "fault onset" log record, or its start
// plus the onset when the record is not there (yet).
func (z *FaultZoo) OnsetAt() time.Time {
	if b, err := os.ReadFile(z.logPath); err == nil {
		if m := faultOnsetLine.FindSubmatch(b); m != nil {
			if t, err := time.Parse(time.RFC3339Nano, string(m[1])); err == nil {
				return t
			}
		}
	}
	return z.firstAt.Add(z.label.Onset)
}

// Kill kills the process group and waits for the exit.
func (z *FaultZoo) Kill() {
	z.mu.Lock()
	cmd, exited := z.cmd, z.exited
	z.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		z.tb.Errorf("faultzoo %s (pid %d) did not exit 15 s after SIGKILL", z.label.Name, cmd.Process.Pid)
	}
}

// Restart kills the process (a crash, not a graceful stop) and starts it again on the same port.
func (z *FaultZoo) Restart() error {
	z.Kill()
	var err error
	// The port was just released by a killed process; a few retries cover a slow socket teardown.
	for range 5 {
		if err = z.start(); err == nil || !strings.Contains(err.Error(), "printed") {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return err
}
