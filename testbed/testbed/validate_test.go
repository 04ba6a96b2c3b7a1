package testbed

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	sent := map[Signal]*IDCounter{Traces: NewIDCounter(), Logs: NewIDCounter()}
	sent[Traces].Add(1, 2, 3, 4)
	sent[Logs].Add(10, 11)
	recv := map[Signal]*IDCounter{Traces: NewIDCounter(), Logs: NewIDCounter(), Metrics: NewIDCounter()}
	recv[Traces].Add(1, 2, 2, 2, 4, 99) // 3 lost, 2 arrived thrice, 99 never acknowledged
	recv[Logs].Add(10, 11)

	res := Validate(sent, recv)
	if res.Lost() != 1 || res.Duplicated() != 2 || res.Sent() != 6 {
		t.Errorf("lost %d duplicated %d sent %d; want 1, 2, 6", res.Lost(), res.Duplicated(), res.Sent())
	}
	tr := res.Signals[0]
	if tr.Signal != Traces || len(tr.LostIDs) != 1 || tr.LostIDs[0] != 3 || tr.DuplicatedIDs[0] != 2 || tr.Unacknowledged != 1 {
		t.Errorf("traces result %+v", tr)
	}
	if !strings.Contains(res.String(), "lost_ids=[0/3]") {
		t.Errorf("String() lacks the lost id:\n%s", res)
	}
	if AllReceived(sent, recv) {
		t.Error("AllReceived with id 3 missing")
	}
	recv[Traces].Add(3)
	if !AllReceived(sent, recv) {
		t.Error("AllReceived false with every id present")
	}
}

func TestValidateListsAtMostTwentyIDs(t *testing.T) {
	sent := map[Signal]*IDCounter{Logs: NewIDCounter()}
	for i := range int64(100) {
		sent[Logs].Add(i)
	}
	res := Validate(sent, map[Signal]*IDCounter{})
	lr := res.Signals[2]
	if lr.Lost != 100 || len(lr.LostIDs) != maxListedIDs || lr.LostIDs[0] != 0 {
		t.Errorf("logs result lost %d, listed %d first %v", lr.Lost, len(lr.LostIDs), lr.LostIDs[:1])
	}
}
