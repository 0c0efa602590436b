package killtask

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Kills on the dot. Most tasks carry a Time threshold ("busy for more than
// T s"). A full read already tells when each session that matches a task's
// other filters will cross it: its statement started Elapsed ago. So the
// poller does not wait for the next read to kill it: it keeps, per node, the
// instant each such session crosses (a dueKill) and, at that instant, reads
// just those sessions again (WHERE ID IN …) and kills the ones still in the
// same statement — through the same checks as any kill (exclusions, the
// oldest active task that matches, the cancel gate, leases, the in-flight
// set).
//
// Precision. On MariaDB the read carries TIME_MS and QUERY_ID: every row's
// TIME_MS is computed against one server instant, which the reading
// statement's own row gives (readStamp.self), so a statement's start is
// known to the network's one-way delay, and QUERY_ID tells a new statement
// on the same connection from the old one. Elsewhere (MySQL's
// information_schema or performance_schema processlist) only whole seconds
// of TIME exist: the crossing is placed at the latest instant the statement
// can have started (so never early), and the re-read must show TIME ≥ T
// before the kill; a kill then lands up to a second after the crossing.
//
// Never early: the start used is the latest the read allows; at the crossing
// the session is read again and killed only if it is the same statement (and,
// without QUERY_ID, if the server's own TIME shows the threshold reached); a
// session that ended, changed statement or stopped matching is dropped (the
// next full read sees it afresh).

// dueKill is a session that matches an active task but for its Time, and the
// instant it crosses that Time.
type dueKill struct {
	at      time.Time     // the crossing instant: startHi + the task's Time
	startHi time.Time     // the latest instant its statement can have started
	minTime int64         // the threshold crossed at `at`, seconds
	p       Process       // as read
	elapsed time.Duration // p.Elapsed at the read (for logs)
}

// dueKills is kept sorted by at.
type dueKills []dueKill

// Deadline tuning.
const (
	// dueCoalesce: sessions crossing within this of the moment a re-read is
	// sent are read in it too (the server computes the rows a little after
	// the send, by then they have crossed).
	dueCoalesce = 200 * time.Microsecond
	// dueEarlyWake: the poller's timer is set this much before a crossing
	// and the rest is waited out precisely (timer resolution is ~1 ms).
	dueEarlyWake = 1500 * time.Microsecond
)

// maxSeconds bounds a number of seconds turned into a time.Duration (which
// overflows past ~292 years): about a century.
const maxSeconds = 100 * 365 * 24 * 3600

// seconds is n seconds as a Duration, saturated at ±maxSeconds: a huge Time
// threshold must plan a crossing in the far future, never wrap into the
// past (a crossing always due makes a busy loop of re-reads).
func seconds(n int64) time.Duration {
	return time.Duration(max(-maxSeconds, min(n, maxSeconds))) * time.Second
}

// planDue rebuilds the node's due kills from a full read: every session not
// excluded that matches an active task with a Time threshold in all but Time
// gets the instant it crosses the nearest such threshold.
func (n *node) planDue(ps []Process, st readStamp, tasks []*Task, skip func(uint64) bool) {
	n.clearDue()
	timed := false
	for _, t := range tasks {
		timed = timed || t.Filter.MinTime > 0
	}
	if !timed {
		return
	}
	for i := range ps {
		p := &ps[i]
		if skip(p.ID) || Exclusion(p, n.inst.protected) != "" || !n.e.inScope(p) {
			continue
		}
		host, info := ClientHost(p.Host), strings.TrimLeft(p.Info, infoSpace)
		var best int64
		for _, t := range tasks {
			m := t.Filter.MinTime
			if !t.Filter.paced() || p.Time >= m || (best > 0 && m >= best) {
				continue // not a Time task, already crossed (a poll candidate), or a nearer one found
			}
			if t.modeAllows(p) && t.Filter.matchButTime(p, host, info) {
				best = m
			}
		}
		if best == 0 {
			continue
		}
		start := n.startHi(p, st)
		n.due = append(n.due, dueKill{at: start.Add(seconds(best)), startHi: start, minTime: best, p: *p, elapsed: p.Elapsed})
	}
	slices.SortFunc(n.due, func(a, b dueKill) int { return a.at.Compare(b.at) })
	n.duePlanned.Store(int64(len(n.due)))
	if len(n.due) > 0 {
		n.warmKillPool()
	}
}

// warmKillPool makes sure the kill pool holds an open connection, so that a
// KILL at a Time crossing does not first dial and identify one.
func (n *node) warmKillPool() {
	_, kdb, err := n.pools()
	if err != nil || kdb.Stats().Idle > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.pollTimeout())
	defer cancel()
	_ = kdb.PingContext(ctx)
}

// warmKillsAsync opens, in the background, kill connections up to want
// (at most kill_concurrency) while the poller re-checks a batch: a burst of
// KILLs then finds its connections dialled and identified.
func (n *node) warmKillsAsync(want int) {
	_, kdb, err := n.pools()
	if err != nil {
		return
	}
	want = min(want, n.e.cfg.KillConcurrency)
	for range want - kdb.Stats().Idle {
		n.e.kills.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), n.pollTimeout())
			defer cancel()
			if c, err := kdb.Conn(ctx); err == nil {
				c.Close()
			}
		})
	}
}

// clearDue drops every due kill.
func (n *node) clearDue() {
	n.due = n.due[:0]
	n.duePlanned.Store(0)
}

// startHi is the latest instant p's statement can have started, on the
// client's monotonic clock.
func (n *node) startHi(p *Process, st readStamp) time.Time {
	if st.self >= 0 && p.QueryID != 0 {
		// The rows were computed at (our statement's start on the server) +
		// st.self; our statement started at most one network trip after we
		// sent it.
		return st.sent.Add(n.rtt + st.self - p.Elapsed)
	}
	// Whole seconds: Elapsed ≥ TIME at some instant before recv.
	return st.recv.Add(-seconds(p.Time))
}

// nextDue returns when the poller must wake for the first due kill (its
// crossing), or zero. The re-read is sent at the crossing, so the server
// computes it after the crossing: a kill is never early.
func (n *node) nextDue() time.Time {
	if len(n.due) == 0 {
		return time.Time{}
	}
	return n.due[0].at.Add(-n.dueLead)
}

// noteSelf keeps the lead of the re-reads at crossings: a server computes a
// read's rows `self` after it starts the statement (MariaDB: opening the
// information_schema table takes most of a small read), so a re-read sent
// that much before a crossing still has its rows computed after it. The lead
// is 80 % of the smallest of the last reads' self, so it errs early rarely;
// when it does, the server's reading shows the threshold not yet reached and
// the session is read again (never killed early).
func (n *node) noteSelf(self time.Duration) {
	if self < 0 {
		return
	}
	n.selfs[n.selfN%len(n.selfs)] = self
	n.selfN++
	m := self
	for i := range min(n.selfN, len(n.selfs)) {
		m = min(m, n.selfs[i])
	}
	n.dueLead = min(m*8/10, 5*time.Millisecond)
}

// fireDue re-reads the sessions whose crossing has come (with those due
// within dueCoalesce of the first) and kills those still in the same
// statement whose crossing the server's own reading confirms. Sessions a
// hair short stay due; the others are dropped.
func (n *node) fireDue(ctx context.Context) {
	if len(n.due) == 0 {
		return
	}
	if wait := time.Until(n.nextDue()); wait > dueEarlyWake {
		return
	} else if wait > 0 {
		// Woken dueEarlyWake ahead (run): yield until the crossing, so
		// that the re-read leaves within microseconds of it.
		for time.Now().Before(n.nextDue()) {
			runtime.Gosched()
		}
	}
	e := n.e
	if n.pollConn == nil || !n.owns() {
		n.clearDue()
		return
	}
	tasks := e.activeFor(n.inst.cfg.ID, e.now())
	if len(tasks) == 0 {
		n.clearDue()
		return
	}
	limit := time.Now().Add(n.dueLead + dueCoalesce)
	k := 0
	for k < len(n.due) && !n.due[k].at.After(limit) {
		k++
	}
	batch := slices.Clone(n.due[:k])
	n.due = slices.Delete(n.due, 0, k)
	ids := make([]uint64, len(batch), len(batch)+1)
	for i := range batch {
		ids[i] = batch[i].p.ID
	}
	ids = append(ids, n.pollConnID.Load())       // our own row gives the read's self (noteSelf)
	x := n.recheckExtras(ctx, n.pollConn, tasks) // before the re-read: it is the last reading
	rctx, cancel := context.WithTimeout(ctx, n.pollTimeout())
	n.dueReads.Add(1)
	fresh, st, err := n.readListAt(rctx, n.pollConn, ids, nil)
	cancel()
	checked := time.Now()
	if err != nil {
		n.dropPollConn()
		n.clearDue()
		if ctx.Err() == nil {
			e.log.Warn("re-read at a Time crossing failed", zap.String("instance", n.inst.cfg.ID), zap.String("node", n.id), zap.Error(err))
		}
		return
	}
	n.noteSelf(st.self)
	byID := make(map[uint64]*Process, len(fresh))
	for i := range fresh {
		byID[fresh[i].ID] = &fresh[i]
	}
	var crossed []Process
	var again []dueKill
	for _, d := range batch {
		p, ok := byID[d.p.ID]
		if !ok || !sameStatement(&d.p, p) {
			continue // ended or moved on: the next full read sees it afresh
		}
		// The server's own reading must show the threshold reached: with
		// TIME_MS (Time is its whole seconds), at the instant the rows
		// were computed; else its whole seconds of TIME. A hair short
		// (clock error): read again at the crossing this read implies.
		if p.Time < d.minTime {
			start := n.startHi(p, st)
			d.at, d.startHi = start.Add(seconds(d.minTime)), start
			again = append(again, d)
			continue
		}
		crossed = append(crossed, *p)
	}
	for _, d := range again {
		i, _ := slices.BinarySearchFunc(n.due, d.at, func(x dueKill, t time.Time) int { return x.at.Compare(t) })
		n.due = slices.Insert(n.due, i, d)
	}
	if len(crossed) == 0 {
		return
	}
	// The re-read rows are the re-check: match them as a poll would (kill
	// and observe-only tasks alike) and act.
	x.apply(n, crossed)
	own := own.view(n.server)
	skip := func(id uint64) bool { return own.Has(id) || n.isInflight(id) }
	cands := n.dropObserved(matchProcesses(crossed, tasks, n.inst.protected, skip, e.opt.scope, nil))
	n.killBatch(ctx, tasks, cands, batch[0].at, checked)
}

// sameStatement reports whether cur, read at a crossing, is still the
// statement tracked as was: same connection (user, client host:port), same
// command and statement text, and — where the server names statements — the
// same QUERY_ID, so a new run of the same text is not the old one.
func sameStatement(was, cur *Process) bool {
	return cur.User == was.User && cur.Host == was.Host && cur.Command == was.Command && cur.Info == was.Info &&
		cur.QueryID == was.QueryID
}
