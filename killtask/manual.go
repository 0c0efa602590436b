package killtask

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Kills asked for by the API (a manual kill by thread id, an intelligent
// kill's chosen sessions), beside the tasks' kills made by the poller.

// Match says what a requested session must still be, at the read made just
// before its KILL, to be killed: thread ids are reused at any moment, and a
// session moves on to other statements.
type Match int

// Match rules, loosest first. Every rule also requires the id to be present
// in that read (an id not seen there is never killed) and every safety
// exclusion to pass.
const (
	// MatchID: the thread id is present, whoever it belongs to now.
	MatchID Match = iota + 1
	// MatchConnection: the same user and client host:port, whatever the
	// session runs now (a session picked from a listing).
	MatchConnection
	// MatchStatement: the same connection running the same statement text
	// (a session picked for what it was running).
	MatchStatement
)

// KillRequest asks the engine to kill sessions on one node.
type KillRequest struct {
	Instance string
	Node     string // "" = the instance's first node
	// Sessions are the sessions to kill, as the caller saw them; Match says
	// which of their fields must be unchanged (MatchID reads only ID).
	Sessions []Process
	Match    Match
	// Record writes every attempt to the kill history, under Source and
	// Ref. The observer and the log see every attempt either way.
	Record bool
	Source string // SourceManual when empty
	Ref    string // the history's task id (the id of the prepared kill or intelligent task)
}

// KillResult is the outcome for one requested session.
type KillResult struct {
	Process Process // the row as seen at re-check (or as requested when gone)
	Outcome Outcome
	Error   string
	Mode    KillMode // the KILL sent (always KillConnection); "" when none was
}

// Kill kills the requested sessions of a node. The node's processlist is
// read once, for every requested id, just before the KILLs; a session is
// killed only if that read shows it and it still passes req.Match, and
// never when it is protected, a system or replication thread, or one of
// killgate's own connections (those are OutcomeSkipped). Results come in
// request order. An error means nothing was killed (unknown instance or
// node, or the read failed).
func (e *Engine) Kill(ctx context.Context, req KillRequest) ([]KillResult, error) {
	if req.Match < MatchID || req.Match > MatchStatement {
		return nil, fmt.Errorf("killtask: kill request with match rule %d", req.Match)
	}
	n, err := e.node(req.Instance, req.Node)
	if err != nil {
		return nil, err
	}
	if len(req.Sessions) == 0 {
		return nil, nil
	}
	source := req.Source
	if source == "" {
		source = SourceManual
	}
	start := time.Now()
	res, err := n.killMany(ctx, req.Sessions, req.Match)
	if err != nil {
		return nil, err
	}
	recs := make([]KillRecord, 0, len(res))
	for _, r := range res {
		e.obs.Killed(n.inst.cfg.ID, n.id, r.Outcome, time.Since(start))
		rec := n.record(r.Process, r.Outcome, r.Error, source, req.Ref)
		rec.KillMode = r.Mode
		recs = append(recs, rec)
		n.logKill(source, req.Ref, r.Process, r.Outcome, r.Error, time.Since(start))
	}
	if req.Record {
		if err := e.store.AddKillRecords(context.WithoutCancel(ctx), recs); err != nil {
			e.log.Error("writing kill history failed", zap.Int("rows", len(recs)), zap.Error(err))
		} else {
			e.obs.HistoryWritten(len(recs))
		}
	}
	return res, nil
}

// still reports whether p, read just now, is still the session want under m.
func (m Match) still(want, p *Process) bool {
	switch m {
	case MatchConnection:
		return p.User == want.User && p.Host == want.Host
	case MatchStatement:
		return p.User == want.User && p.Host == want.Host && p.Info == want.Info
	}
	return true
}

// killMany re-reads the requested ids in one query, decides each one and
// runs the permitted KILLs concurrently over the node's kill slots.
func (n *node) killMany(ctx context.Context, want []Process, m Match) ([]KillResult, error) {
	c, server, err := n.conn(ctx)
	if err != nil {
		n.setHealth(err)
		return nil, errors.Join(ErrUnavailable, err)
	}
	ids := make([]uint64, len(want))
	for i := range want {
		ids[i] = want[i].ID
	}
	cur, err := n.readList(ctx, c, ids, nil)
	if err != nil {
		discard(c)
		n.setHealth(err)
		return nil, errors.Join(ErrUnavailable, err)
	}
	c.Close()
	byID := make(map[uint64]Process, len(cur))
	for _, p := range cur {
		byID[p.ID] = p
	}
	res := make([]KillResult, len(want))
	done := make(chan struct{}, len(want))
	pending := 0
	for i := range want {
		p, ok := byID[want[i].ID]
		switch {
		case !ok:
			// Not in the read just made: gone. Never KILL an id we have not
			// just seen: it could be reused at any moment.
			res[i] = KillResult{Process: want[i], Outcome: OutcomeGone}
			continue
		case !m.still(&want[i], &p):
			res[i] = KillResult{Process: p, Outcome: OutcomeChanged, Error: "thread id now belongs to another session or statement"}
			continue
		default:
			if why := n.excludedReason(server, &p); why != "" {
				res[i] = KillResult{Process: p, Outcome: OutcomeSkipped, Error: "not killed: " + why}
				continue
			}
		}
		select {
		case n.sem <- struct{}{}:
		case <-ctx.Done():
			res[i] = KillResult{Process: p, Outcome: OutcomeFailed, Error: ctx.Err().Error()}
			continue
		}
		if !n.claim(p.ID) {
			n.freeSlot()
			res[i] = KillResult{Process: p, Outcome: OutcomeSkipped, Error: "not killed here: a KILL for this thread is already in flight"}
			continue
		}
		pending++
		slot := n.hedge()
		go func() {
			defer func() {
				n.finish(slot, p.ID)
				done <- struct{}{}
			}()
			err := n.execKill(ctx, killStatement(n.inst.cfg.KillMethod, KillConnection, p.ID, 0), p.ID, server, nil)
			o, _ := classifyKill(err)
			_, msg := n.noteKill(p, o, err, false)
			if o == OutcomeFailed {
				n.e.obs.KillFailed(n.inst.cfg.ID, n.id, killFailure(err))
			}
			res[i] = KillResult{Process: p, Outcome: o, Error: msg, Mode: KillConnection}
		}()
	}
	for range pending {
		<-done
	}
	return res, nil
}

// preparedKillKeep is how long past its expiry a prepared kill is
// kept (for diagnosis) before SavePreparedKill deletes it.
const preparedKillKeep = time.Hour

// SavePreparedKill stores a prepared two-stage kill that TakePreparedKill
// can consume once within ttl: pk.CreatedAt and pk.ExpiresAt are set from
// the engine's clock. Prepared kills that expired more than
// preparedKillKeep ago are deleted on the way (best effort).
func (e *Engine) SavePreparedKill(ctx context.Context, pk *PreparedKill, ttl time.Duration) error {
	now := e.now()
	pk.CreatedAt, pk.ExpiresAt = now, now.Add(ttl)
	if err := e.store.SavePreparedKill(ctx, *pk); err != nil {
		return err
	}
	if err := e.store.PrunePreparedKills(ctx, now.Add(-preparedKillKeep)); err != nil && ctx.Err() == nil {
		e.log.Debug("pruning prepared kills failed", zap.Error(err))
	}
	return nil
}

// TakePreparedKill consumes a prepared kill of the instance exactly once
// (see Store.TakePreparedKill), judging its expiry by the engine's clock.
func (e *Engine) TakePreparedKill(ctx context.Context, id, instanceID string) (PreparedKill, error) {
	return e.store.TakePreparedKill(ctx, id, instanceID, e.now())
}
