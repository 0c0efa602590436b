package killtask

import "time"

// Observer receives the engine's measurements (metrics hook). Methods are
// called from the pollers and killers and must not block.
type Observer interface {
	// PollDone reports one processlist read of a node and its duration.
	PollDone(instanceID, nodeID string, d time.Duration, err error)
	// Killed reports one task kill attempt and its reaction time: from the
	// start of the poll that saw the session to the KILL's return.
	Killed(instanceID, nodeID string, outcome Outcome, reaction time.Duration)
	// HistoryWritten reports rows committed to the kill history.
	HistoryWritten(rows int)
	// KillFailed reports a failed KILL (task, manual or intelligent) and
	// its reason: FailDenied, FailTimeout, FailConnection or FailOther.
	KillFailed(instanceID, nodeID, reason string)
}

// NopObserver ignores everything; it is the default.
type NopObserver struct{}

// PollDone implements Observer.
func (NopObserver) PollDone(string, string, time.Duration, error) {}

// Killed implements Observer.
func (NopObserver) Killed(string, string, Outcome, time.Duration) {}

// HistoryWritten implements Observer.
func (NopObserver) HistoryWritten(int) {}

// KillFailed implements Observer.
func (NopObserver) KillFailed(string, string, string) {}
