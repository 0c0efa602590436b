package killtask

// Kill slots and kill workers: how many KILLs of a node run at once, how a
// batch's victims are spread over them, and the one-KILL-per-thread-id rule
// (claim). The KILL itself, its checks and its record are in killer.go.

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Kill slots. KillConcurrency KILLs run at once; a KILL still running after
// slowKill gives its slot back (it keeps running on its own connection, up to
// KillTimeout), so that MariaDB's ~2 s stalls on SLEEP() victims never hold
// up the prompt KILLs queued behind them. At most stalledFactor ×
// KillConcurrency KILLs are in flight in all.
const (
	slowKill      = 100 * time.Millisecond
	stalledFactor = 4
)

// killFresh bounds how long after the re-check read that confirmed a batch
// its KILLs may start. A session can move on at any moment (an idle pooled
// connection is picked up, a statement ends and the next begins); the
// re-check is only as good as it is recent. Victims left when it passes are
// read again at once (the poller is poked) and killed on the new reading.
const killFresh = 10 * time.Millisecond

// killQueue is a batch's victims, taken in order by its kill workers.
type killQueue struct {
	ctx      context.Context // the worker's: once done, no KILL of the batch starts
	items    []Process
	next     atomic.Int64
	handoff  bool // victims left at fresh are the caller's (drainInRounds): no poke
	mu       sync.Mutex
	retry    []Process // taken, but not sent: the reading went stale first (see killWorker)
	deadline time.Time // no KILL of the batch starts after it (how long the batch may wait for slots)
	fresh    time.Time // no KILL starts after it either: the re-check that confirmed the victims is older than killFresh
	sendBy   time.Time // shared store: the batch's confirm window (see killBatch); zero otherwise
	server   string
	seen     time.Time
}

// take hands out the next victim (false: none left).
func (q *killQueue) take() (*Process, bool) {
	i := q.next.Add(1) - 1
	if i >= int64(len(q.items)) {
		return nil, false
	}
	return &q.items[i], true
}

func (q *killQueue) left() bool { return q.next.Load() < int64(len(q.items)) }

// untaken returns the victims no worker has taken yet, and those taken but
// not sent because their reading went stale.
func (q *killQueue) untaken() []Process {
	i := min(q.next.Load(), int64(len(q.items)))
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.retry) == 0 {
		return q.items[i:]
	}
	return append(slices.Clone(q.items[i:]), q.retry...)
}

// requeue notes a victim taken but not sent (its reading went stale).
func (q *killQueue) requeue(p Process) {
	q.mu.Lock()
	q.retry = append(q.retry, p)
	q.mu.Unlock()
}

// sendLimit is the latest instant a KILL of the batch may be sent: the
// reading's freshness, and with leases the confirm window.
func (q *killQueue) sendLimit() time.Time {
	if !q.sendBy.IsZero() && q.sendBy.Before(q.fresh) {
		return q.sendBy
	}
	return q.fresh
}

// poke asks n's poller for a new read at once for victims the batch left,
// unless drainInRounds handles them.
func (q *killQueue) poke(n *node) {
	if !q.handoff {
		n.poke()
	}
}

// drain kills a batch's victims through kill workers: each holds a kill
// slot and one pinned connection and takes victims one after another (as a
// bare program would: no hand-over between KILLs). It starts a worker per
// free slot while victims are left, and a new one whenever a stalled KILL
// gives its slot back (see killSlot). It returns once every victim has been
// taken, or when its reading went stale or the batch's deadline passed
// before a slot came free: then it reports true (no slot), and the poller
// is woken when one comes free (freeSlot) rather than at once, so that
// KILLs stalled on the server never cause a storm of reads.
func (n *node) drain(q *killQueue) (noSlot bool) {
	limit := q.deadline
	if q.fresh.Before(limit) {
		limit = q.fresh
	}
	ctx, cancel := context.WithDeadline(q.ctx, limit)
	defer cancel()
	for q.left() {
		select {
		case n.sem <- struct{}{}: // a free slot wins even when the deadline passed
		default:
			select {
			case n.sem <- struct{}{}:
			case <-ctx.Done():
				if q.ctx.Err() == nil {
					n.wantSlot()
				}
				return true
			}
		}
		if !q.left() {
			n.freeSlot()
			return false
		}
		if time.Now().After(q.fresh) {
			// The slot came after the victims' reading went stale: read
			// again at once (a slot is free now) rather than kill on it.
			n.freeSlot()
			q.poke(n)
			return false
		}
		n.e.kills.Go(func() { n.killWorker(q) })
	}
	return false
}

// wantSlot asks freeSlot to wake the poller when a kill slot comes free;
// if one is free already, it wakes it now.
func (n *node) wantSlot() {
	n.slotWanted.Store(true)
	select {
	case n.sem <- struct{}{}:
		n.freeSlot()
	default:
	}
}

// freeSlot gives a kill slot back and, when a batch gave up waiting for
// one, wakes the poller for a new read.
func (n *node) freeSlot() {
	<-n.sem
	if n.slotWanted.CompareAndSwap(true, false) {
		n.poke()
	}
}

// killWorker is one kill worker of a batch; it holds a slot when it starts.
func (n *node) killWorker(q *killQueue) {
	var kc killConn
	defer kc.close()
	for {
		if now := time.Now(); now.After(q.deadline) || now.After(q.fresh) || q.ctx.Err() != nil {
			if q.left() {
				q.poke(n)
			}
			n.freeSlot()
			return
		}
		p, ok := q.take()
		if !ok {
			n.freeSlot()
			return
		}
		if !n.claim(p.ID) {
			continue // a KILL of this thread is in flight already
		}
		slot := n.hedge()
		if !n.killForTask(context.Background(), *p, q.server, q.sendLimit(), q.seen, &kc) {
			q.requeue(*p) // not sent: its reading went stale (or the lease is unsafe)
			q.poke(n)     // without rounds (leases), a new read takes it up
		}
		n.unclaim(p.ID)
		if !slot.keep() {
			return // the KILL stalled and its slot went to another worker
		}
	}
}

// claim marks a KILL of id in flight and reports true, or false when one
// already is: one KILL per thread id at a time, whoever asks (a task's
// kill, a manual or an intelligent one, a duplicate id in one request).
func (n *node) claim(id uint64) bool {
	n.inflightMu.Lock()
	defer n.inflightMu.Unlock()
	if _, busy := n.inflight[id]; busy {
		return false
	}
	n.inflight[id] = struct{}{}
	return true
}

// finish ends a claimed KILL: its slot and its in-flight mark go back.
func (n *node) finish(slot *killSlot, id uint64) {
	slot.done()
	n.unclaim(id)
}

// unclaim ends the in-flight mark of a KILL of id.
func (n *node) unclaim(id uint64) {
	n.inflightMu.Lock()
	delete(n.inflight, id)
	n.inflightMu.Unlock()
}

// killSlot is one acquired kill slot whose KILL is running.
type killSlot struct {
	n        *node
	mu       sync.Mutex
	released bool // the slot is back in the semaphore
	stalled  bool // counted in n.stalled
	timer    *time.Timer
}

// hedge arms the stall timer on a slot the caller has just acquired: after
// slowKill the slot goes back to the semaphore (unless too many KILLs are
// stalled already) while the KILL keeps running.
func (n *node) hedge() *killSlot {
	s := &killSlot{n: n}
	s.timer = time.AfterFunc(slowKill, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.released {
			return
		}
		if n.stalled.Add(1) > int64(stalledFactor-1)*int64(cap(n.sem)) {
			n.stalled.Add(-1)
			return
		}
		s.stalled = true
		s.release()
	})
	return s
}

func (s *killSlot) release() {
	if !s.released {
		s.released = true
		s.n.freeSlot()
	}
}

// done ends the KILL: the slot (if still held) and the stalled count go back.
func (s *killSlot) done() {
	s.timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalled {
		s.n.stalled.Add(-1)
		s.stalled = false
	}
	s.release()
}

// keep ends the KILL like done but, when the slot is still held (the KILL
// was prompt), keeps it for the caller's next KILL and reports true; false
// when the slot went back to the semaphore while the KILL stalled.
func (s *killSlot) keep() bool {
	s.timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalled {
		s.n.stalled.Add(-1)
		s.stalled = false
	}
	if s.released {
		return false
	}
	s.released = true // handed over to the caller's next slot, not to the semaphore
	return true
}
