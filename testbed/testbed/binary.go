package testbed

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// EnvCollectorBinary names the environment variable that points at a prebuilt otelcol-ready binary.
const EnvCollectorBinary = "OTELCOL_READY_BIN"

// EnvSidecarCollectorBinary names the environment variable that points at a prebuilt otelcol-ready-sidecar binary
// (the slim distribution built from builder-config-sidecar.yaml).
const EnvSidecarCollectorBinary = "OTELCOL_READY_SIDECAR_BIN"

// EnvDemoAppBinary names the environment variable that points at a prebuilt demoapp binary.
const EnvDemoAppBinary = "DEMOAPP_BIN"

// EnvFaultZooBinary names the environment variable that points at a prebuilt faultzoo binary.
const EnvFaultZooBinary = "FAULTZOO_BIN"

// Binaries resolves (and when needed builds, once per test process) the binaries the scenarios run.
type Binaries struct {
	workDir string

	collectorOnce sync.Once
	collectorPath string
	collectorErr  error

	sidecarOnce sync.Once
	sidecarPath string
	sidecarErr  error

	demoOnce sync.Once
	demoPath string
	demoErr  error

	zooOnce sync.Once
	zooPath string
	zooErr  error
}

// NewBinaries returns a resolver that builds missing binaries into workDir (a TestMain temp directory).
func NewBinaries(workDir string) *Binaries {
	return &Binaries{workDir: workDir}
}

// Collector returns the otelcol-ready binary: $OTELCOL_READY_BIN when set, otherwise it runs
// `go build -o <workDir>/otelcol-ready ./distro` from the repository root once (the Go build cache makes
// repeated runs cheap apart from linking).
func (b *Binaries) Collector() (string, error) {
	b.collectorOnce.Do(func() {
		if p := os.Getenv(EnvCollectorBinary); p != "" {
			b.collectorPath, b.collectorErr = checkExecutable(p, EnvCollectorBinary)
			return
		}
		out := filepath.Join(b.workDir, "otelcol-ready")
		b.collectorErr = goBuild(out, "./distro", nil)
		b.collectorPath = out
	})
	return b.collectorPath, b.collectorErr
}

// SidecarCollector returns the slim otelcol-ready-sidecar binary: $OTELCOL_READY_SIDECAR_BIN when set, otherwise
// it runs `go build -o <workDir>/otelcol-ready-sidecar ./distro-sidecar` from the repository root once.
func (b *Binaries) SidecarCollector() (string, error) {
	b.sidecarOnce.Do(func() {
		if p := os.Getenv(EnvSidecarCollectorBinary); p != "" {
			b.sidecarPath, b.sidecarErr = checkExecutable(p, EnvSidecarCollectorBinary)
			return
		}
		out := filepath.Join(b.workDir, "otelcol-ready-sidecar")
		b.sidecarErr = goBuild(out, "./distro-sidecar", nil)
		b.sidecarPath = out
	})
	return b.sidecarPath, b.sidecarErr
}

// DemoApp returns the demo service binary: $DEMOAPP_BIN when set, otherwise it builds ./testbed/cmd/demoapp once
// with GOEXPERIMENT=goroutineleakprofile (so /debug/pprof/goroutineleak is served).
func (b *Binaries) DemoApp() (string, error) {
	b.demoOnce.Do(func() {
		if p := os.Getenv(EnvDemoAppBinary); p != "" {
			b.demoPath, b.demoErr = checkExecutable(p, EnvDemoAppBinary)
			return
		}
		out := filepath.Join(b.workDir, "demoapp")
		b.demoErr = goBuild(out, "./testbed/cmd/demoapp", []string{"GOEXPERIMENT=goroutineleakprofile"})
		b.demoPath = out
	})
	return b.demoPath, b.demoErr
}

// FaultZoo returns the fault zoo binary: $FAULTZOO_BIN when set, otherwise it builds ./testbed/cmd/faultzoo once
// with GOEXPERIMENT=goroutineleakprofile (as demoapp, so /debug/pprof/goroutineleak is served).
func (b *Binaries) FaultZoo() (string, error) {
	b.zooOnce.Do(func() {
		if p := os.Getenv(EnvFaultZooBinary); p != "" {
			b.zooPath, b.zooErr = checkExecutable(p, EnvFaultZooBinary)
			return
		}
		out := filepath.Join(b.workDir, "faultzoo")
		b.zooErr = goBuild(out, "./testbed/cmd/faultzoo", []string{"GOEXPERIMENT=goroutineleakprofile"})
		b.zooPath = out
	})
	return b.zooPath, b.zooErr
}

func checkExecutable(path, envName string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolving $%s=%q: %w", envName, path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("$%s=%q: %w (build it or unset the variable)", envName, path, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("$%s=%q is not an executable file", envName, path)
	}
	return abs, nil
}

func goBuild(out, pkg string, extraEnv []string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), extraEnv...)
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build -o %s %s: %w\n%s", out, pkg, err, output.String())
	}
	return nil
}

// RepoRoot returns the repository root (the directory holding go.mod above this source file).
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the testbed source file to find the repository root")
	}
	dir := filepath.Dir(file)
	for range 10 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("no go.mod above %s", filepath.Dir(file))
}

// RepoPath joins rel (slash-separated) to the repository root.
func RepoPath(rel string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.FromSlash(rel)), nil
}
