package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

type site struct {
	function string
	file     string
	line     int64
}

// siteOf returns the first frame of a sample outside the runtime, or the leaf frame when every frame is runtime's.
func siteOf(s *profile.Sample) site {
	var leaf site
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			if ln.Function == nil {
				continue
			}
			cur := site{function: ln.Function.Name, file: ln.Function.Filename, line: ln.Line}
			if leaf.function == "" {
				leaf = cur
			}
			if !isRuntimeFunction(cur.function) {
				return cur
			}
		}
	}
	if leaf.function == "" {
		leaf.function = "(unknown)"
	}
	return leaf
}

// readProfile parses and validates a protobuf (gzipped or not) profile file.
func readProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("not a pprof profile: %w", err)
	}
	if err := p.CheckValid(); err != nil {
		return nil, fmt.Errorf("invalid pprof profile: %w", err)
	}
	return p, nil
}

func sampleIndex(p *profile.Profile, preferred string) (int, error) {
	for i, st := range p.SampleType {
		if st.Type == preferred {
			return i, nil
		}
	}
	if preferred == "" && len(p.SampleType) > 0 {
		return len(p.SampleType) - 1, nil
	}
	return 0, fmt.Errorf("profile has no %q sample type", preferred)
}

// valuesBySite sums the chosen sample type per site.
func valuesBySite(p *profile.Profile, idx int) map[site]int64 {
	out := map[site]int64{}
	for _, s := range p.Sample {
		out[siteOf(s)] += s.Value[idx]
	}
	return out
}

// topEntries ranks sites by value; with positiveOnly, sites whose value did not grow are left out.
func topEntries(values map[site]int64, n int, positiveOnly bool) []pprofcaptureextension.SummaryEntry {
	entries := make([]pprofcaptureextension.SummaryEntry, 0, len(values))
	for s, v := range values {
		if v == 0 || (positiveOnly && v < 0) {
			continue
		}
		entries = append(entries, pprofcaptureextension.SummaryEntry{Function: s.function, File: s.file, Line: s.line, Value: v})
	}
	sortEntries(entries)
	if len(entries) > n {
		entries = entries[:n]
	}
	return entries
}

func sortEntries(entries []pprofcaptureextension.SummaryEntry) {
	slices.SortFunc(entries, func(a, b pprofcaptureextension.SummaryEntry) int {
		switch {
		case a.Value > b.Value:
			return -1
		case a.Value < b.Value:
			return 1
		}
		return strings.Compare(a.Function+a.File, b.Function+b.File)
	})
}

// summarizeProfile validates a protobuf profile and ranks its sites by the sample type that matters for the kind.
func summarizeProfile(path string, kind pprofcaptureextension.Kind, n int) (*profile.Profile, string, []pprofcaptureextension.SummaryEntry, error) {
	p, err := readProfile(path)
	if err != nil {
		return nil, "", nil, err
	}
	preferred := ""
	switch kind {
	case pprofcaptureextension.KindHeap:
		preferred = "inuse_space"
	case pprofcaptureextension.KindCPU:
		preferred = "cpu"
	case pprofcaptureextension.KindGoroutine, pprofcaptureextension.KindGoroutineDelta, pprofcaptureextension.KindGoroutineLeak:
		preferred = "goroutine"
	}
	idx, err := sampleIndex(p, preferred)
	if err != nil {
		return nil, "", nil, err
	}
	// A delta profile lists shrinking stacks as negative values: only growth points at a leak.
	positiveOnly := kind == pprofcaptureextension.KindGoroutineDelta
	return p, p.SampleType[idx].Type, topEntries(valuesBySite(p, idx), n, positiveOnly), nil
}

// heapGrowth lists the allocation sites whose in-use bytes grew from before to after.
func heapGrowth(before, after *profile.Profile, n int) []pprofcaptureextension.SummaryEntry {
	bi, err1 := sampleIndex(before, "inuse_space")
	ai, err2 := sampleIndex(after, "inuse_space")
	if err1 != nil || err2 != nil {
		return nil
	}
	b, a := valuesBySite(before, bi), valuesBySite(after, ai)
	var entries []pprofcaptureextension.SummaryEntry
	for s, av := range a {
		bv := b[s]
		if av > bv {
			entries = append(entries, pprofcaptureextension.SummaryEntry{
				Function: s.function, File: s.file, Line: s.line, Value: av - bv, Before: bv, After: av,
			})
		}
	}
	sortEntries(entries)
	if len(entries) > n {
		entries = entries[:n]
	}
	return entries
}

// summarizeGoroutineDump validates goroutine?debug=2 text and counts goroutines per first non-runtime frame.
func summarizeGoroutineDump(r io.Reader, n int) ([]pprofcaptureextension.SummaryEntry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	counts := map[site]int64{}
	var (
		inGoroutine, found bool
		pendingFn          string
		leaf               site
		goroutines         int
	)
	finish := func() {
		if inGoroutine {
			if !found && leaf.function != "" {
				counts[leaf]++
			}
			goroutines++
		}
		inGoroutine, found, pendingFn, leaf = false, false, "", site{}
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":"):
			finish()
			inGoroutine = true
		case line == "":
			finish()
		case !inGoroutine || found:
		case strings.HasPrefix(line, "\t"):
			// "\t/path/file.go:123 +0x1d" follows its function line.
			if pendingFn == "" {
				continue
			}
			loc := strings.TrimSpace(line)
			if i := strings.LastIndex(loc, " +0x"); i > 0 {
				loc = loc[:i]
			}
			file, lineStr := loc, ""
			if i := strings.LastIndex(loc, ":"); i > 0 {
				file, lineStr = loc[:i], loc[i+1:]
			}
			lineNo, _ := strconv.ParseInt(lineStr, 10, 64)
			cur := site{function: pendingFn, file: file, line: lineNo}
			if leaf.function == "" {
				leaf = cur
			}
			if !isRuntimeFunction(pendingFn) {
				counts[cur]++
				found = true
			}
			pendingFn = ""
		case strings.HasPrefix(line, "created by "):
			pendingFn = ""
		default:
			// "pkg.fn(args...)"
			fn := line
			if i := strings.LastIndex(fn, "("); i > 0 {
				fn = fn[:i]
			}
			pendingFn = fn
		}
	}
	finish()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if goroutines == 0 {
		return nil, errors.New("not a goroutine dump: no 'goroutine N [state]:' header")
	}
	return topEntries(counts, n, false), nil
}

// formatSummary renders entries for a log record.
func formatSummary(entries []pprofcaptureextension.SummaryEntry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		loc := e.File
		if e.Line > 0 {
			loc += ":" + strconv.FormatInt(e.Line, 10)
		}
		if e.Before != 0 || e.After != 0 {
			out = append(out, fmt.Sprintf("%s %s grew %d (%d -> %d)", e.Function, loc, e.Value, e.Before, e.After))
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %d", e.Function, loc, e.Value))
	}
	return out
}
