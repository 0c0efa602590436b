package killtask

// A batch of kills: from the candidates a read confirmed to their KILLs,
// through the kill slots (killslots.go), in rounds that never act on a
// reading older than killFresh.

import (
	"context"
	"slices"
	"time"

	"go.uber.org/zap"
)

// killBatch acts on candidates: it re-reads them first unless their reading
// (checked: when the read that gave them answered) is fresh; then an
// observe-only task records, any other kills the session for the oldest
// active task that still matches it, through the kill slots. Exclusions and
// the match are applied once more on the fresh rows; with leases the lease
// and the tasks are confirmed in the store first. seen is when the sessions
// were seen to match (the read's start, or the Time crossing) for the
// reaction metric. No KILL of the batch starts more than killFresh after
// the reading it acts on.
func (n *node) killBatch(ctx context.Context, tasks []*Task, cands []candidate, seen, checked time.Time) {
	e := n.e
	if len(cands) == 0 {
		return
	}
	own := own.view(n.server)
	var confirmedAt time.Time
	if e.leases != nil {
		// Shared store: confirm the lease (fencing) and that the tasks are
		// still active there, so a task cancelled through another replica
		// before this point is never enforced by this batch.
		if !n.fence(ctx) {
			return
		}
		if tasks = e.confirmActive(ctx, n.inst, tasks); len(tasks) == 0 {
			return
		}
		confirmedAt = time.Now()
	}
	if time.Now().After(checked.Add(killFresh / 2)) {
		// Re-check just before killing: ids are reused, and a session may
		// have moved on since the reading (a poll read followed by the
		// transactions read, a lease confirm). One query for the batch.
		var err error
		if cands, checked, err = n.recheck(ctx, tasks, cands); err != nil {
			return
		}
	}
	// Kill slots are waited for at most until the reading goes stale
	// (killFresh after it), and never past the next read's due time.
	q := &killQueue{ctx: ctx, server: n.server, seen: seen, deadline: time.Now().Add(e.cfg.PollInterval), fresh: checked.Add(killFresh)}
	if e.leases != nil {
		// Kills of this batch may start only within confirmWindow of the
		// store confirming its tasks (CancelTasks waits as long), so a
		// cancel answered by another replica is never followed by a KILL
		// started here; what is left re-polls and re-confirms at once.
		q.deadline = confirmedAt.Add(confirmWindow(e.cfg.PollInterval))
		q.sendBy = q.deadline
	}
	for i := range cands {
		c := &cands[i]
		p := &c.p
		if own.Has(p.ID) || Exclusion(p, n.inst.protected) != "" || !e.inScope(p) {
			continue
		}
		if t := c.t; t.Observe {
			if slices.Contains(tasks, t) && t.Matches(p) {
				n.observe(t, *p) // records, never kills (observe.go)
			}
			continue
		}
		if firstMatch(tasks, p) < 0 {
			continue
		}
		q.items = append(q.items, *p)
	}
	if e.leases != nil {
		n.drain(q) // within the confirm window; what is left re-polls and re-confirms
		return
	}
	n.drainInRounds(ctx, tasks, q)
}

// reread reads the sessions ids again on the poll connection — after the
// extras the tasks need, so that the processlist re-read is the last
// reading — and returns them by id with when the re-read answered.
func (n *node) reread(ctx context.Context, tasks []*Task, ids []uint64) (map[uint64]*Process, time.Time, error) {
	x := n.recheckExtras(ctx, n.pollConn, tasks)
	rctx, cancel := context.WithTimeout(ctx, n.pollTimeout())
	rstart := time.Now()
	fresh, err := n.readList(rctx, n.pollConn, ids, nil)
	cancel()
	checked := time.Now()
	n.recheckCost = checked.Sub(rstart)
	if err != nil {
		n.dropPollConn()
		if ctx.Err() == nil {
			n.e.log.Warn("re-check read failed", zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id), zap.Error(err))
		}
		return nil, checked, err
	}
	x.apply(n, fresh)
	byID := make(map[uint64]*Process, len(fresh))
	for i := range fresh {
		byID[fresh[i].ID] = &fresh[i]
	}
	return byID, checked, nil
}

// recheck re-reads the candidates by id (see reread) and returns those
// still the same session — user, client host, statement — on the fresh
// rows, with when the re-read answered. A session that changed or left is
// not an attempt: the next read decides again.
func (n *node) recheck(ctx context.Context, tasks []*Task, cands []candidate) ([]candidate, time.Time, error) {
	ids := make([]uint64, len(cands))
	for i := range cands {
		ids[i] = cands[i].p.ID
	}
	byID, checked, err := n.reread(ctx, tasks, ids)
	if err != nil {
		return nil, checked, err
	}
	out := make([]candidate, 0, len(cands))
	for i := range cands {
		c := &cands[i]
		if p, ok := byID[c.p.ID]; ok && p.User == c.p.User && p.Host == c.p.Host && p.Info == c.p.Info {
			out = append(out, candidate{p: *p, task: c.task, t: c.t})
		}
	}
	return out, checked, nil
}

// reconfirm is recheck for a round's victims: those still the same session
// that still pass every exclusion and match an active task.
func (n *node) reconfirm(ctx context.Context, tasks []*Task, items []Process) ([]Process, time.Time, error) {
	e := n.e
	cands := make([]candidate, len(items))
	for i := range items {
		cands[i].p = items[i]
	}
	cands, checked, err := n.recheck(ctx, tasks, cands)
	if err != nil {
		return nil, checked, err
	}
	own := own.view(n.server)
	out := make([]Process, 0, len(cands))
	for i := range cands {
		p := &cands[i].p
		if own.Has(p.ID) || Exclusion(p, n.inst.protected) != "" || !e.inScope(p) || firstMatch(tasks, p) < 0 {
			continue
		}
		out = append(out, *p)
	}
	return out, checked, nil
}

// drainInRounds drains q and, while its victims outlast their reading's
// freshness (killFresh), re-reads the ones not taken yet *during* the
// round's KILLs — the re-read starts as long before the round ends as a
// re-check takes — so that the next round kills them on a fresh reading
// without a pause. Rounds end when every victim is taken, when a round could
// get no kill slot (every slot held by stalled KILLs: the poller is woken
// when one comes free, see freeSlot), when it made no progress, or at the
// batch's deadline. Runs on the poller's goroutine (it uses the poll
// connection).
func (n *node) drainInRounds(ctx context.Context, tasks []*Task, q *killQueue) {
	for {
		q.handoff = true
		done := make(chan bool, 1)
		go func() { done <- n.drain(q) }()
		start := q.next.Load()
		lead := n.recheckCost + n.recheckCost/4 + time.Millisecond
		wait := time.NewTimer(time.Until(q.fresh.Add(-lead)))
		var noSlot bool
		select {
		case noSlot = <-done:
			wait.Stop()
			if q.left() && !noSlot {
				n.poke()
			}
			return
		case <-wait.C:
		}
		pending := q.untaken()
		if len(pending) == 0 {
			<-done
			return
		}
		items, checked, err := n.reconfirm(ctx, tasks, pending)
		noSlot = <-done
		left := q.untaken()
		switch {
		case len(left) == 0, err != nil:
			return
		case noSlot:
			return // a freed slot wakes the poller (freeSlot)
		case q.next.Load() == start, ctx.Err() != nil, time.Now().After(q.deadline):
			n.poke() // no progress, stopping, or out of time: a new read decides
			return
		}
		// Victims taken while the re-read ran are not in the next round.
		stillLeft := make(map[uint64]bool, len(left))
		for i := range left {
			stillLeft[left[i].ID] = true
		}
		next := &killQueue{ctx: q.ctx, server: q.server, seen: q.seen, deadline: q.deadline, fresh: checked.Add(killFresh)}
		for _, p := range items {
			if stillLeft[p.ID] {
				next.items = append(next.items, p)
			}
		}
		if len(next.items) == 0 {
			return
		}
		q = next
	}
}
