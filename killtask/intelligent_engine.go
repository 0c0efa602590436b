package killtask

import (
	"context"
	"time"
)

// The engine's side of intelligent kill: the sessions it may consider, the
// groups it would pick, and the stored tasks (the kills themselves go
// through Kill with MatchStatement).

// IntelligentSessions reads a node's processlist and returns the sessions an
// intelligent kill may consider: running a statement (IntelligentEligible),
// and not excluded by the engine's safety rules (killgate's own connections,
// system and replication threads, sessions being killed, protected users).
// nodeID "" is the instance's first node.
func (e *Engine) IntelligentSessions(ctx context.Context, instanceID, nodeID string) ([]Process, error) {
	n, err := e.node(instanceID, nodeID)
	if err != nil {
		return nil, err
	}
	ps, server, err := n.readForAPI(ctx)
	if err != nil {
		return nil, err
	}
	out := ps[:0]
	for i := range ps {
		p := &ps[i]
		if IntelligentEligible(p) && n.excludedReason(server, p) == "" {
			out = append(out, *p)
		}
	}
	return out, nil
}

// IntelligentCandidates reads the node and returns the groups an intelligent
// kill would pick now (GroupSessions + PickGroups over IntelligentSessions).
func (e *Engine) IntelligentCandidates(ctx context.Context, instanceID, nodeID string) ([]SessionGroup, error) {
	ps, err := e.IntelligentSessions(ctx, instanceID, nodeID)
	if err != nil {
		return nil, err
	}
	return PickGroups(GroupSessions(ps)), nil
}

// SaveIntelligentTask stores a new intelligent task before its kills (see
// Store.PutIntelligentTask); a zero t.CreatedAt is set from the engine's
// clock (UTC, millisecond precision).
func (e *Engine) SaveIntelligentTask(ctx context.Context, t *IntelligentTask) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = e.now().UTC().Truncate(time.Millisecond)
	}
	return e.store.PutIntelligentTask(ctx, *t)
}

// FinishIntelligentTask records a task's summary and its end, now by the
// engine's clock.
func (e *Engine) FinishIntelligentTask(ctx context.Context, id string, sum IntelligentSummary) error {
	return e.store.FinishIntelligentTask(ctx, id, e.now().UTC(), sum)
}

// GetIntelligentTask returns one intelligent task (ErrNotFound if absent).
func (e *Engine) GetIntelligentTask(ctx context.Context, id string) (IntelligentTask, error) {
	return e.store.GetIntelligentTask(ctx, id)
}

// ListIntelligentTasks returns a page of intelligent tasks, newest first,
// and the total that match.
func (e *Engine) ListIntelligentTasks(ctx context.Context, q IntelligentQuery) ([]IntelligentTask, int64, error) {
	return e.store.ListIntelligentTasks(ctx, q)
}

// IntelligentRecords returns the kill history rows of an intelligent task in
// the order they were written.
func (e *Engine) IntelligentRecords(ctx context.Context, taskID string) ([]KillRecord, error) {
	return e.store.IntelligentRecords(ctx, taskID)
}
