package killtask

import (
	"context"
	"database/sql"
	"time"

	"go.uber.org/zap"
)

// run is the node's poller. While the instance has active tasks it reads
// the processlist every read interval (readEvery; at once when poked through
// trigger), matches every session against every task, hands confirmed
// victims to the killer, and keeps the instants at which the other matching
// sessions cross a task's Time (deadline.go), waking at each to kill on the
// dot. With no active task it holds no connection and arms no timer: it
// waits for a poke (a task created, a reload finding one). It returns when
// ctx is done, after the work in progress.
func (n *node) run(ctx context.Context) {
	defer n.releasePollConn()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	poked := true // the first pass looks for tasks loaded at start
	for {
		if !poked {
			wake := n.nextWake()
			var tc <-chan time.Time
			if !wake.IsZero() {
				// Timers fire up to a millisecond late (the poller's wait has
				// millisecond resolution): wake a little early for a Time
				// crossing and wait out the rest precisely (fireDue).
				if d := n.nextDue(); !d.IsZero() && !wake.Before(d) {
					wake = d.Add(-dueEarlyWake)
				}
				timer.Reset(time.Until(wake)) // Go ≥ 1.23: no stale tick survives Reset
				tc = timer.C
			}
			select {
			case <-ctx.Done():
				return
			case <-n.trigger:
				poked = true
			case <-tc:
			}
		}
		now := time.Now()
		due := poked || (!n.nextRead.IsZero() && !now.Before(n.nextRead)) || n.expiryDue(now)
		if due && !poked {
			// A Time crossing comes before this read would end: serve it
			// first (a read of thousands of sessions takes milliseconds),
			// and read right after it.
			if d := n.nextDue(); !d.IsZero() && d.Before(now.Add(n.readCost+time.Millisecond)) {
				n.nextRead, due = d.Add(dueEarlyWake), false
			}
		}
		if due {
			poked = false
			failures, every := n.tick(ctx)
			switch {
			case every == 0:
				n.nextRead = time.Time{} // idle: no task to enforce here
			default:
				// Reads are timed start to start, so a slow read at 4,000
				// sessions does not stretch the period. Back off while the
				// node fails, by one interval at most, so enforcement
				// resumes within two intervals of the node returning.
				n.nextRead = now.Add(every + time.Duration(min(failures, 1))*every)
			}
		}
		n.fireDue(ctx)
		if ctx.Err() != nil {
			return
		}
	}
}

// nextWake is the earliest of the next full read, the next due kill and the
// next expiry of one of the instance's active tasks (zero: none).
func (n *node) nextWake() time.Time {
	w := n.nextRead
	if d := n.nextDue(); !d.IsZero() && (w.IsZero() || d.Before(w)) {
		w = d
	}
	if x := n.nextExpiry; !x.IsZero() && (w.IsZero() || x.Before(w)) {
		w = x
	}
	return w
}

// expiryDue reports whether an active task of the instance expired since the
// last read (the read then drops it and goes idle when it was the last).
func (n *node) expiryDue(now time.Time) bool {
	return !n.nextExpiry.IsZero() && !now.Before(n.nextExpiry)
}

// readEvery is how often the node must be read for tasks: a task without a
// Time threshold (or with a filter read beside the processlist: open
// transactions, lock waits, whose course no read predicts) needs every
// poll_interval; one with Time T only needs each
// session seen once before it crosses T (the crossing itself is a due kill),
// so T/2 will do, never slower than max_read_interval, never faster than
// poll_interval.
func (n *node) readEvery(tasks []*Task) time.Duration {
	cfg := n.e.cfg
	every := cfg.MaxReadInterval
	for _, t := range tasks {
		if !t.Filter.paced() {
			return cfg.PollInterval
		}
		every = min(every, time.Duration(t.Filter.MinTime)*time.Second/2)
	}
	return max(every, cfg.PollInterval)
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

// tick runs one full read: it kills the sessions that match an active task
// now and plans the due kills of those that will. It returns the number of
// consecutive failures and the read interval the tasks need (0: no task to
// enforce on this node).
func (n *node) tick(ctx context.Context) (int, time.Duration) {
	e := n.e
	now := e.now()
	tasks := e.activeFor(n.inst.cfg.ID, now)
	if e.hasExpired(n.inst.cfg.ID, now) {
		e.requestReload() // a task expired: finish it in the store, drop it from the set
	}
	n.nextExpiry = nextExpiry(tasks, now, time.Now())
	if len(tasks) == 0 || !n.owns() {
		// Nothing to enforce (or another replica holds the node's lease and
		// enforces it): hold no connection, plan nothing.
		n.releasePollConn()
		n.clearDue()
		return 0, 0
	}
	every := n.readEvery(tasks)
	start := time.Now()
	ps, st, err := n.poll(ctx)
	if ctx.Err() != nil {
		return 0, every // stopping
	}
	e.obs.PollDone(n.inst.cfg.ID, n.id, time.Since(start), err)
	changed, failures := n.setHealth(err)
	if err != nil {
		n.dropPollConn()
		n.clearDue()
		if changed || failures%100 == 0 {
			e.log.Warn("processlist read failed", zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id),
				zap.String("addr", n.addr), zap.Int("failures", failures), zap.Error(err))
		}
		n.report(ctx, tasks)
		return failures, every
	}
	n.polls.Add(1)
	n.noteSelf(st.self)
	n.readCost = st.recv.Sub(st.sent)
	if changed {
		e.log.Info("processlist read recovered", zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id))
	}
	n.procBuf = ps
	if n.needGrants(start) {
		n.updateGrants(ctx, n.pollConn)
	}
	n.pruneDenied(ps)
	n.pruneDying()
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
	n.planDue(ps, st, tasks, skip)
	cands := matchProcesses(ps, tasks, n.inst.protected, skip, e.opt.scope, n.candBuf[:0])
	n.candBuf = cands
	cands = n.dropObserved(cands) // recorded once per task (observe.go)
	if len(cands) == 0 {
		return 0, every
	}
	if len(cands) > 1 {
		n.warmKillsAsync(len(cands)) // dial while a re-check reads
	}
	// The read's own rows are the reading the batch acts on while they are
	// fresh; otherwise (the transactions read after it took its time)
	// killBatch re-reads the candidates first.
	n.killBatch(ctx, tasks, cands, start, st.recv)
	return 0, every
}

// nextExpiry returns the monotonic instant at which the first of tasks
// expires (zero: none expires). now is the engine's clock, mono the
// monotonic clock at the same instant.
func nextExpiry(tasks []*Task, now, mono time.Time) time.Time {
	var first time.Time
	for _, t := range tasks {
		if t.ExpiresAt.IsZero() {
			continue
		}
		if at := mono.Add(t.ExpiresAt.Sub(now)); first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first
}

// poll reads the full processlist on the pinned poll connection, opening
// it first when needed (and timing the round trip to the server once).
func (n *node) poll(ctx context.Context) ([]Process, readStamp, error) {
	ctx, cancel := context.WithTimeout(ctx, n.pollTimeout())
	defer cancel()
	if n.pollConn == nil {
		c, server, err := n.conn(ctx)
		if err != nil {
			return nil, readStamp{}, err
		}
		_, id, _ := connInfo(c)
		n.pollConn, n.server = c, server
		n.pollConnID.Store(id)
		n.rtt = pingTime(ctx, c)
	}
	return n.readListAt(ctx, n.pollConn, nil, n.procBuf)
}

// pingTime is the shortest of three pings on c (0 if they fail).
func pingTime(ctx context.Context, c *sql.Conn) time.Duration {
	best := time.Duration(0)
	for range 3 {
		t := time.Now()
		if c.PingContext(ctx) != nil {
			return 0
		}
		if d := time.Since(t); best == 0 || d < best {
			best = d
		}
	}
	return best
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
	if _, ok := n.inflight[id]; ok {
		return true
	}
	at, ok := n.dying[id]
	return ok && time.Since(at) < dyingFor
}

// dyingFor is how long a session whose KILL CONNECTION succeeded counts as
// in flight: the server lists a killed thread for a moment after the KILL
// returns, and a read in that moment must not KILL it again (a second KILL
// finds it gone and writes a needless history row).
const dyingFor = 2 * time.Second

// markDying notes that a KILL CONNECTION of id succeeded.
func (n *node) markDying(id uint64) {
	n.inflightMu.Lock()
	defer n.inflightMu.Unlock()
	if n.dying == nil {
		n.dying = map[uint64]time.Time{}
	}
	n.dying[id] = time.Now()
}

// pruneDying forgets the sessions killed more than dyingFor ago.
func (n *node) pruneDying() {
	n.inflightMu.Lock()
	defer n.inflightMu.Unlock()
	for id, at := range n.dying {
		if time.Since(at) >= dyingFor {
			delete(n.dying, id)
		}
	}
}

// poke asks the poller for an immediate tick.
func (n *node) poke() {
	select {
	case n.trigger <- struct{}{}:
	default:
	}
}
