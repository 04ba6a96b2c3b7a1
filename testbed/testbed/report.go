package testbed

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// EnvResultsDir overrides where report rows are written.
const EnvResultsDir = "TESTBED_RESULTS_DIR"

// EnvFull selects the full scenarios (make bench) instead of the short ones (make test).
const EnvFull = "TESTBED_FULL"

// Full reports whether TESTBED_FULL asks for the full scenarios.
func Full() bool {
	v := os.Getenv(EnvFull)
	return v != "" && v != "0" && v != "false"
}

// Row is one scenario's line in the results table.
type Row struct {
	Scenario string `json:"scenario"`
	// Mode is "short" (make test) or "full" (make bench).
	Mode string `json:"mode"`
	// Transport names the sender and the collector's exporter ("otlp-grpc -> otlp").
	Transport string  `json:"transport,omitempty"`
	Items     int64   `json:"items"`
	Seconds   float64 `json:"seconds"`
	// ItemsPerSecond is items acknowledged per second of the run.
	ItemsPerSecond float64 `json:"items_per_second"`
	// CPUSeconds is the CPU time of all collector processes of the scenario; CPUSecondsPerMillion scales it.
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million_items"`
	// CPUShare is CPUSeconds divided by the run's wall time (1.0 = one core busy).
	CPUShare float64 `json:"cpu_share"`
	// PeakRSSMiB is the largest VmHWM of any collector process of the scenario.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// BytesIn is what the load generators put on the wire; BytesOut what the backend received.
	BytesIn    int64  `json:"bytes_in"`
	BytesOut   int64  `json:"bytes_out"`
	Lost       int64  `json:"lost"`
	Duplicated int64  `json:"duplicated"`
	Notes      string `json:"notes,omitempty"`
	// Time is when the row was written (UTC).
	Time string `json:"time"`
}

// Fill derives the rate, per-million and share columns from Items, Seconds and CPUSeconds.
func (r *Row) Fill() {
	if r.Seconds > 0 {
		r.ItemsPerSecond = float64(r.Items) / r.Seconds
		r.CPUShare = r.CPUSeconds / r.Seconds
	}
	if r.Items > 0 {
		r.CPUSecondsPerMillion = r.CPUSeconds / float64(r.Items) * 1e6
	}
	if r.Mode == "" {
		r.Mode = "short"
		if Full() {
			r.Mode = "full"
		}
	}
	if r.Time == "" {
		r.Time = time.Now().UTC().Format(time.RFC3339)
	}
}

// MarkdownHeader is the header of the results table.
const MarkdownHeader = "| scenario | mode | transport | items | items/s | CPU s | CPU s / M items | CPU share | peak RSS MiB | bytes in | bytes out | lost | duplicated | notes |\n" +
	"|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"

// Markdown renders the row as one table line.
func (r Row) Markdown() string {
	return fmt.Sprintf("| %s | %s | %s | %d | %.0f | %.2f | %.2f | %.2f | %.1f | %s | %s | %d | %d | %s |\n",
		r.Scenario, r.Mode, r.Transport, r.Items, r.ItemsPerSecond, r.CPUSeconds, r.CPUSecondsPerMillion,
		r.CPUShare, r.PeakRSSMiB, humanBytes(r.BytesIn), humanBytes(r.BytesOut), r.Lost, r.Duplicated,
		strings.ReplaceAll(r.Notes, "|", "/"))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// ResultsDir is where rows go: $TESTBED_RESULTS_DIR, else testbed/results in full mode. In short mode without
// the variable it returns "" and rows are only logged, so `make test` leaves the work tree clean.
func ResultsDir() (string, error) {
	if d := os.Getenv(EnvResultsDir); d != "" {
		return d, nil
	}
	if !Full() {
		return "", nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "testbed", "results"), nil
}

// rowFileName turns a scenario, mode and transport into a file name: a short run never overwrites a full one.
func rowFileName(r Row) string {
	name := r.Scenario + "_" + r.Mode
	if r.Transport != "" {
		name += "_" + r.Transport
	}
	name = strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			return c
		}
		return '_'
	}, name)
	return name
}

// WriteRow writes <name>.json and <name>.md into dir (creating it). Writes go through a temp file and a rename, so
// a crashed run never leaves half a row.
func WriteRow(dir string, r Row) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating results dir: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding row: %w", err)
	}
	base := filepath.Join(dir, rowFileName(r))
	if err := writeAtomic(base+".json", append(js, '\n')); err != nil {
		return err
	}
	return writeAtomic(base+".md", []byte(MarkdownHeader+r.Markdown()))
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	return nil
}

// ReadRows reads every *.json row in dir, sorted by scenario, then transport.
func ReadRows(dir string) ([]Row, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	rows := make([]Row, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		var r Row
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", p, err)
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Scenario != rows[j].Scenario {
			return rows[i].Scenario < rows[j].Scenario
		}
		return rows[i].Transport < rows[j].Transport
	})
	return rows, nil
}

// MarkdownTable renders rows as one table.
func MarkdownTable(rows []Row) string {
	var b strings.Builder
	b.WriteString(MarkdownHeader)
	for _, r := range rows {
		b.WriteString(r.Markdown())
	}
	return b.String()
}
