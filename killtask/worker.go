package killtask

import (
	"context"
	"slices"
	"time"

	"go.uber.org/zap"
)

// run is the node's poller: while the instance has active tasks it reads the
// processlist once per interval (or at once when poked through trigger),
// matches every session against every task and hands confirmed victims to
// the killer. It returns when ctx is done, after the tick in progress.
func (n *node) run(ctx context.Context) {
	defer n.releasePollConn()
	interval := n.e.cfg.PollInterval
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.trigger:
		case <-timer.C:
		}
		began := time.Now()
		failures := n.tick(ctx)
		// Polls are timed start to start, so a slow read at 4,000 sessions
		// does not stretch the period. Back off while the node fails, by one
		// interval at most, so enforcement resumes within two intervals of
		// the node returning.
		delay := interval + time.Duration(min(failures, 1))*interval - time.Since(began)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(delay)
	}
}

func (n *node) releasePollConn() {
	if n.pollConn != nil {
		n.pollConn.Close()
		n.pollConn = nil
		n.pollConnID.Store(0)
	}
}

func (n *node) dropPollConn() {
	discard(n.pollConn)
	n.pollConn = nil
	n.pollConnID.Store(0)
}

// pollTimeout bounds one processlist read.
func (n *node) pollTimeout() time.Duration {
	return max(2*time.Second, 4*n.e.cfg.PollInterval)
}

// tick runs one poll and returns the number of consecutive failures.
func (n *node) tick(ctx context.Context) int {
	e := n.e
	tasks := e.activeFor(n.inst.cfg.ID, e.now())
	if len(tasks) == 0 {
		// Nothing to enforce: hold no connection while idle.
		n.releasePollConn()
		return 0
	}
	if !n.owns() {
		// Another replica holds the node's lease (scale-out): it enforces.
		n.releasePollConn()
		return 0
	}
	start := time.Now()
	ps, err := n.poll(ctx)
	if ctx.Err() != nil {
		return 0 // stopping
	}
	e.obs.PollDone(n.inst.cfg.ID, n.id, time.Since(start), err)
	changed, failures := n.setHealth(err)
	if err != nil {
		n.dropPollConn()
		if changed || failures%100 == 0 {
			e.log.Warn("processlist read failed", zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id),
				zap.String("addr", n.addr), zap.Int("failures", failures), zap.Error(err))
		}
		n.report(ctx, tasks)
		return failures
	}
	n.polls.Add(1)
	if changed {
		e.log.Info("processlist read recovered", zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id))
	}
	n.procBuf = ps
	if n.needGrants(start) {
		n.updateGrants(ctx, n.pollConn)
	}
	n.pruneDenied(ps)
	n.report(ctx, tasks)
	n.enrich(ctx, n.pollConn, ps, tasks) // transactions, lock waits, ended statements (enrich.go)

	own := own.view(n.server)
	denied := n.deniedSnapshot(start)
	skip := func(id uint64) bool {
		if _, ok := denied[id]; ok {
			return true // KILL refused before: back-off (see noteKill)
		}
		return own.Has(id) || n.isInflight(id)
	}
	cands := matchProcesses(ps, tasks, n.inst.protected, skip, e.opt.scope, n.candBuf[:0])
	n.candBuf = cands
	cands = n.dropObserved(cands) // recorded once per task (observe.go)
	if len(cands) == 0 {
		return 0
	}
	// Re-check just before killing: ids are reused, and a session may have
	// moved on since the read. One query for the whole batch.
	ids := make([]uint64, len(cands))
	for i := range cands {
		ids[i] = cands[i].p.ID
	}
	rctx, cancel := context.WithTimeout(ctx, n.pollTimeout())
	now, err := n.readList(rctx, n.pollConn, ids, nil)
	cancel()
	if err != nil {
		n.dropPollConn()
		e.log.Warn("re-check read failed", zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id), zap.Error(err))
		return 0
	}
	n.enrichRecheck(ctx, n.pollConn, now, tasks)
	byID := make(map[uint64]*Process, len(now))
	for i := range now {
		byID[now[i].ID] = &now[i]
	}
	if e.leases != nil {
		// Shared store: confirm the lease (fencing) and that the tasks are
		// still active there, so a task cancelled through another replica
		// before this point is never enforced by this batch.
		if !n.fence(ctx) {
			return 0
		}
		if tasks = e.confirmActive(ctx, n.inst, tasks); len(tasks) == 0 {
			return 0
		}
	}
	// Wait for kill slots until the next poll is due: prompt KILLs free
	// their slots in well under a millisecond and stalled ones give theirs
	// back after slowKill, so a burst drains at the pool's pace.
	deadline := start.Add(e.cfg.PollInterval)
	if e.leases != nil {
		// Kills of this batch may start only within confirmWindow of the
		// store confirming its tasks (CancelTasks waits as long), so a
		// cancel answered by another replica is never followed by a KILL
		// started here; what is left re-polls and re-confirms at once.
		deadline = time.Now().Add(confirmWindow(e.cfg.PollInterval))
	}
	kctx, kcancel := context.WithDeadline(ctx, deadline)
	defer kcancel()
	for i := range cands {
		c := &cands[i]
		p, ok := byID[c.p.ID]
		if !ok || p.User != c.p.User || p.Host != c.p.Host || p.Info != c.p.Info {
			continue // gone or changed: not an attempt; the next poll decides again
		}
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
		if !n.startKill(kctx, *p, n.server, start) {
			n.poke() // no slot came free in time: re-read at once, not an interval later
			break
		}
	}
	return 0
}

// poll reads the full processlist on the pinned poll connection.
func (n *node) poll(ctx context.Context) ([]Process, error) {
	ctx, cancel := context.WithTimeout(ctx, n.pollTimeout())
	defer cancel()
	if n.pollConn == nil {
		c, server, err := n.conn(ctx)
		if err != nil {
			return nil, err
		}
		_, id, _ := connInfo(c)
		n.pollConn, n.server = c, server
		n.pollConnID.Store(id)
	}
	return n.readList(ctx, n.pollConn, nil, n.procBuf)
}

// firstMatch returns the index of the oldest task (tasks are oldest first)
// that kills p, or -1.
func firstMatch(tasks []*Task, p *Process) int {
	for i, t := range tasks {
		if t.kills(p) {
			return i
		}
	}
	return -1
}

func (n *node) isInflight(id uint64) bool {
	n.inflightMu.Lock()
	defer n.inflightMu.Unlock()
	_, ok := n.inflight[id]
	return ok
}

// poke asks the poller for an immediate tick.
func (n *node) poke() {
	select {
	case n.trigger <- struct{}{}:
	default:
	}
}
