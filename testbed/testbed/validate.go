package testbed

import (
	"fmt"
	"sort"
	"strings"
)

// maxListedIDs bounds how many lost or duplicated ids a result lists.
const maxListedIDs = 20

// SignalResult compares what was acknowledged to the generator with what reached the backend, for one signal.
type SignalResult struct {
	Signal Signal
	// Sent is the number of distinct acknowledged ids; Received the number of distinct ids that arrived.
	Sent, Received int
	// Lost counts acknowledged ids that never arrived; LostIDs lists the first of them.
	Lost    int
	LostIDs []int64
	// Duplicated counts extra copies (an id that arrived three times adds two); DuplicatedIDs lists the first.
	Duplicated    int64
	DuplicatedIDs []int64
	// Unacknowledged counts ids that arrived although the generator did not count them as sent (a timed-out
	// request that was accepted after all). They are neither lost nor duplicated.
	Unacknowledged int
}

// Result is the comparison over all signals.
type Result struct {
	Signals []SignalResult
}

// Validate compares sent ids with received ids per signal. sent may hold ids of several generators merged.
func Validate(sent, received map[Signal]*IDCounter) Result {
	var res Result
	for _, s := range AllSignals {
		sr := SignalResult{Signal: s}
		var sentIDs, recvIDs map[int64]uint32
		if c := sent[s]; c != nil {
			sentIDs = c.Snapshot()
		}
		if c := received[s]; c != nil {
			recvIDs = c.Snapshot()
		}
		sr.Sent, sr.Received = len(sentIDs), len(recvIDs)
		for id := range sentIDs {
			if recvIDs[id] == 0 {
				sr.Lost++
				sr.LostIDs = append(sr.LostIDs, id)
			}
		}
		for id, n := range recvIDs {
			if n > 1 {
				sr.Duplicated += int64(n - 1)
				sr.DuplicatedIDs = append(sr.DuplicatedIDs, id)
			}
			if _, ok := sentIDs[id]; !ok {
				sr.Unacknowledged++
			}
		}
		sr.LostIDs = firstSorted(sr.LostIDs)
		sr.DuplicatedIDs = firstSorted(sr.DuplicatedIDs)
		res.Signals = append(res.Signals, sr)
	}
	return res
}

func firstSorted(ids []int64) []int64 {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if len(ids) > maxListedIDs {
		return ids[:maxListedIDs]
	}
	return ids
}

// Sent sums Sent over signals.
func (r Result) Sent() int {
	n := 0
	for _, s := range r.Signals {
		n += s.Sent
	}
	return n
}

// Lost sums Lost over signals.
func (r Result) Lost() int {
	n := 0
	for _, s := range r.Signals {
		n += s.Lost
	}
	return n
}

// Duplicated sums Duplicated over signals.
func (r Result) Duplicated() int64 {
	var n int64
	for _, s := range r.Signals {
		n += s.Duplicated
	}
	return n
}

// String renders one line per signal with the first lost and duplicated ids.
func (r Result) String() string {
	var b strings.Builder
	for _, s := range r.Signals {
		fmt.Fprintf(&b, "%-7s sent=%d received=%d lost=%d duplicated=%d unacknowledged=%d", s.Signal, s.Sent,
			s.Received, s.Lost, s.Duplicated, s.Unacknowledged)
		if len(s.LostIDs) > 0 {
			fmt.Fprintf(&b, " lost_ids=%s", formatIDs(s.LostIDs))
		}
		if len(s.DuplicatedIDs) > 0 {
			fmt.Fprintf(&b, " duplicated_ids=%s", formatIDs(s.DuplicatedIDs))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func formatIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%d/%d", SourceOf(id), id&(1<<sourceShift-1))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// MergeSent merges the acknowledged ids of several generators per signal.
func MergeSent(gens ...*LoadGenerator) map[Signal]*IDCounter {
	out := map[Signal]*IDCounter{}
	for _, s := range AllSignals {
		c := NewIDCounter()
		for _, g := range gens {
			c.Add(g.Sent(s).SortedIDs()...)
		}
		out[s] = c
	}
	return out
}

// AllReceived reports whether the backend has every id in sent (for waiting until a pipeline drained).
func AllReceived(sent, received map[Signal]*IDCounter) bool {
	for _, s := range AllSignals {
		if sent[s] == nil || sent[s].Unique() == 0 {
			continue
		}
		// The cheap count comparison first: polling with millions of ids must not copy maps needlessly.
		if received[s] == nil || received[s].Unique() < sent[s].Unique() || !received[s].ContainsAll(sent[s]) {
			return false
		}
	}
	return true
}
