package killtask

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
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

// killQueue is a batch's victims, taken in order by its kill workers.
type killQueue struct {
	ctx      context.Context // the worker's: once done, no KILL of the batch starts
	items    []Process
	next     atomic.Int64
	deadline time.Time // no KILL of the batch starts after it
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

// drain kills a batch's victims through kill workers: each holds a kill
// slot and one pinned connection and takes victims one after another (as a
// bare program would: no hand-over between KILLs). It starts a worker per
// free slot while victims are left, and a new one whenever a stalled KILL
// gives its slot back (see killSlot). It returns once every victim has been
// taken, or when no slot came free before the batch's deadline; a worker
// that reaches the deadline with victims left asks for a new read at once.
func (n *node) drain(q *killQueue) {
	ctx, cancel := context.WithDeadline(q.ctx, q.deadline)
	defer cancel()
	for q.left() {
		select {
		case n.sem <- struct{}{}: // a free slot wins even when the deadline passed
		default:
			select {
			case n.sem <- struct{}{}:
			case <-ctx.Done():
				n.poke() // no slot came free in time: re-read at once, not an interval later
				return
			}
		}
		if !q.left() {
			<-n.sem
			return
		}
		n.e.kills.Go(func() { n.killWorker(q) })
	}
}

// killWorker is one kill worker of a batch; it holds a slot when it starts.
func (n *node) killWorker(q *killQueue) {
	var kc killConn
	defer kc.close()
	for {
		if time.Now().After(q.deadline) || q.ctx.Err() != nil {
			if q.left() {
				n.poke()
			}
			<-n.sem
			return
		}
		p, ok := q.take()
		if !ok {
			<-n.sem
			return
		}
		if !n.claim(p.ID) {
			continue // a KILL of this thread is in flight already
		}
		slot := n.hedge()
		n.killForTask(context.Background(), *p, q.server, q.sendBy, q.seen, &kc)
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
		<-s.n.sem
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

// killForTask kills one session for the oldest task that still matches it,
// unless every task that matched was cancelled or expired meanwhile.
func (n *node) killForTask(ctx context.Context, p Process, server string, sendBy, seen time.Time, kc *killConn) {
	e, inst := n.e, n.inst
	inst.gate.RLock()
	t := e.attribute(inst.cfg.ID, &p, e.now())
	if t == nil || !n.owns() {
		// Every matching task ended, or the node's lease is no longer safe
		// to use (this replica was paused past its deadline): not an attempt.
		inst.gate.RUnlock()
		return
	}
	mode := t.Mode.orDefault()
	if mode == KillQuery && n.queryKilledBefore(&p) {
		// A KILL QUERY of ours already ended this statement (it lingers
		// while it rolls back): not an attempt.
		inst.gate.RUnlock()
		return
	}
	stmt := killStatement(inst.cfg.KillMethod, mode, p.ID, p.QueryID)
	err := n.execKillOn(ctx, kc, stmt, p.ID, server, func() bool {
		return n.owns() && (sendBy.IsZero() || time.Now().Before(sendBy))
	})
	inst.gate.RUnlock()
	if errors.Is(err, errLeaseLost) {
		return // nothing was sent: not an attempt, as when owns() failed above
	}
	outcome, _ := classifyKill(err)
	if outcome == OutcomeKilled && mode == KillQuery {
		n.rememberQueryKill(&p)
	}
	reaction := time.Since(seen)
	e.obs.Killed(inst.cfg.ID, n.id, outcome, reaction)
	if outcome == OutcomeFailed {
		e.obs.KillFailed(inst.cfg.ID, n.id, killFailure(err))
	}
	record, msg := n.noteKill(p, outcome, err, true)
	if !record {
		return // the same session refused again: counted, not recorded again
	}
	rec := n.record(p, outcome, msg, SourceTask, t.ID)
	rec.KillMode, rec.Matched = mode, t.Filter.matchedJSON()
	e.hist.add(rec)
	n.logKill(SourceTask, t.ID, p, outcome, msg, reaction)
}

// Log field names of a kill line: fixed, so that log pipelines can rely on
// them.
const (
	lfInstance = "instance"
	lfNode     = "node"
	lfReplica  = "replica"
	lfSource   = "source"
	lfTask     = "task_id"
	lfThread   = "thread_id"
	lfUser     = "user"
	lfHost     = "host"
	lfDB       = "db"
	lfCommand  = "command"
	lfTime     = "time_s"
	lfState    = "state"
	lfInfo     = "info"
	lfOutcome  = "outcome"
	lfError    = "error"
	lfReaction = "reaction_s"
)

// maxLoggedInfo bounds the statement text in a kill line; the history keeps
// it whole.
const maxLoggedInfo = 256

// logKill writes the one line every kill attempt gets: info level, warn when
// the KILL failed.
func (n *node) logKill(source, taskID string, p Process, outcome Outcome, msg string, reaction time.Duration) {
	info := p.Info
	if len(info) > maxLoggedInfo {
		info = strings.ToValidUTF8(info[:maxLoggedInfo], "") + "…"
	}
	fields := []zap.Field{
		zap.String(lfInstance, n.inst.cfg.ID), zap.String(lfNode, n.id), zap.String(lfReplica, n.e.cfg.ReplicaID),
		zap.String(lfSource, source), zap.String(lfTask, taskID), zap.Uint64(lfThread, p.ID),
		zap.String(lfUser, p.User), zap.String(lfHost, p.Host), zap.String(lfDB, p.DB), zap.String(lfCommand, p.Command),
		zap.Int64(lfTime, p.Time), zap.String(lfState, p.State), zap.String(lfInfo, info),
		zap.String(lfOutcome, string(outcome)), zap.String(lfError, msg), zap.Float64(lfReaction, reaction.Seconds()),
	}
	if outcome == OutcomeFailed {
		n.e.log.Warn("kill", fields...)
		return
	}
	n.e.log.Info("kill", fields...)
}

// errOtherServer: the kill connection reached another server than the one
// the session was read on (a VIP or proxy moved after a failover): the id
// there belongs to someone else, so nothing is killed.
var errOtherServer = errors.New("killtask: kill connection reached another server than the processlist read; not killed")

// execKill runs stmt, the KILL of thread id (killStatement: KILL
// CONNECTION, KILL QUERY or the instance's rds procedure), on a connection
// of the node's kill pool, with its own timeout, after checking that the
// connection reached the server the session was read on (server identity,
// see ownconn.go). Ids are formatted from integers, never interpolated.
//
// guard, when set, is asked once more just before the statement is sent
// (after a possibly slow connection dial): a task kill passes the lease
// check, so a replica that lost its lease meanwhile sends nothing.
func (n *node) execKill(ctx context.Context, stmt string, id uint64, server string, guard func() bool) error {
	return n.execKillOn(ctx, nil, stmt, id, server, guard)
}

// killConn is a kill worker's pinned connection of the kill pool.
type killConn struct{ c *sql.Conn }

func (k *killConn) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// execKillOn is execKill on kc's connection (taken from the kill pool and
// kept there for the next KILL; nil: a connection for this KILL only).
func (n *node) execKillOn(ctx context.Context, kc *killConn, stmt string, id uint64, server string, guard func() bool) error {
	_, kdb, err := n.pools()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.e.cfg.KillTimeout)
	defer cancel()
	if h := n.e.opt.killDelay; h != nil { // tests: a KILL that stalls like MariaDB's on SLEEP()
		if d := h(id); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if kc == nil {
		kc = &killConn{}
		defer kc.close()
	}
	if kc.c == nil {
		c, err := kdb.Conn(ctx)
		if err != nil {
			return err
		}
		if got, _, err := connInfo(c); err != nil || got != server {
			// Drop this connection from the pool: it leads to the wrong server.
			discard(c)
			if err != nil {
				return err
			}
			return errOtherServer
		}
		kc.c = c
	}
	if guard != nil && !guard() {
		return errLeaseLost
	}
	// Bounded by the kill pool's I/O deadlines (kill_timeout, see pools).
	_, err = kc.c.ExecContext(context.WithoutCancel(ctx), stmt)
	var me *mysql.MySQLError
	if err != nil && !errors.As(err, &me) {
		// A timeout, a network error: this connection is done for.
		discard(kc.c)
		kc.c = nil
	}
	return err
}

// errLeaseLost: the node's lease lapsed, or the batch's confirm window
// closed, between the task check and the KILL; nothing was sent.
var errLeaseLost = errors.New("killtask: node lease lost or confirm window closed before the KILL; not killed")

// confirmWindow is how long after confirming its tasks in the shared store
// a batch may start KILLs, and how long CancelTasks waits before answering.
func confirmWindow(poll time.Duration) time.Duration { return min(poll, 250*time.Millisecond) }

// classifyKill maps a KILL error to an outcome: 1094 (unknown thread id)
// means the session had already ended, 1957 (unknown query id, from KILL
// QUERY ID) that the statement had.
func classifyKill(err error) (Outcome, string) {
	if err == nil {
		return OutcomeKilled, ""
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == 1094 || me.Number == 1957) {
		return OutcomeGone, ""
	}
	return OutcomeFailed, err.Error()
}

func (n *node) record(p Process, o Outcome, msg, source, taskID string) KillRecord {
	return KillRecord{
		Source: source, TaskID: taskID, InstanceID: n.inst.cfg.ID, NodeID: n.id, Product: n.inst.cfg.Product,
		ThreadID: p.ID, User: p.User, Host: p.Host, DB: p.DB, Command: p.Command, Time: p.Time,
		State: p.State, Info: p.Info, Outcome: o, Error: msg, KilledAt: n.e.now().UTC(),
	}
}

// excludedReason applies every safety exclusion to a row read from this node.
func (n *node) excludedReason(server string, p *Process) string {
	if IsOwnConnection(server, p.ID) {
		return ExclOwn
	}
	if r := Exclusion(p, n.inst.protected); r != "" {
		return r
	}
	if !n.e.inScope(p) {
		return ExclOutsideScope
	}
	return ""
}
