package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strconv"
	"strings"
)

// memStats holds the runtime.MemStats fields the receiver emits.
type memStats struct {
	Sys           uint64  `json:"Sys"`
	HeapReleased  uint64  `json:"HeapReleased"`
	TotalAlloc    uint64  `json:"TotalAlloc"`
	Mallocs       uint64  `json:"Mallocs"`
	NextGC        uint64  `json:"NextGC"`
	NumGC         uint32  `json:"NumGC"`
	PauseTotalNs  uint64  `json:"PauseTotalNs"`
	GCCPUFraction float64 `json:"GCCPUFraction"`
	HeapInuse     uint64  `json:"HeapInuse"`
	HeapAlloc     uint64  `json:"HeapAlloc"`
	HeapSys       uint64  `json:"HeapSys"`
	HeapObjects   uint64  `json:"HeapObjects"`

	// hasPauseTotal is false when PauseTotalNs could not be known (heap?debug=1 after more than 256 GCs).
	hasPauseTotal bool
}

// countersWentDown reports whether a cumulative counter is lower than in prev: the process restarted.
func (m *memStats) countersWentDown(prev *memStats) bool {
	return m.TotalAlloc < prev.TotalAlloc || m.Mallocs < prev.Mallocs || m.NumGC < prev.NumGC ||
		(m.hasPauseTotal && prev.hasPauseTotal && m.PauseTotalNs < prev.PauseTotalNs)
}

// expvarPage is the part of /debug/vars the receiver reads. A service may publish its identity as the expvar
// strings "service.name" and "service.instance.id" (or "service_name" and "service_instance_id").
type expvarPage struct {
	MemStats          *memStats `json:"memstats"`
	ServiceName       string    `json:"service.name"`
	ServiceInstanceID string    `json:"service.instance.id"`
	ServiceNameAlt    string    `json:"service_name"`
	InstanceIDAlt     string    `json:"service_instance_id"`
}

var errNoMemStats = errors.New("no memstats variable in expvar page")

func parseExpvar(r io.Reader) (expvarPage, error) {
	var page expvarPage
	if err := json.NewDecoder(r).Decode(&page); err != nil {
		return expvarPage{}, fmt.Errorf("expvar page is not JSON: %w", err)
	}
	if page.ServiceName == "" {
		page.ServiceName = page.ServiceNameAlt
	}
	if page.ServiceInstanceID == "" {
		page.ServiceInstanceID = page.InstanceIDAlt
	}
	if page.MemStats == nil {
		return page, errNoMemStats
	}
	page.MemStats.hasPauseTotal = true
	return page, nil
}

var memStatsMarker = []byte("# runtime.MemStats")

// parseHeapMemStats reads the "# runtime.MemStats" section at the end of heap?debug=1. That page shows the last 256
// GC pauses but not PauseTotalNs; the total is their sum only while NumGC <= 256.
func parseHeapMemStats(r io.Reader) (memStats, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var m memStats
	inSection, seen := false, 0
	var pauses []uint64
	for sc.Scan() {
		line := sc.Bytes()
		if !inSection {
			inSection = bytes.HasPrefix(line, memStatsMarker)
			continue
		}
		key, value, ok := strings.Cut(strings.TrimPrefix(string(line), "# "), " = ")
		if !ok {
			continue
		}
		var err error
		switch key {
		case "Sys":
			m.Sys, err = strconv.ParseUint(value, 10, 64)
		case "HeapReleased":
			m.HeapReleased, err = strconv.ParseUint(value, 10, 64)
		case "TotalAlloc":
			m.TotalAlloc, err = strconv.ParseUint(value, 10, 64)
		case "Mallocs":
			m.Mallocs, err = strconv.ParseUint(value, 10, 64)
		case "NextGC":
			m.NextGC, err = strconv.ParseUint(value, 10, 64)
		case "NumGC":
			var n uint64
			n, err = strconv.ParseUint(value, 10, 32)
			m.NumGC = uint32(n)
		case "GCCPUFraction":
			m.GCCPUFraction, err = strconv.ParseFloat(value, 64)
		case "HeapInuse":
			m.HeapInuse, err = strconv.ParseUint(value, 10, 64)
		case "HeapAlloc":
			m.HeapAlloc, err = strconv.ParseUint(value, 10, 64)
		case "HeapSys":
			m.HeapSys, err = strconv.ParseUint(value, 10, 64)
		case "HeapObjects":
			m.HeapObjects, err = strconv.ParseUint(value, 10, 64)
		case "PauseNs":
			pauses, err = parseUintList(value)
		default:
			continue
		}
		if err != nil {
			return memStats{}, fmt.Errorf("heap?debug=1: MemStats field %s: %w", key, err)
		}
		seen++
	}
	if err := sc.Err(); err != nil {
		return memStats{}, fmt.Errorf("heap?debug=1: %w", err)
	}
	if !inSection || seen < 11 {
		return memStats{}, errors.New("heap?debug=1: no complete '# runtime.MemStats' section")
	}
	if m.NumGC <= uint32(len(pauses)) {
		for _, p := range pauses {
			m.PauseTotalNs += p
		}
		m.hasPauseTotal = true
	}
	return m, nil
}

// parseUintList parses "[1 2 3]".
func parseUintList(s string) ([]uint64, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	fields := strings.Fields(s)
	out := make([]uint64, 0, len(fields))
	for _, f := range fields {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// parseProfileTotal reads only the first line of a debug=1 profile, "<name> profile: total N".
func parseProfileTotal(r io.Reader, name string) (int64, error) {
	br := bufio.NewReaderSize(r, 256)
	line, err := br.ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, fmt.Errorf("%s: first line is not a profile header", name)
		}
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	rest, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte(name+" profile: total "))
	if !ok {
		return 0, fmt.Errorf("%s: first line %q is not %q", name, truncate(string(line), 80), name+" profile: total N")
	}
	total, err := strconv.ParseInt(string(rest), 10, 64)
	if err != nil || total < 0 {
		return 0, fmt.Errorf("%s: bad total %q", name, truncate(string(rest), 40))
	}
	return total, nil
}

// stackGroup is one grouped stack of goroutine?debug=1.
type stackGroup struct {
	Count int64
	// Function is the owner of the stack (see ownerOf) and Entry the function its goroutines were started with.
	Function string
	Entry    string
	ID       string // short hash of the whole stack
}

// parseGoroutineStacks reads goroutine?debug=1 and returns the total and every stack group, largest first. Groups
// that differ only by pprof labels are merged.
func parseGoroutineStacks(r io.Reader) (int64, []stackGroup, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return 0, nil, fmt.Errorf("goroutine: %w", err)
		}
		return 0, nil, errors.New("goroutine: empty body")
	}
	total, err := parseProfileTotal(strings.NewReader(sc.Text()+"\n"), "goroutine")
	if err != nil {
		return 0, nil, err
	}
	groups := map[uint64]*stackGroup{}
	var (
		count   int64
		inGroup bool
		frames  []frame
		hash    = fnv.New64a()
	)
	flush := func() {
		if !inGroup {
			return
		}
		sum := hash.Sum64()
		if g, ok := groups[sum]; ok {
			g.Count += count
		} else {
			owner := ownerOf(frames, goroutineStacks)
			groups[sum] = &stackGroup{Count: count, Function: owner.function, Entry: owner.entry, ID: fmt.Sprintf("%016x", sum)}
		}
		inGroup, frames = false, frames[:0]
		hash.Reset()
	}
	var summed int64
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			flush()
		case line[0] >= '0' && line[0] <= '9':
			flush()
			n, _, ok := bytes.Cut(line, []byte(" @ "))
			if !ok {
				return 0, nil, fmt.Errorf("goroutine: bad group header %q", truncate(string(line), 80))
			}
			count, err = strconv.ParseInt(string(n), 10, 64)
			if err != nil || count < 0 {
				return 0, nil, fmt.Errorf("goroutine: bad group count %q", truncate(string(n), 40))
			}
			summed += count
			inGroup = true
		case bytes.HasPrefix(line, []byte("#\t")) && inGroup:
			// "#\t0x4a3b2e\tpkg.fn+0x2e\t/path/file.go:123"
			// tabwriter aligns the columns with runs of tabs.
			fields := bytes.FieldsFunc(line, func(r rune) bool { return r == '\t' })
			if len(fields) < 4 {
				continue
			}
			fn := string(fields[2])
			if i := strings.LastIndex(fn, "+0x"); i > 0 {
				fn = fn[:i]
			}
			hash.Write([]byte(fn))
			hash.Write(fields[3])
			hash.Write([]byte{0})
			file, line := splitFileLine(string(fields[3]))
			frames = append(frames, frame{function: fn, file: file, line: line})
		}
	}
	if err := sc.Err(); err != nil {
		return 0, nil, fmt.Errorf("goroutine: %w", err)
	}
	flush()
	if summed != total && len(groups) > 0 {
		// The header and the groups are written from one snapshot; a mismatch means a cut or foreign body.
		return 0, nil, fmt.Errorf("goroutine: groups add up to %d, header says %d", summed, total)
	}
	out := make([]stackGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b stackGroup) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return total, out, nil
}

// parseContentionCount sums the event counts of a mutex or block profile in debug=1 form:
// "<cycles> <count> @ <pcs>" lines after a "--- mutex:" or "--- contention:" header.
func parseContentionCount(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var total int64
	header := false
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte("--- ")) {
			header = true
			continue
		}
		if len(line) == 0 || line[0] < '0' || line[0] > '9' {
			continue
		}
		fields := bytes.Fields(line)
		if len(fields) < 3 || string(fields[2]) != "@" {
			continue
		}
		n, err := strconv.ParseInt(string(fields[1]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("contention profile: bad count %q", truncate(string(fields[1]), 40))
		}
		total += n
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("contention profile: %w", err)
	}
	if !header {
		return 0, errors.New("contention profile: no '--- ' header")
	}
	return total, nil
}

// splitFileLine splits "/path/file.go:123" (debug=1 and debug=2 frame locations).
func splitFileLine(loc string) (string, int64) {
	i := strings.LastIndexByte(loc, ':')
	if i <= 0 {
		return loc, 0
	}
	line, err := strconv.ParseInt(loc[i+1:], 10, 64)
	if err != nil {
		return loc, 0
	}
	return loc[:i], line
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

var (
	indexRowPrefix = []byte("<tr><td>")
	indexCountEnd  = []byte("</td><td><a href='")
)

// parseIndexCounts reads the counts table of the net/http/pprof index page:
// "<tr><td>12</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>".
func parseIndexCounts(r io.Reader) (map[string]int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 16<<10), 64<<10)
	counts := map[string]int64{}
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), indexRowPrefix)
		if !ok {
			continue
		}
		count, rest, ok := bytes.Cut(rest, indexCountEnd)
		if !ok {
			continue
		}
		_, rest, ok = bytes.Cut(rest, []byte("'>"))
		if !ok {
			continue
		}
		name, _, ok := bytes.Cut(rest, []byte("</a>"))
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(string(count), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("pprof index: bad count %q for %q", truncate(string(count), 40), truncate(string(name), 40))
		}
		counts[string(name)] = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pprof index: %w", err)
	}
	if _, ok := counts["goroutine"]; !ok {
		return nil, errors.New("pprof index: no goroutine count (not a net/http/pprof index page)")
	}
	return counts, nil
}
