package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	startTimeout = 15 * time.Second
	stopTimeout  = 20 * time.Second
	pollTimeout  = 15 * time.Second
	pollEvery    = 50 * time.Millisecond
	// processLifetime is passed as -duration so a crashed test cannot leave demoapp running.
	processLifetime = "90s"
)

// demoappProcess is one running demoapp binary.
type demoappProcess struct {
	t       *testing.T
	baseURL string
	client  *http.Client
	cmd     *exec.Cmd
	stdout  *lineWriter
	stderr  *lineWriter
	exited  chan struct{}
	waitErr error
}

// startDemoapp runs the binary on a free loopback port and waits for its listening line.
// Cleanup stops it with SIGTERM and checks that it exited cleanly.
func startDemoapp(t *testing.T, binary string, args ...string) *demoappProcess {
	t.Helper()
	args = append([]string{"-listen", "127.0.0.1:0", "-duration", processLifetime}, args...)
	p := &demoappProcess{
		t:      t,
		client: &http.Client{Timeout: 10 * time.Second},
		cmd:    exec.Command(binary, args...),
		stdout: newLineWriter(),
		stderr: newLineWriter(),
		exited: make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting demoapp: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stopAndCheck)

	select {
	case <-p.stdout.firstLine:
	case <-p.exited:
		t.Fatalf("demoapp exited before listening: %v\nstderr:\n%s", p.waitErr, p.stderr)
	case <-time.After(startTimeout):
		t.Fatalf("demoapp printed no listening line within %s\nstderr:\n%s", startTimeout, p.stderr)
	}
	addr, ok := strings.CutPrefix(p.stdout.first(), "demoapp listening on ")
	if !ok {
		t.Fatalf("first stdout line = %q, want \"demoapp listening on <host:port>\"", p.stdout.first())
	}
	p.baseURL = "http://" + addr
	return p
}

// stop sends SIGTERM and waits for the exit; it returns the exit error.
func (p *demoappProcess) stop() error {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.waitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("demoapp did not stop within %s of SIGTERM; killed it", stopTimeout)
	}
	return p.waitErr
}

func (p *demoappProcess) stopAndCheck() {
	p.client.CloseIdleConnections()
	if err := p.stop(); err != nil {
		p.t.Errorf("demoapp exited with %v\nstderr:\n%s", err, p.stderr)
	}
	if lines := p.stdout.lines(); len(lines) != 1 {
		p.t.Errorf("demoapp wrote %d stdout lines %q, want exactly the listening line", len(lines), lines)
	}
}

// get returns the status and body of a GET.
func (p *demoappProcess) get(path string) (int, string) {
	p.t.Helper()
	return p.do(http.MethodGet, path)
}

func (p *demoappProcess) do(method, path string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.baseURL+path, nil)
	if err != nil {
		p.t.Fatalf("building request: %v", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v\nstderr:\n%s", method, path, err, p.stderr)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("reading %s %s: %v", method, path, err)
	}
	return resp.StatusCode, string(body)
}

// mustGet fails the test unless the GET answers 200.
func (p *demoappProcess) mustGet(path string) string {
	p.t.Helper()
	status, body := p.get(path)
	if status != http.StatusOK {
		p.t.Fatalf("GET %s = %d %q, want 200", path, status, body)
	}
	return body
}

// control posts to /control/<knob>?<query>, requires 200 and returns the new state.
func (p *demoappProcess) control(knob, query string) knobState {
	p.t.Helper()
	path := "/control/" + knob + "?" + query
	status, body := p.do(http.MethodPost, path)
	if status != http.StatusOK {
		p.t.Fatalf("POST %s = %d %q, want 200", path, status, body)
	}
	return decodeState(p.t, body)
}

func (p *demoappProcess) state() knobState {
	p.t.Helper()
	return decodeState(p.t, p.mustGet("/control/state"))
}

func decodeState(t *testing.T, body string) knobState {
	t.Helper()
	var s knobState
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("decoding state %q: %v", body, err)
	}
	return s
}

// goroutineProfile fetches /debug/pprof/goroutine?debug=1 (or another profile's debug=1 text).
func (p *demoappProcess) profileText(name string) string {
	p.t.Helper()
	return p.mustGet("/debug/pprof/" + name + "?debug=1")
}

// memStat reads one field of the "# runtime.MemStats" section of heap?debug=1.
func (p *demoappProcess) memStat(field string) int64 {
	p.t.Helper()
	return memStatField(p.t, p.profileText("heap"), field)
}

func memStatField(t *testing.T, heapText, field string) int64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^# ` + regexp.QuoteMeta(field) + ` = (\d+)$`).FindStringSubmatch(heapText)
	if m == nil {
		t.Fatalf("heap?debug=1 has no MemStats field %s", field)
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		t.Fatalf("MemStats %s = %q: %v", field, m[1], err)
	}
	return v
}

var profileTotal = regexp.MustCompile(`^(\w+) profile: total (\d+)`)

// profileTotalCount reads "<name> profile: total N" from the first line of a debug=1 profile.
func profileTotalCount(t *testing.T, text string) int {
	t.Helper()
	m := profileTotal.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("profile does not start with \"<name> profile: total N\": %.200q", text)
	}
	n, _ := strconv.Atoi(m[2]) // \d+ matched
	return n
}

// stackRecordHeader matches a debug=1 record header: "N @ pcs" (goroutine) or
// "N: bytes [N: bytes] @ pcs" (heap).
var stackRecordHeader = regexp.MustCompile(`^(\d+)(?: @|:)`)

// stackCount sums the counts of the debug=1 stack records whose frames include function fn.
func stackCount(text, fn string) int {
	total, count, counted := 0, 0, false
	for line := range strings.SplitSeq(text, "\n") {
		if m := stackRecordHeader.FindStringSubmatch(line); m != nil {
			count, _ = strconv.Atoi(m[1]) // \d+ matched
			counted = false
			continue
		}
		if !counted && strings.HasPrefix(line, "#\t") && strings.Contains(line, "\t"+fn+"+") {
			total += count
			counted = true
		}
	}
	return total
}

// eventually polls check until it reports true or pollTimeout passes.
func eventually(t *testing.T, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		ok, detail := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last: %s", what, pollTimeout, detail)
		}
		time.Sleep(pollEvery)
	}
}

// lineWriter collects a child's output and signals its first complete line.
type lineWriter struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	firstLine chan struct{}
	signalled bool
}

func newLineWriter() *lineWriter { return &lineWriter{firstLine: make(chan struct{})} }

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(b)
	if !w.signalled && bytes.Contains(w.buf.Bytes(), []byte("\n")) {
		w.signalled = true
		close(w.firstLine)
	}
	return n, err
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *lineWriter) first() string {
	line, _, _ := strings.Cut(w.String(), "\n")
	return line
}

func (w *lineWriter) lines() []string {
	return strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
}

// exitCode reports the process's exit code from a Wait error.
func exitCode(err error) int {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
