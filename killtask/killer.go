package killtask

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
)

// killForTask kills one session for the oldest task that still matches it,
// unless every task that matched was cancelled or expired meanwhile.
func (n *node) killForTask(ctx context.Context, p Process, server string, sendBy, seen time.Time, kc *killConn) (sent bool) {
	e, inst := n.e, n.inst
	inst.gate.RLock()
	t := e.attribute(inst.cfg.ID, &p, e.now())
	if t == nil || !n.owns() {
		// Every matching task ended, or the node's lease is no longer safe
		// to use (this replica was paused past its deadline): not an attempt.
		inst.gate.RUnlock()
		return true
	}
	mode := t.Mode.orDefault()
	if mode == KillQuery && n.queryKilledBefore(&p) {
		// A KILL QUERY of ours already ended this statement (it lingers
		// while it rolls back): not an attempt.
		inst.gate.RUnlock()
		return true
	}
	stmt := killStatement(inst.cfg.KillMethod, mode, p.ID, p.QueryID)
	err := n.execKillOn(ctx, kc, stmt, p.ID, server, func() bool {
		return n.owns() && (sendBy.IsZero() || time.Now().Before(sendBy))
	})
	inst.gate.RUnlock()
	if errors.Is(err, errLeaseLost) {
		return false // nothing was sent (the reading went stale first, or the lease): not an attempt
	}
	outcome, _ := classifyKill(err)
	switch {
	case outcome == OutcomeKilled && mode == KillQuery:
		n.rememberQueryKill(&p)
	case outcome == OutcomeKilled:
		n.markDying(p.ID)
	}
	reaction := time.Since(seen)
	e.obs.Killed(inst.cfg.ID, n.id, outcome, reaction)
	if outcome == OutcomeFailed {
		e.obs.KillFailed(inst.cfg.ID, n.id, killFailure(err))
	}
	record, msg := n.noteKill(p, outcome, err, true)
	if !record {
		return true // the same session refused again: counted, not recorded again
	}
	rec := n.record(p, outcome, msg, SourceTask, t.ID)
	rec.KillMode, rec.Matched = mode, t.Filter.matchedJSON()
	e.hist.add(rec)
	n.logKill(SourceTask, t.ID, p, outcome, msg, reaction)
	return true
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
	if h := n.e.opt.killDelay; h != nil { // tests: a KILL that stalls on the server like MariaDB's on SLEEP()
		if d := h(id); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
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
var errLeaseLost = errors.New("killtask: node lease lost, confirm window closed or reading stale before the KILL; not killed")

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
