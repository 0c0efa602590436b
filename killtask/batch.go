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

// killBatch acts on confirmed candidates (their rows just re-read): an
// observe-only task records, any other kills the session for the oldest
// active task that still matches it, through the kill slots. Exclusions and
// the match are applied once more on the fresh rows; with leases the lease
// and the tasks are confirmed in the store first. seen is when the sessions
// were seen to match (the read's start, or the Time crossing) for the
// reaction metric; checked is when the re-check read answered (no KILL of
// the batch starts more than killFresh after it).
func (n *node) killBatch(ctx context.Context, tasks []*Task, cands []candidate, seen, checked time.Time) {
	e := n.e
	if len(cands) == 0 {
		return
	}
	own := own.view(n.server)
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
	}
	// Kill slots are waited for until the next read is due: prompt KILLs
	// free their slots in well under a millisecond and stalled ones give
	// theirs back after slowKill, so a burst drains at the pool's pace.
	// The re-check bounds the batch's KILLs (killFresh). When the steps
	// between the re-check and here took most of that (a slow lease
	// confirm), the batch still gets half of it, so that it makes progress.
	now := time.Now()
	q := &killQueue{ctx: ctx, server: n.server, seen: seen, deadline: now.Add(e.cfg.PollInterval),
		fresh: later(checked.Add(killFresh), now.Add(killFresh/2))}
	if e.leases != nil {
		// Kills of this batch may start only within confirmWindow of the
		// store confirming its tasks (CancelTasks waits as long), so a
		// cancel answered by another replica is never followed by a KILL
		// started here; what is left re-polls and re-confirms at once.
		q.deadline = time.Now().Add(confirmWindow(e.cfg.PollInterval))
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

// drainInRounds drains q and, while its victims outlast their re-check's
// freshness (killFresh), re-checks the ones not taken yet *during* the
// round's KILLs — the re-read starts as long before the round ends as a
// re-check takes — so that the next round kills them on a fresh reading
// without a pause. Rounds end when every victim is taken, when a round took
// none (every slot held by stalled KILLs: the poller is poked), or at the
// batch's deadline. Runs on the poller's goroutine (it uses the poll
// connection).
func (n *node) drainInRounds(ctx context.Context, tasks []*Task, q *killQueue) {
	e := n.e
	for {
		q.handoff = true
		done := make(chan struct{})
		go func() { n.drain(q); close(done) }()
		start := q.next.Load()
		lead := n.recheckCost + n.recheckCost/4 + time.Millisecond
		wait := time.NewTimer(time.Until(q.fresh.Add(-lead)))
		select {
		case <-done:
			wait.Stop()
			if q.left() {
				n.poke() // no slot came free before the deadline
			}
			return
		case <-wait.C:
		}
		pending := q.untaken()
		if len(pending) == 0 {
			<-done
			return
		}
		ids := make([]uint64, len(pending))
		for i := range pending {
			ids[i] = pending[i].ID
		}
		rctx, cancel := context.WithTimeout(ctx, n.pollTimeout())
		rstart := time.Now()
		fresh, err := n.readList(rctx, n.pollConn, ids, nil)
		cancel()
		checked := time.Now()
		n.recheckCost = checked.Sub(rstart)
		<-done
		left := q.untaken()
		switch {
		case len(left) == 0:
			return
		case err != nil:
			n.dropPollConn()
			if ctx.Err() == nil {
				e.log.Warn("re-check read failed", zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id), zap.Error(err))
			}
			return
		case q.next.Load() == start, ctx.Err() != nil, time.Now().After(q.deadline):
			n.poke() // no progress (slots held by stalled KILLs), stopping, or out of time: a new read decides
			return
		}
		n.enrichRecheck(ctx, n.pollConn, fresh, tasks)
		byID := make(map[uint64]*Process, len(fresh))
		for i := range fresh {
			byID[fresh[i].ID] = &fresh[i]
		}
		own := own.view(n.server)
		next := &killQueue{ctx: q.ctx, server: q.server, seen: q.seen, deadline: q.deadline, fresh: checked.Add(killFresh)}
		for i := range left {
			was := &left[i]
			p, ok := byID[was.ID]
			if !ok || p.User != was.User || p.Host != was.Host || p.Info != was.Info {
				continue // gone or changed: not an attempt
			}
			if own.Has(p.ID) || Exclusion(p, n.inst.protected) != "" || !e.inScope(p) || firstMatch(tasks, p) < 0 {
				continue
			}
			next.items = append(next.items, *p)
		}
		if len(next.items) == 0 {
			return
		}
		q = next
	}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
