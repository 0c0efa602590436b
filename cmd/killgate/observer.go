package main

import (
	"time"

	"killgate/gateway"
	"killgate/killtask"
)

// engineObserver adapts the gateway's metrics, which take plain types (the
// gateway imports no killtask), to killtask.Observer.
type engineObserver struct{ *gateway.Metrics }

var _ killtask.Observer = engineObserver{}

// Killed implements killtask.Observer.
func (o engineObserver) Killed(instanceID, nodeID string, outcome killtask.Outcome, reaction time.Duration) {
	o.Metrics.Killed(instanceID, nodeID, string(outcome), reaction)
}
