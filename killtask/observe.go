package killtask

import (
	"slices"
	"time"
)

// Observe-only tasks (a dry run): such a task matches like the task it
// tries out, through the same re-check, and records each session it would
// kill in the history (OutcomeObserved, with its filter) instead of sending
// a KILL. It never takes a session from a task that kills (matchProcesses,
// Engine.attribute). Each session is recorded once per task: once per
// connection for a CONNECTION task (which would have ended it), once per
// statement for a QUERY task. The memory of what was recorded lives in the
// node, so a restart, or another replica taking the node over, may record a
// session again.

// observe records p for the observe-only task t, unless it was recorded
// already.
func (n *node) observe(t *Task, p Process) {
	if !slices.ContainsFunc(n.e.activeFor(n.inst.cfg.ID, n.e.now()), func(a *Task) bool { return a.ID == t.ID }) {
		return // cancelled or expired since the poll
	}
	key := observeKey(t, &p)
	n.omu.Lock()
	m := n.observed[t.ID]
	if m == nil {
		m = map[uint64]stmtKey{}
		n.observed[t.ID] = m
	}
	if k, ok := m[p.ID]; ok && k.same(key) {
		n.omu.Unlock()
		return
	}
	m[p.ID] = key
	n.omu.Unlock()
	rec := n.record(p, OutcomeObserved, "", SourceTask, t.ID)
	rec.KillMode, rec.Matched = t.Mode.orDefault(), t.Filter.matchedJSON()
	n.e.hist.add(rec)
	n.logKill(SourceTask, t.ID, p, OutcomeObserved, "", 0)
}

func observeKey(t *Task, p *Process) stmtKey {
	if t.Mode == KillQuery {
		return stmtKeyOf(p, time.Now())
	}
	return connKey(p)
}

// dropObserved removes from cands the observe-only candidates that were
// recorded already, so that they cost no re-check read.
func (n *node) dropObserved(cands []candidate) []candidate {
	n.omu.Lock()
	defer n.omu.Unlock()
	if len(n.observed) == 0 {
		return cands
	}
	out := cands[:0]
	for _, c := range cands {
		if t := c.t; t.Observe {
			if k, ok := n.observed[t.ID][c.p.ID]; ok && k.same(observeKey(t, &c.p)) {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// pruneObserved forgets, after a full read, the sessions that left and the
// tasks that are no longer active.
func (n *node) pruneObserved(ps []Process, tasks []*Task) {
	n.omu.Lock()
	defer n.omu.Unlock()
	if len(n.observed) == 0 {
		return
	}
	active := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		active[t.ID] = true
	}
	var present map[uint64]bool
	for id, m := range n.observed {
		if !active[id] {
			delete(n.observed, id)
			continue
		}
		if present == nil {
			present = make(map[uint64]bool, len(ps))
			for i := range ps {
				present[ps[i].ID] = true
			}
		}
		for tid := range m {
			if !present[tid] {
				delete(m, tid)
			}
		}
	}
}
